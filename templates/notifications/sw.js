/*
 * The site's service worker (served at /sw.js, scope "/"): shows Web Push notifications and opens
 * the right page when one is clicked. The payload is { id, title, body, url } (notifications/push.py);
 * a sensitive kind's payload carries only a notice, never the words. Only same-site pages are opened.
 */
"use strict";

/** ``raw`` as an absolute URL of this site; the notifications page for anything else. */
function sameSiteUrl(raw) {
  var fallback = new URL("/notifications/", self.location.origin).href;
  if (typeof raw !== "string") return fallback;
  var url;
  try {
    url = new URL(raw, self.location.origin);
  } catch (error) {
    return fallback;
  }
  return url.origin === self.location.origin ? url.href : fallback;
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

/** A click on a push: focus a tab already on its page, or open one. */
function notificationClicked(notification) {
  notification.close();
  var target = sameSiteUrl(notification.data && notification.data.url);
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url === target && "focus" in windows[i]) return windows[i].focus();
    }
    return self.clients.openWindow(target);
  });
}

self.addEventListener("notificationclick", function (event) {
  event.waitUntil(notificationClicked(event.notification));
});
