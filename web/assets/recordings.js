// streamgate player page: the "Recordings" section. It lists the recorded
// spans of the page's path (GET /api/v1/recordings/{path}) and plays one
// as an HLS VOD playlist with hls.js (recordings/index.m3u8?start=…&end=…
// next to the page), or offers it as an MP4 download. The section stays
// hidden when the path has no recordings.
(function () {
  'use strict';

  var section = document.getElementById('recordings');
  if (!section) return;
  var list = document.getElementById('recording-list');
  var video = document.getElementById('recording-video');
  var statusEl = document.getElementById('recording-status');

  var token = new URLSearchParams(window.location.search).get('token');
  function withToken(url) {
    if (!token) return url;
    var u = new URL(url, window.location.href);
    if (!u.searchParams.has('token')) u.searchParams.set('token', token);
    return u.href;
  }
  function status(text) {
    if (statusEl) statusEl.textContent = text;
  }

  // Exposed for tests and diagnostics: the spans listed and the hls.js
  // instance playing one.
  var debug = window.streamgateRecordings = { spans: [], hls: null };

  function range(span) {
    return '?start=' + encodeURIComponent(span.start) + '&end=' + encodeURIComponent(span.end);
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleString();
  }

  function length(seconds) {
    var s = Math.round(seconds);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    return (h ? h + ' h ' : '') + (h || m ? m + ' min ' : '') + (s % 60) + ' s';
  }

  function play(span) {
    var src = withToken('recordings/index.m3u8' + range(span));
    video.hidden = false;
    if (debug.hls) debug.hls.destroy();
    debug.hls = null;
    status('loading the recording from ' + when(span.start) + '…');
    if (window.Hls && window.Hls.isSupported()) {
      var config = {};
      if (token) {
        config.xhrSetup = function (xhr, url) { xhr.open('GET', withToken(url), true); };
        config.fetchSetup = function (context, init) { return new Request(withToken(context.url), init); };
      }
      var hls = debug.hls = new window.Hls(config);
      hls.on(window.Hls.Events.ERROR, function (event, data) {
        if (data.fatal) status('cannot play the recording (' + data.details + ')');
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
    } else {
      status('This browser cannot play HLS.');
      return;
    }
    var p = video.play();
    if (p && p.catch) p.catch(function () { status('press play to start'); });
  }

  video.addEventListener('playing', function () { status('playing a recording'); });
  video.addEventListener('ended', function () { status('end of the recording'); });

  function render(spans) {
    debug.spans = spans;
    list.textContent = '';
    spans.forEach(function (span) {
      var li = document.createElement('li');
      var label = document.createElement('span');
      label.textContent = when(span.start) + ' – ' + when(span.end) + ' (' + length(span.duration) + ')';
      var button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Play';
      button.addEventListener('click', function () { play(span); });
      var link = document.createElement('a');
      link.href = withToken('recordings/download.mp4' + range(span));
      link.textContent = 'MP4';
      link.setAttribute('download', '');
      li.appendChild(label);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(button);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(link);
      list.appendChild(li);
    });
    section.hidden = spans.length === 0;
  }

  function load() {
    fetch(withToken(section.getAttribute('data-api')), { headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (res.status === 404) return { items: [] };
        if (!res.ok) throw new Error(res.status);
        return res.json();
      })
      .then(function (body) { render(body.items || []); })
      .catch(function () {});
  }

  load();
  // New recordings appear as they are written.
  setInterval(load, 30000);
})();
