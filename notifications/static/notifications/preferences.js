/*
 * preferences.js: this device's Web Push subscription on /notifications/preferences/.
 * The browser's permission prompt appears only when the person presses "Turn on push"; the
 * subscription (endpoint and keys) goes to /api/notifications/push-subscriptions/.
 */
(function () {
  "use strict";

  var config = document.getElementById("push-config");
  var on = document.getElementById("push-subscribe");
  var off = document.getElementById("push-unsubscribe");
  var status = document.getElementById("push-status");
  if (!config || !on || !off) return;
  var publicKey = JSON.parse(config.textContent).publicKey;

  function say(text) {
    if (status) status.textContent = text;
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function send(method, body) {
    return fetch("/api/notifications/push-subscriptions/", {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) throw new Error("The site refused this device (" + response.status + ").");
    });
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function show(subscribed) {
    on.hidden = subscribed;
    off.hidden = !subscribed;
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    on.disabled = true;
    say("This browser cannot receive push notifications.");
    return;
  }

  var registration = navigator.serviceWorker.register("/sw.js", { scope: "/" });

  registration
    .then(function (reg) {
      return reg.pushManager.getSubscription();
    })
    .then(function (subscription) {
      show(Boolean(subscription));
    })
    .catch(function () {
      show(false);
    });

  on.addEventListener("click", function () {
    on.disabled = true;
    Notification.requestPermission()
      .then(function (permission) {
        if (permission !== "granted") throw new Error("Push stays off: the browser's permission was not given.");
        return registration;
      })
      .then(function (reg) {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
      })
      .then(function (subscription) {
        return send("POST", subscription.toJSON());
      })
      .then(function () {
        show(true);
        say("Push is on for this device.");
      })
      .catch(function (error) {
        say(error && error.message ? error.message : "Push could not be turned on.");
      })
      .then(function () {
        on.disabled = false;
      });
  });

  off.addEventListener("click", function () {
    off.disabled = true;
    registration
      .then(function (reg) {
        return reg.pushManager.getSubscription();
      })
      .then(function (subscription) {
        if (!subscription) return null;
        var endpoint = subscription.endpoint;
        return subscription.unsubscribe().then(function () {
          return send("DELETE", { endpoint: endpoint });
        });
      })
      .then(function () {
        show(false);
        say("Push is off for this device.");
      })
      .catch(function (error) {
        say(error && error.message ? error.message : "Push could not be turned off.");
      })
      .then(function () {
        off.disabled = false;
      });
  });
})();
