// streamgate player page: plays the path this page belongs to.
//
// A mode is a function start(video, ui) that starts playback and returns
// {stop(), latency()}; latency() returns {seconds, how} or null. HLS is the
// only mode today. WebRTC (WHEP: POST an SDP offer to "whep" next to
// index.m3u8) slots into `modes` below; pick a mode with ?mode=<name>.
(function () {
  'use strict';

  var video = document.getElementById('video');
  var statusEl = document.getElementById('status');
  var latencyEl = document.getElementById('latency');
  var modeEl = document.getElementById('mode');
  if (!video) return;

  var ui = {
    status: function (text) {
      if (statusEl) statusEl.textContent = text;
    }
  };

  var modes = {
    hls: startHLS
    // webrtc: startWebRTC,  // later: WHEP, falling back to HLS on failure
  };

  // ---- HLS -----------------------------------------------------------------

  function startHLS(video, ui) {
    var src = video.getAttribute('data-hls') || 'index.m3u8';
    if (window.Hls && window.Hls.isSupported()) return startHlsJs(video, ui, src);
    if (video.canPlayType('application/vnd.apple.mpegurl')) return startNativeHLS(video, ui, src);
    ui.status('This browser cannot play HLS.');
    return null;
  }

  // hls.js over Media Source Extensions (Chrome, Firefox, Edge, Android).
  function startHlsJs(video, ui, src) {
    var Hls = window.Hls;
    var hls = null;
    var retryTimer = null;
    var retryDelay = 1000;
    var mediaRecovered = false;
    var stopped = false;

    function create() {
      retryTimer = null;
      hls = new Hls({
        lowLatencyMode: true,
        backBufferLength: 30
      });
      hls.on(Hls.Events.MANIFEST_PARSED, function () {
        ui.status('starting…');
        play(video, ui);
      });
      hls.on(Hls.Events.ERROR, function (event, data) {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !mediaRecovered) {
          mediaRecovered = true;
          hls.recoverMediaError();
          return;
        }
        // Anything else: start over after a pause. A 404 playlist usually
        // means the path is waiting for its source.
        var code = data.response && data.response.code;
        ui.status(code === 404 ? 'waiting for the stream…' : 'reconnecting… (' + data.details + ')');
        restart();
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    }

    function restart() {
      if (hls) hls.destroy();
      hls = null;
      if (stopped) return;
      retryTimer = setTimeout(create, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    }

    video.addEventListener('playing', function () {
      retryDelay = 1000;
      mediaRecovered = false;
    });

    create();
    return {
      stop: function () {
        stopped = true;
        if (retryTimer !== null) clearTimeout(retryTimer);
        if (hls) hls.destroy();
        hls = null;
      },
      latency: function () {
        if (!hls) return null;
        // Latency means nothing for a recording (VOD playlist).
        var level = hls.levels && hls.levels[hls.currentLevel];
        if (!level || !level.details || !level.details.live) return null;
        // Prefer the age of the playing frame; it needs the server's and our
        // clocks to agree, so a negative age falls back to the live edge.
        var d = hls.playingDate;
        var age = d ? (Date.now() - d.getTime()) / 1000 : NaN;
        if (age >= 0) return { seconds: age, how: 'now − EXT-X-PROGRAM-DATE-TIME of the playing frame' };
        var l = hls.latency;
        if (isFinite(l) && l > 0) return { seconds: l, how: 'behind the live edge' };
        return null;
      }
    };
  }

  // Native HLS (Safari on macOS and iOS).
  function startNativeHLS(video, ui, src) {
    video.src = src;
    video.addEventListener('loadedmetadata', function () {
      play(video, ui);
    });
    video.addEventListener('error', function () {
      ui.status('waiting for the stream…');
      setTimeout(function () {
        video.src = src;
        video.load();
      }, 3000);
    });
    return {
      stop: function () {
        video.removeAttribute('src');
        video.load();
      },
      latency: function () {
        if (isFinite(video.duration)) return null; // not live
        var start = video.getStartDate ? video.getStartDate() : null;
        if (start && !isNaN(start.getTime()) && start.getTime() > 0) {
          var age = (Date.now() - start.getTime()) / 1000 - video.currentTime;
          if (age >= 0) return { seconds: age, how: 'now − EXT-X-PROGRAM-DATE-TIME of the playing frame' };
        }
        var s = video.seekable;
        if (s && s.length) return { seconds: s.end(s.length - 1) - video.currentTime, how: 'behind the live edge' };
        return null;
      }
    };
  }

  // ---- shared --------------------------------------------------------------

  function play(video, ui) {
    var p = video.play();
    if (p && p.catch) {
      p.catch(function () {
        ui.status('press play to start');
      });
    }
  }

  video.addEventListener('playing', function () { ui.status('playing'); });
  video.addEventListener('waiting', function () { ui.status('buffering…'); });
  video.addEventListener('pause', function () { if (!video.ended) ui.status('paused'); });
  video.addEventListener('ended', function () { ui.status('ended'); });

  var name = new URLSearchParams(window.location.search).get('mode');
  if (!Object.prototype.hasOwnProperty.call(modes, name)) name = 'hls';
  if (modeEl) modeEl.textContent = name.toUpperCase();
  var player = modes[name](video, ui);

  setInterval(function () {
    if (!latencyEl) return;
    var l = player && player.latency();
    if (!l || !isFinite(l.seconds)) {
      latencyEl.textContent = '';
      latencyEl.removeAttribute('title');
      return;
    }
    latencyEl.textContent = 'latency ' + l.seconds.toFixed(1) + ' s';
    latencyEl.title = l.how;
  }, 1000);

  window.addEventListener('pagehide', function () {
    if (player) player.stop();
  });
})();
