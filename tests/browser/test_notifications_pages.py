"""Notifications in a real browser: toasts, the bell, navigation, fallback, text-only rendering."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import Page, Route, expect

from notifications import api
from notifications.models import Recipient
from tests.browser.conftest import answer_throttled, log_in, screenshot, wait_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]

notify_user = api.anotify_user


@database_sync_to_async
def make(make_user: Any, *args: Any, **kwargs: Any) -> Any:
    return make_user(*args, **kwargs)


def toasts_for(page: Page, notification_id: int) -> Any:
    return page.locator(f"#rt-toasts [data-notification-id='{notification_id}']")


async def test_live_notification_shows_a_toast_and_the_bell_counts(
    server: Any, new_context: Any, make_user: Any
) -> None:
    user = await make(make_user, "vera", roles=("volunteer",))
    page = await (await new_context()).new_page()
    await log_in(page, server.http_base, "vera")
    await wait_live(page)
    await expect(page.locator("#rt-status")).to_have_text("Live")
    sent = await notify_user(user, kind="shift.changed", title="Saturday moved to 10:00", body="Food bank")
    await expect(toasts_for(page, sent.pk)).to_contain_text("Saturday moved to 10:00")
    await expect(page.locator("#rt-bell-count")).to_have_text("1")
    critical = await api.anotify_role("volunteer", kind="system.alert", title="Flood warning", priority=api.CRITICAL)
    alert = toasts_for(page, critical.pk)
    await expect(alert).to_have_class(re.compile(r"toast-critical"))
    await expect(alert).to_have_attribute("role", "alert")
    await expect(page.locator("#rt-bell-count")).to_have_text("2")
    await screenshot(page, "home-with-toasts")
    # Routine toasts fade; critical ones stay until dismissed, and dismissing marks them read.
    await expect(toasts_for(page, sent.pk)).to_have_count(0, timeout=15_000)
    await expect(alert).to_be_visible()
    await alert.get_by_role("button", name="Dismiss").click()
    await expect(alert).to_have_count(0)
    await expect(page.locator("#rt-bell-count")).to_have_text("1")


async def test_notification_sent_on_another_page_shows_once_after_navigation(
    server: Any, new_context: Any, make_user: Any
) -> None:
    user = await make(make_user, "dana", roles=("donor",))
    page = await (await new_context()).new_page()
    await log_in(page, server.http_base, "dana")
    await wait_live(page)
    # On a page without the live client (a static file), then back on the site.
    await page.goto(f"{server.http_base}/static/notifications/site.css")
    sent = await notify_user(user, kind="donation.confirmed", title="Your gift is confirmed")
    await page.goto(f"{server.http_base}/notifications/")
    await wait_live(page)
    await expect(page.locator(f"#rt-notification-list [data-notification-id='{sent.pk}']")).to_have_count(1)
    await expect(toasts_for(page, sent.pk)).to_have_count(1)
    await screenshot(page, "notifications")
    # Moving on: it is not shown again, though it stays unread.
    await page.goto(f"{server.http_base}/")
    await wait_live(page)
    await page.wait_for_timeout(1000)
    await expect(toasts_for(page, sent.pk)).to_have_count(0)
    await expect(page.locator("#rt-bell-count")).to_have_text("1")


async def test_user_html_in_a_notification_is_shown_as_text(server: Any, new_context: Any, make_user: Any) -> None:
    user = await make(make_user, "victor", roles=("volunteer",))
    page = await (await new_context()).new_page()
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await log_in(page, server.http_base, "victor")
    await wait_live(page)
    title = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    sent = await notify_user(user, kind="test.xss", title=title, body="<b>bold?</b>")
    toast = toasts_for(page, sent.pk)
    await expect(toast.locator(".toast-title")).to_have_text(title)
    await expect(toast.locator("img, script, b")).to_have_count(0)
    await page.goto(f"{server.http_base}/notifications/")
    await expect(page.locator("#rt-notification-list .notification-title").first).to_have_text(title)
    await expect(page.locator("#rt-notification-list img")).to_have_count(0)
    assert dialogs == []


async def _fallback_round_trip(page: Page, base_url: str, user: Any) -> None:
    await log_in(page, base_url, user.username)
    await expect(page.locator("#rt-status")).to_have_attribute("data-state", "fallback", timeout=30_000)
    await expect(page.locator("#rt-status")).to_have_text("Live (fallback mode)")
    sent = await notify_user(user, kind="shift.changed", title="Sent over SSE")
    toast = toasts_for(page, sent.pk)
    await expect(toast).to_contain_text("Sent over SSE")
    await expect(page.locator("#rt-bell-count")).to_have_text("1")
    # Client → server over HTTP POST: dismissing marks it read, and the stream brings the new count.
    await toast.get_by_role("button", name="Dismiss").click()
    await expect(page.locator("#rt-bell-count")).to_be_hidden()


async def test_fallback_when_the_browser_has_no_websocket(server: Any, new_context: Any, make_user: Any) -> None:
    user = await make(make_user, "wsless", roles=("volunteer",))
    context = await new_context()
    await context.add_init_script("delete window.WebSocket;")
    await _fallback_round_trip(await context.new_page(), server.http_base, user)


async def test_fallback_when_a_proxy_blocks_websockets(
    server: Any, blocking_proxy: Any, new_context: Any, make_user: Any
) -> None:
    user = await make(make_user, "proxied", roles=("donor",))
    page = await (await new_context()).new_page()
    await _fallback_round_trip(page, f"http://127.0.0.1:{blocking_proxy.port}", user)
    assert blocking_proxy.refused >= 3


async def test_an_ack_refused_for_rate_is_sent_again_after_retry_after(
    server: Any, new_context: Any, make_user: Any
) -> None:
    """In fallback mode acknowledgements are POSTs: after a 429 the client acknowledges again."""
    user = await make(make_user, "acker", roles=("volunteer",))
    context = await new_context()
    await context.add_init_script("delete window.WebSocket;")
    page = await context.new_page()
    acks: list[int] = []

    async def refuse_the_first_ack(route: Route) -> None:
        acks.append(json.loads(route.request.post_data or "{}")["up_to"])
        if len(acks) == 1:
            await answer_throttled(route, 1)
        else:
            await route.continue_()

    await page.route("**/api/notifications/ack/", refuse_the_first_ack)
    await log_in(page, server.http_base, "acker")
    await expect(page.locator("#rt-status")).to_have_attribute("data-state", "fallback", timeout=30_000)
    sent = await notify_user(user, kind="shift.changed", title="Acknowledged in the end")
    await expect(toasts_for(page, sent.pk)).to_contain_text("Acknowledged in the end")

    @database_sync_to_async
    def delivered() -> bool:
        return Recipient.objects.filter(user=user, notification_id=sent.pk, delivered_at__isnull=False).exists()

    for _ in range(100):
        if await delivered():
            break
        await asyncio.sleep(0.1)
    assert await delivered()
    assert acks[:2] == [sent.pk, sent.pk]
