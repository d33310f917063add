"""Notification settings in a real browser: the preferences page, this device's Web Push
subscription, and the service worker showing a push and opening its page on a click.

What this covers, honestly: headless Chromium here cannot subscribe against a real push service (no
network), so the page's call to ``pushManager.subscribe`` is answered by a stand-in subscription
(an init script), and everything around it is real: the permission asked only on the click (granted
through the browser context), the POST to the API, the stored device. A shift change is then sent
through the real sender to the loopback push service stand-in (tests/notifications/pushservice.py),
which verifies the VAPID signature and decrypts the payload; that payload is delivered to the
page's real service worker with Chromium's DevTools ``ServiceWorker.deliverPushMessage``, which
shows the notification; its click handler is then run in the worker and opens the shift page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from notifications import api
from notifications.management.commands.vapid_keys import vapid_key_pair
from notifications.models import NotificationPreference, PushSubscription
from notifications.push import push_expand_jobs, push_send_due
from tests.browser.conftest import log_in, screenshot, wait_live
from tests.notifications.pushservice import PushService, Subscriber, b64url

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]

FAKE_ENDPOINT = "https://fcm.googleapis.com/fcm/send/browser-test-device"

# The page's subscribe() answered by a stand-in subscription (no push service is reachable here).
STAND_IN_SUBSCRIPTION = """
(function (keys) {
  if (!self.PushManager) return;
  PushManager.prototype.subscribe = function () {
    var subscription = {
      endpoint: keys.endpoint,
      toJSON: function () { return { endpoint: keys.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } }; },
      unsubscribe: function () { return Promise.resolve(true); },
    };
    return Promise.resolve(subscription);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(null); };
})(%s);
"""


@database_sync_to_async
def make(make_user: Any, *args: Any, **kwargs: Any) -> Any:
    return make_user(*args, **kwargs)


async def test_vera_turns_shift_emails_off_and_push_on_and_a_shift_change_arrives_as_a_push(
    daphne_servers: Any, new_context: Any, make_user: Any, settings: Any
) -> None:
    private, public = vapid_key_pair()
    settings.NOTIFICATIONS_VAPID_PRIVATE_KEY, settings.NOTIFICATIONS_VAPID_PUBLIC_KEY = private, public
    server = daphne_servers(
        1,
        env={
            "NOTIFICATIONS_VAPID_PRIVATE_KEY": private,
            "NOTIFICATIONS_VAPID_PUBLIC_KEY": public,
            "NOTIFICATIONS_PUSH_IN_PROCESS": "false",  # this test runs the sender itself
        },
    )[0]
    vera = await make(make_user, "vera", roles=("volunteer",))
    device = Subscriber()
    context = await new_context()
    await context.add_init_script(
        STAND_IN_SUBSCRIPTION
        % json.dumps({"endpoint": FAKE_ENDPOINT, "p256dh": device.p256dh, "auth": b64url(device.auth)})
    )
    page = await context.new_page()
    await log_in(page, server.http_base, "vera")
    await page.goto(f"{server.http_base}/notifications/")
    await page.get_by_role("link", name="Notification settings").click()
    await expect(page.get_by_role("heading", name="Notification settings")).to_be_visible()

    shifts = page.get_by_role("group", name="Shift changes")
    await shifts.get_by_label("Email", exact=True).uncheck()
    await shifts.get_by_label("Push", exact=True).check()
    await page.get_by_label("Your time zone").select_option("Europe/London")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    prefs = await database_sync_to_async(
        lambda: set(NotificationPreference.objects.filter(user=vera).values_list("kind", "channel", "enabled"))
    )()
    assert ("shift.changed", "email", False) in prefs and ("shift.changed", "push", True) in prefs

    # Push on this device: the browser's permission, given on the click (granted for the test).
    await context.grant_permissions(["notifications"], origin=server.http_base)
    await page.get_by_role("button", name="Turn on push on this device").click()
    await expect(page.locator("#push-status")).to_have_text("Push is on for this device.")
    await expect(page.get_by_role("button", name="Turn off push on this device")).to_be_visible()
    await screenshot(page, "notification-preferences")
    stored = await database_sync_to_async(lambda: list(PushSubscription.objects.filter(user=vera)))()
    assert [subscription.endpoint for subscription in stored] == [FAKE_ENDPOINT]

    # The tab closes; a shift changes; the sender pushes to the (stand-in) push service.
    await page.close()
    with PushService(public) as service:
        endpoint = service.endpoint("vera", device)
        await database_sync_to_async(lambda: PushSubscription.objects.filter(user=vera).update(endpoint=endpoint))()
        change = await api.anotify_user(
            vera, kind="shift.changed", title="Shift moved: Food bank", data={"url": "/shifts/"}
        )
        await database_sync_to_async(push_expand_jobs)()
        assert await database_sync_to_async(push_send_due)() == 1
    (received,) = service.received
    assert received.error == "" and received.payload is not None
    assert received.payload["title"] == "Shift moved: Food bank" and received.payload["id"] == change.pk

    # The browser gets that payload: its service worker shows it, and a click opens the shift page.
    page = await context.new_page()
    await page.goto(f"{server.http_base}/notifications/preferences/")
    await page.evaluate("navigator.serviceWorker.ready.then(function () { return true; })")
    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    await cdp.send("ServiceWorker.enable")
    await page.wait_for_function("navigator.serviceWorker.controller !== null || true")
    for _ in range(100):
        if registrations:
            break
        await page.wait_for_timeout(50)
    registration = next(r for r in registrations if r["scopeURL"] == f"{server.http_base}/")
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": server.http_base,
            "registrationId": registration["registrationId"],
            "data": json.dumps(received.payload),
        },
    )
    shown = await page.evaluate(
        """async () => {
          const registration = await navigator.serviceWorker.ready;
          for (let i = 0; i < 100; i++) {
            const list = await registration.getNotifications();
            if (list.length) return list.map(n => ({title: n.title, body: n.body, url: n.data.url}));
            await new Promise(resolve => setTimeout(resolve, 50));
          }
          return [];
        }"""
    )
    assert shown == [{"title": "Shift moved: Food bank", "body": "", "url": f"{server.http_base}/shifts/"}]
    worker = next(w for w in context.service_workers if w.url.endswith("/sw.js"))
    opened = await worker.evaluate(
        """async () => {
          const [notification] = await self.registration.getNotifications();
          let opened = null;
          const record = (url) => { opened = url; return Promise.resolve(null); };
          Object.defineProperty(self.clients, "openWindow", {value: record});
          await notificationClicked(notification);
          return opened;
        }"""
    )
    assert opened == f"{server.http_base}/shifts/"


async def test_reading_in_one_tab_or_device_clears_it_in_the_others(
    server: Any, new_context: Any, make_user: Any
) -> None:
    """Dismissing a toast on the phone clears the laptop's toast and list item, over a socket and
    over the SSE fallback alike."""
    dana = await make(make_user, "dana", roles=("donor",))
    laptop = await (await new_context()).new_page()
    phone = await (await new_context()).new_page()
    await log_in(laptop, server.http_base, "dana")
    await log_in(phone, server.http_base, "dana")
    await laptop.goto(f"{server.http_base}/notifications/?transport=sse")  # the fallback
    await wait_live(laptop)
    await wait_live(phone)
    sent = await api.anotify_user(
        dana, kind="impact.update", title="Your gifts fed 120 families", priority=api.CRITICAL
    )
    item = laptop.locator(f"#rt-notification-list [data-notification-id='{sent.pk}']")
    laptop_toast = laptop.locator(f"#rt-toasts [data-notification-id='{sent.pk}']")
    await expect(item).to_have_class(re.compile(r"\bunread\b"))
    await expect(laptop_toast).to_be_visible()
    await expect(laptop.locator("#rt-bell-count")).to_have_text("1")
    phone_toast = phone.locator(f"#rt-toasts [data-notification-id='{sent.pk}']")
    await phone_toast.get_by_role("button", name="Dismiss").click()
    await expect(laptop_toast).to_have_count(0)
    await expect(item).not_to_have_class(re.compile(r"\bunread\b"))
    await expect(laptop.locator("#rt-bell-count")).to_be_hidden()


# A stand-in that remembers this browser's subscription across pages (localStorage), so that the
# log out finds it, and notes when the browser's side of it is ended.
REMEMBERED_STAND_IN = """
(function (keys) {
  if (!self.PushManager || typeof localStorage === "undefined") return;
  function standIn() {
    return {
      endpoint: keys.endpoint,
      toJSON: function () { return { endpoint: keys.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } }; },
      unsubscribe: function () { localStorage.setItem("stand-in-push", "ended"); return Promise.resolve(true); },
    };
  }
  PushManager.prototype.subscribe = function () {
    localStorage.setItem("stand-in-push", "on");
    return Promise.resolve(standIn());
  };
  PushManager.prototype.getSubscription = function () {
    return Promise.resolve(localStorage.getItem("stand-in-push") === "on" ? standIn() : null);
  };
})(%s);
"""


async def test_logging_out_ends_this_browsers_push_subscription(
    daphne_servers: Any, new_context: Any, make_user: Any, settings: Any
) -> None:
    """On a shared computer the next person must not receive the last one's notifications."""
    private, public = vapid_key_pair()
    settings.NOTIFICATIONS_VAPID_PRIVATE_KEY, settings.NOTIFICATIONS_VAPID_PUBLIC_KEY = private, public
    server = daphne_servers(
        1,
        env={
            "NOTIFICATIONS_VAPID_PRIVATE_KEY": private,
            "NOTIFICATIONS_VAPID_PUBLIC_KEY": public,
            "NOTIFICATIONS_PUSH_IN_PROCESS": "false",
        },
    )[0]
    vera = await make(make_user, "vera", roles=("volunteer",))
    device = Subscriber()
    context = await new_context()
    await context.add_init_script(
        REMEMBERED_STAND_IN
        % json.dumps({"endpoint": FAKE_ENDPOINT, "p256dh": device.p256dh, "auth": b64url(device.auth)})
    )
    await context.grant_permissions(["notifications"], origin=server.http_base)
    page = await context.new_page()
    await log_in(page, server.http_base, "vera")
    await page.goto(f"{server.http_base}/notifications/preferences/")
    await page.get_by_role("button", name="Turn on push on this device").click()
    await expect(page.locator("#push-status")).to_have_text("Push is on for this device.")
    subscriptions = database_sync_to_async(lambda: PushSubscription.objects.filter(user=vera).count())
    assert await subscriptions() == 1

    await page.goto(f"{server.http_base}/notifications/")
    await page.locator("header").get_by_role("button", name="Log out").click()
    await expect(page.locator("header").get_by_role("link", name="Log in")).to_be_visible()
    assert await subscriptions() == 0
    assert await page.evaluate("() => localStorage.getItem('stand-in-push')") == "ended"
