/*
 * The site's service worker (served at /sw.js, scope "/"): shows Web Push notifications and opens
 * the right page when one is clicked. The payload is { id, title, body, url } (notifications/push.py);
 * a sensitive kind's payload carries only a notice, never the words. Only same-site pages are opened.
 */
"use strict";

function sameSiteUrl(raw) {
  var fallback = new URL("/notifications/", self.location.origin);
  if (typeof raw !== "string" || raw.charAt(0) !== "/" || raw.charAt(1) === "/") return fallback.href;
  var url = new URL(raw, self.location.origin);
  return url.origin === self.location.origin ? url.href : fallback.href;
}

function showPush(data) {
  var title = typeof data.title === "string" && data.title ? data.title : "New notification";
  var options = {
    body: typeof data.body === "string" ? data.body : "",
    data: { url: sameSiteUrl(data.url) },
  };
  if (typeof data.id === "number") options.tag = "notification-" + data.id;
  return self.registration.showNotification(title, options);
}

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  event.waitUntil(showPush(data || {}));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var target = sameSiteUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === target && "focus" in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow(target);
    })
  );
});
