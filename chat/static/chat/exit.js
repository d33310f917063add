/*
 * exit.js: the visitors' quick exit (docs/safeguarding.md). The "Leave this site" link, or Escape
 * pressed twice within a second, leaves at once for the neutral page in the link's data-exit-url:
 *   1. the page's content is hidden straight away (the neutral page may take a moment to load);
 *   2. every socket and stream of the page is closed (CharityRealtime.shutdown, when realtime.js is
 *      loaded), so nothing more arrives and nothing more is written to storage;
 *   3. what this site kept in the browser's storage is wiped (the chat's cursor and unsent messages
 *      live in sessionStorage, realtime.js's store; localStorage is cleared too, in case);
 *   4. the site is told, by a beacon that outlives the page, to forget this browser's help requests
 *      (POST data-leave-url, chat.views.help_leave), so a page reopened from the history shows
 *      nothing of them;
 *   5. location.replace() swaps this page's history entry for the neutral page, so Back does not
 *      come back here.
 * Needs nothing else on the page: without JavaScript, the link still goes there (rel=noreferrer).
 */
(function (global) {
  "use strict";

  var link = document.getElementById("quick-exit");
  if (!link) return;
  var url = link.dataset.exitUrl || link.href;
  var ESCAPE_PAIR_MS = 1000;
  var lastEscape = 0;
  var leaving = false;

  function wipe(storage) {
    try {
      global[storage].clear();
    } catch (e) {
      /* storage disabled: nothing was kept there */
    }
  }

  function forget() {
    var leaveUrl = link.dataset.leaveUrl;
    if (!leaveUrl || !link.dataset.csrf || !global.navigator.sendBeacon) return;
    try {
      var form = new FormData();
      form.append("csrfmiddlewaretoken", link.dataset.csrf);
      global.navigator.sendBeacon(leaveUrl, form);
    } catch (e) {
      /* leaving matters more than being forgotten */
    }
  }

  function leave() {
    if (leaving) return;
    leaving = true;
    document.body.hidden = true;
    document.title = "";
    try {
      if (global.CharityRealtime && global.CharityRealtime.shutdown) global.CharityRealtime.shutdown();
    } catch (e) {
      /* leaving matters more than a clean close */
    }
    wipe("sessionStorage");
    wipe("localStorage");
    forget();
    global.location.replace(url);
  }

  link.addEventListener("click", function (event) {
    event.preventDefault();
    leave();
  });

  // Captured on window, so no field or widget of the page can swallow it.
  global.addEventListener(
    "keydown",
    function (event) {
      if (event.key !== "Escape" || event.repeat) return;
      var at = Date.now();
      if (at - lastEscape <= ESCAPE_PAIR_MS) {
        leave();
      } else {
        lastEscape = at;
      }
    },
    true
  );
})(window);
