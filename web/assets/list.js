// streamgate stream list: re-fetches the list fragment every few seconds
// (the server renders it; see fragmentHeader in pages.go) and swaps it in.
(function () {
  'use strict';
  var box = document.getElementById('paths');
  var updated = document.getElementById('updated');
  if (!box) return;
  var every = parseInt(box.getAttribute('data-refresh'), 10) || 5000;
  var timer = null;
  var busy = false;

  function stamp(text) {
    if (updated) updated.textContent = text;
  }

  function refresh() {
    timer = null;
    if (busy) return;
    busy = true;
    fetch(window.location.pathname, {
      headers: { 'X-Streamgate-Fragment': 'paths' },
      cache: 'no-store',
      credentials: 'same-origin'
    }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.text();
    }).then(function (html) {
      if (box.innerHTML !== html) box.innerHTML = html;
      stamp('updated ' + new Date().toLocaleTimeString());
    }).catch(function () {
      stamp('offline, retrying…');
    }).then(function () {
      busy = false;
      schedule();
    });
  }

  function schedule() {
    if (timer === null && !busy && !document.hidden) timer = setTimeout(refresh, every);
  }

  // Do not poll from a hidden tab; refresh at once when it shows again.
  document.addEventListener('visibilitychange', function () {
    if (document.hidden) {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    } else if (timer === null && !busy) {
      refresh();
    }
  });

  stamp('updated ' + new Date().toLocaleTimeString());
  schedule();
})();
