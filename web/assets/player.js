// streamgate player page: plays the path this page belongs to.
//
// A mode is a function start(video, ui) that starts playback and returns
// {stop(), latency()}; latency() returns {seconds, how} or null. Without
// ?mode= the page tries WebRTC (WHEP: an SDP offer POSTed to "whep" next to
// index.m3u8) and falls back to HLS by itself when WebRTC cannot connect or
// shows no picture; ?mode=webrtc and ?mode=hls force one of them.
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

  // A page opened with ?token=<jwt> (for viewers that cannot send an
  // Authorization header) passes the token on to every request it makes:
  // WHEP, the HLS playlist and, through hls.js's loaders, every playlist
  // reload, segment and part, whose URLs come from the playlist without it.
  var token = new URLSearchParams(window.location.search).get('token');
  function withToken(url) {
    if (!token) return url;
    var u = new URL(url, window.location.href);
    if (!u.searchParams.has('token')) u.searchParams.set('token', token);
    return u.href;
  }

  var modes = {
    auto: startAuto,
    webrtc: function (video, ui) { return startWebRTC(video, ui, null); },
    hls: startHLS
  };

  // ---- auto: WebRTC first, HLS when it cannot play --------------------------

  function startAuto(video, ui) {
    if (!window.RTCPeerConnection) return useHLS('this browser has no WebRTC');
    var current = null;
    function useHLS(why) {
      if (current && current.stop) current.stop();
      setMode('HLS');
      ui.status('HLS (' + why + ')');
      current = startHLS(video, ui);
      return current;
    }
    setMode('WebRTC');
    current = startWebRTC(video, ui, useHLS);
    return {
      stop: function () { if (current) current.stop(); },
      latency: function () { return current ? current.latency() : null; }
    };
  }

  // ---- WebRTC (WHEP) ---------------------------------------------------------

  // startWebRTC plays the path over WHEP. fallback(why), when given, is
  // called once if the connection fails or no frame arrives in time.
  function startWebRTC(video, ui, fallback) {
    var endpoint = withToken(video.getAttribute('data-whep') || 'whep');
    var pc = new RTCPeerConnection();
    // Exposed for diagnostics and tests: the connection, and when the offer
    // was posted and the first frame shown (performance.now() times).
    var debug = window.streamgateWebRTC = { pc: pc, posted: NaN, firstFrame: NaN };
    var resource = null;
    var stopped = false;
    var failed = false;
    var stats = { delay: NaN };
    var statsTimer = null;
    var firstFrameTimer = null;

    function fail(why) {
      if (stopped || failed) return;
      failed = true;
      cleanup();
      if (fallback) {
        fallback(why);
      } else {
        ui.status('WebRTC failed: ' + why);
      }
    }

    function cleanup() {
      if (statsTimer !== null) clearInterval(statsTimer);
      if (firstFrameTimer !== null) clearTimeout(firstFrameTimer);
      statsTimer = firstFrameTimer = null;
      if (resource) {
        fetch(resource, { method: 'DELETE' }).catch(function () {});
        resource = null;
      }
      pc.close();
      if (video.srcObject) video.srcObject = null;
    }

    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    var stream = new MediaStream();
    pc.ontrack = function (e) {
      stream.addTrack(e.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      play(video, ui);
    };
    pc.onconnectionstatechange = function () {
      if (pc.connectionState === 'failed') fail('the connection failed');
    };

    ui.status('connecting over WebRTC…');
    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered(pc, 2000); })
      .then(function () {
        debug.posted = performance.now();
        return fetch(endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp' },
          body: pc.localDescription.sdp
        });
      })
      .then(function (res) {
        if (res.status !== 201) {
          return res.text().then(function (body) {
            throw new Error(res.status + ' ' + body.trim());
          });
        }
        var loc = res.headers.get('Location');
        if (loc) resource = withToken(new URL(loc, new URL(endpoint, window.location.href)).href);
        var servers = iceServersFromLink(res.headers.get('Link'));
        if (servers.length) pc.setConfiguration({ iceServers: servers });
        return res.text();
      })
      .then(function (answer) {
        if (stopped) return;
        return pc.setRemoteDescription({ type: 'answer', sdp: answer });
      })
      .catch(function (err) { fail(err.message || String(err)); });

    // No picture after a while (blocked UDP and TCP, a codec the browser
    // lacks): give up and let the caller fall back.
    firstFrameTimer = setTimeout(function () {
      firstFrameTimer = null;
      if (!(video.videoWidth > 0)) fail('no picture after 8 s');
    }, 8000);
    video.addEventListener('loadeddata', function () {
      if (firstFrameTimer !== null) clearTimeout(firstFrameTimer);
      firstFrameTimer = null;
    });
    if (video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback(function (now) { debug.firstFrame = now; });
    }

    statsTimer = setInterval(function () {
      pc.getStats().then(function (report) {
        report.forEach(function (r) {
          if (r.type === 'inbound-rtp' && r.kind === 'video' && r.jitterBufferEmittedCount > 0) {
            stats.delay = r.jitterBufferDelay / r.jitterBufferEmittedCount;
          }
        });
      }).catch(function () {});
    }, 1000);

    return {
      stop: function () {
        stopped = true;
        cleanup();
      },
      latency: function () {
        if (!isFinite(stats.delay)) return null;
        return { seconds: stats.delay, how: 'WebRTC jitter buffer delay (network time not included)' };
      }
    };
  }

  // gathered resolves when ICE gathering is complete, or after ms.
  function gathered(pc, ms) {
    return new Promise(function (resolve) {
      if (pc.iceGatheringState === 'complete') return resolve();
      var timer = setTimeout(resolve, ms);
      pc.addEventListener('icegatheringstatechange', function () {
        if (pc.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  // iceServersFromLink reads the STUN/TURN servers a WHEP endpoint announces
  // in its Link header (RFC 9725 section 4.6).
  function iceServersFromLink(header) {
    var out = [];
    if (!header) return out;
    header.split(/,(?=\s*<)/).forEach(function (part) {
      var m = part.match(/<([^>]+)>/);
      if (!m || !/rel="?ice-server"?/.test(part)) return;
      var server = { urls: m[1] };
      var user = part.match(/username="([^"]*)"/);
      var cred = part.match(/credential="([^"]*)"/);
      if (user) server.username = user[1];
      if (cred) server.credential = cred[1];
      out.push(server);
    });
    return out;
  }

  // ---- HLS -----------------------------------------------------------------

  function startHLS(video, ui) {
    // Native HLS (Safari) gets the token on the playlist only: segments
    // need Basic credentials or an anonymous read there.
    var src = withToken(video.getAttribute('data-hls') || 'index.m3u8');
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
      var config = {
        lowLatencyMode: true,
        backBufferLength: 30
      };
      if (token) {
        config.xhrSetup = function (xhr, url) { xhr.open('GET', withToken(url), true); };
        config.fetchSetup = function (context, init) { return new Request(withToken(context.url), init); };
      }
      hls = new Hls(config);
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

  function setMode(label) {
    if (modeEl) modeEl.textContent = label;
  }

  var name = new URLSearchParams(window.location.search).get('mode');
  if (!Object.prototype.hasOwnProperty.call(modes, name)) name = 'auto';
  if (name === 'hls') setMode('HLS');
  if (name === 'webrtc') setMode('WebRTC');
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
