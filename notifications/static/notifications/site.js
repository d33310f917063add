/*
 * site.js: what every page of the site does with the real-time client (realtime.js):
 * the connection indicator, the notification bell, toasts, and the live /notifications/ list.
 * Pages opt in through data attributes on <body>; user text is always inserted as text.
 */
(function (global) {
  "use strict";

  var Realtime = global.CharityRealtime;
  var body = document.body;

  var STATE_TEXT = {
    idle: "Starting…",
    connecting: "Connecting…",
    live: "Live",
    fallback: "Live (fallback mode)",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    stopped: "Not connected",
  };

  /** Show a connection state in an element: text for people, data-state for styles and tests. */
  function showState(element, state, detail) {
    if (!element) return;
    element.dataset.state = state;
    element.dataset.mode = detail && detail.mode ? detail.mode : "";
    var text = STATE_TEXT[state] || state;
    if (state === "reconnecting" && detail && detail.retryAt) {
      var seconds = Math.max(1, Math.round((detail.retryAt - Date.now()) / 1000));
      text = "Reconnecting in " + seconds + " s…";
    }
    if (state === "stopped" && detail && detail.reason) text = detail.reason;
    element.textContent = text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var MAX_ROUTINE_TOASTS = 5;

  function toast(frame, stream) {
    var container = document.getElementById("rt-toasts");
    if (!container) return;
    var critical = frame.priority === "critical";
    var node = el("div", "toast" + (critical ? " toast-critical" : ""));
    node.setAttribute("role", critical ? "alert" : "status");
    node.dataset.notificationId = frame.id;
    node.appendChild(el("strong", "toast-title", frame.title));
    if (frame.body) node.appendChild(el("p", "toast-body", frame.body));
    var dismiss = el("button", "toast-dismiss", "Dismiss");
    dismiss.type = "button";
    dismiss.addEventListener("click", function () {
      node.remove();
      stream.markRead([frame.id]);
    });
    node.appendChild(dismiss);
    container.appendChild(node);
    var routine = container.querySelectorAll(".toast:not(.toast-critical)");
    for (var i = 0; i < routine.length - MAX_ROUTINE_TOASTS; i++) routine[i].remove();
    // Critical notifications stay until dismissed; routine ones fade after a while (still unread).
    if (!critical) {
      setTimeout(function () {
        node.remove();
      }, 8000);
    }
  }

  function listItem(frame) {
    var item = el("li", "notification unread" + (frame.priority === "critical" ? " critical" : ""));
    item.dataset.notificationId = frame.id;
    item.appendChild(el("strong", "notification-title", frame.title));
    if (frame.body) item.appendChild(el("span", "notification-body", " — " + frame.body));
    return item;
  }

  function setUnread(count) {
    var bell = document.getElementById("rt-bell-count");
    if (!bell) return;
    bell.textContent = String(count);
    bell.dataset.count = String(count);
    bell.hidden = count === 0;
  }

  /** What was read anywhere (ids, or "all") stops looking new here: list items and toasts. */
  function clearRead(read) {
    var all = read === "all";
    var ids = all ? null : new Set((Array.isArray(read) ? read : []).map(String));
    document.querySelectorAll(".notification.unread").forEach(function (node) {
      if (all || ids.has(node.dataset.notificationId)) node.classList.remove("unread");
    });
    document.querySelectorAll("#rt-toasts .toast").forEach(function (node) {
      if (all || ids.has(node.dataset.notificationId)) node.remove();
    });
  }

  function start() {
    if (!Realtime || body.dataset.authenticated !== "true") return null;
    var indicator = document.getElementById("rt-status");
    var list = document.getElementById("rt-notification-list");
    var stream = new Realtime.NotificationStream({
      forceFallback: body.dataset.forceFallback === "true",
      // This person's tabs in this browser share one socket (a leader tab; docs/client.md).
      tabKey: body.dataset.userId ? "charity-notifications-" + body.dataset.userId : null,
      onState: function (state, detail) {
        showState(indicator, state, detail);
      },
      onUnread: setUnread,
      onRead: clearRead,
      onNotification: function (frame) {
        if (list && !list.querySelector('[data-notification-id="' + frame.id + '"]')) {
          var empty = list.querySelector(".empty");
          if (empty) empty.remove();
          list.insertBefore(listItem(frame), list.firstChild);
        }
        // Each id reaches this tab once (the stream de-duplicates across pages), so missed ones
        // are shown on arrival too; routine toasts beyond the last few are dropped, critical never.
        toast(frame, stream);
        document.dispatchEvent(new CustomEvent("charity:notification", { detail: frame }));
      },
      onOther: function (frame) {
        // A host app's live event (group_send with type "realtime.event"; docs/protocol.md).
        if (frame.type === "event") document.dispatchEvent(new CustomEvent("charity:event", { detail: frame }));
      },
    });
    global.charityNotifications = stream.start();
    var markAll = document.getElementById("rt-mark-all-read");
    if (markAll) {
      markAll.addEventListener("click", function () {
        Realtime.postJson("/api/notifications/read-all/", {}).then(function () {
          document.querySelectorAll(".notification.unread").forEach(function (node) {
            node.classList.remove("unread");
          });
        });
      });
    }
    return stream;
  }

  // How long a log out waits for this browser's push subscription to be ended, at most.
  var LOGOUT_PUSH_WAIT_MS = 2000;

  /**
   * Logging out ends this browser's Web Push subscription first, on the site and in the browser:
   * on a shared computer the next person must not receive the last one's notifications. The log
   * out never waits longer than LOGOUT_PUSH_WAIT_MS (no service worker, no subscription, a slow
   * answer: it goes on).
   */
  function endPushOnLogout() {
    var form = document.querySelector("form[data-logout]");
    if (!form || !("serviceWorker" in navigator) || !("PushManager" in global)) return;
    var leaving = false;
    form.addEventListener("submit", function (event) {
      if (leaving) return;
      event.preventDefault();
      var proceed = function () {
        if (leaving) return;
        leaving = true;
        form.submit();
      };
      setTimeout(proceed, LOGOUT_PUSH_WAIT_MS);
      var token = form.querySelector("input[name=csrfmiddlewaretoken]");
      navigator.serviceWorker
        .getRegistration("/")
        .then(function (registration) {
          return registration ? registration.pushManager.getSubscription() : null;
        })
        .then(function (subscription) {
          if (!subscription) return null;
          var forget = fetch("/api/notifications/push-subscriptions/", {
            method: "DELETE",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
            body: JSON.stringify({ endpoint: subscription.endpoint }),
          });
          return forget.then(function () {
            return subscription.unsubscribe();
          });
        })
        .catch(function () {
          /* nothing to end, or it failed: the log out goes on all the same */
        })
        .then(proceed);
    });
  }

  global.CharitySite = { showState: showState, el: el };
  start();
  endPushOnLogout();
})(window);
