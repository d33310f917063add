"""One browser, several tabs: a leader tab holds the only notification socket (realtime.js's
TabConnection), the others follow it over a BroadcastChannel; without Web Locks every tab keeps its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import BrowserContext, Page, expect

from notifications import api
from realtime.registry import get_registry
from tests.browser.conftest import log_in, wait_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


async def socket_count(user: Any, expected: int) -> int:
    """The user's open sockets, per the registry every server process writes to, once it shows
    ``expected`` (a closed socket leaves it when the server has handled the close), or after 15 s."""
    registry = get_registry()
    for _ in range(150):
        count = await registry.auser_socket_count(user.pk)
        if count == expected:
            return count
        await asyncio.sleep(0.1)
    return await registry.auser_socket_count(user.pk)


def toasts_for(page: Page, notification_id: int) -> Any:
    return page.locator(f"#rt-toasts [data-notification-id='{notification_id}']")


async def is_leader(page: Page) -> bool:
    return bool(await page.evaluate("() => Boolean(window.charityNotifications.connection.leading)"))


async def two_tabs(context: BrowserContext, base: str, username: str) -> tuple[Page, Page]:
    """The first tab logs in (and leads, where tabs share); the second opens the home page after it."""
    first = await context.new_page()
    await log_in(first, base, username)
    await wait_live(first)
    second = await context.new_page()
    await second.goto(f"{base}/")
    await wait_live(second)
    return first, second


async def notify_both(user: Any, first: Page, second: Page, title: str) -> int:
    sent = await api.anotify_user(user, kind="shift.changed", title=title, priority=api.CRITICAL)
    for page in (first, second):
        await expect(toasts_for(page, sent.pk)).to_contain_text(title)
    return int(sent.pk)


async def test_tabs_of_one_browser_share_one_socket(server: Any, new_context: Any, make_user: Any) -> None:
    user = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    first, second = await two_tabs(await new_context(), server.http_base, "vera")
    assert [await is_leader(first), await is_leader(second)] == [True, False]
    # The follower shows the leader's connection: the same words as the leader's indicator.
    await expect(second.locator("#rt-status")).to_have_text("Live")
    sent = await notify_both(user, first, second, "Saturday moved to 10:00")
    for page in (first, second):
        await expect(page.locator("#rt-bell-count")).to_have_text("1")
    # Both tabs got it through one socket (a second socket would be registered before its delivery).
    assert await socket_count(user, 1) == 1
    # Dismissed in the follower (an HTTP POST): read everywhere, the leader's toast and bell too.
    await toasts_for(second, sent).get_by_role("button", name="Dismiss").click()
    for page in (first, second):
        await expect(toasts_for(page, sent)).to_have_count(0)
        await expect(page.locator("#rt-bell-count")).to_be_hidden()


async def test_another_tab_takes_over_when_the_leader_closes(server: Any, new_context: Any, make_user: Any) -> None:
    user = await database_sync_to_async(make_user)("dana", roles=("donor",))
    first, second = await two_tabs(await new_context(), server.http_base, "dana")
    before = await notify_both(user, first, second, "Before the leader left")
    assert await socket_count(user, 1) == 1
    await first.close()
    await second.wait_for_function("() => window.charityNotifications.connection.leading === true")
    await wait_live(second)
    after = await api.anotify_user(user, kind="shift.changed", title="After the leader left", priority=api.CRITICAL)
    later = await api.anotify_user(user, kind="shift.changed", title="And one more", priority=api.CRITICAL)
    await expect(toasts_for(second, later.pk)).to_contain_text("And one more")
    # Frames arrive in order: by the time the later one is shown, any repeat of the others would be.
    await expect(toasts_for(second, after.pk)).to_have_count(1)
    await expect(toasts_for(second, before)).to_have_count(1)
    await expect(second.locator("#rt-bell-count")).to_have_text("3")
    assert await socket_count(user, 1) == 1


async def test_without_web_locks_each_tab_keeps_its_own_socket(server: Any, new_context: Any, make_user: Any) -> None:
    user = await database_sync_to_async(make_user)("sam", roles=("volunteer",))
    context = await new_context()
    await context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'locks', {value: undefined, configurable: true});"
    )
    first, second = await two_tabs(context, server.http_base, "sam")
    await notify_both(user, first, second, "One socket per tab")
    assert await socket_count(user, 2) == 2
    for page in (first, second):
        await expect(page.locator("#rt-bell-count")).to_have_text("1")


async def test_a_follower_back_from_elsewhere_gets_what_it_missed_once(
    server: Any, new_context: Any, make_user: Any
) -> None:
    user = await database_sync_to_async(make_user)("tom", roles=("volunteer",))
    first, second = await two_tabs(await new_context(), server.http_base, "tom")
    seen = await notify_both(user, first, second, "Seen in both tabs")
    # The follower leaves the site for a moment (a page without the live client), then comes back.
    await second.goto(f"{server.http_base}/static/notifications/site.css")
    missed = await api.anotify_user(user, kind="shift.changed", title="Sent while away", priority=api.CRITICAL)
    await expect(toasts_for(first, missed.pk)).to_contain_text("Sent while away")
    await second.goto(f"{server.http_base}/notifications/")
    await wait_live(second)
    # The leader's welcome brings it (this tab opened no socket to replay it), and only it.
    await expect(toasts_for(second, missed.pk)).to_contain_text("Sent while away")
    await expect(toasts_for(second, seen)).to_have_count(0)
    await expect(second.locator("#rt-bell-count")).to_have_text("2")
    assert await is_leader(second) is False
    assert await socket_count(user, 1) == 1


async def test_logged_out_and_back_in_the_tabs_share_a_working_socket(
    server: Any, new_context: Any, make_user: Any
) -> None:
    user = await database_sync_to_async(make_user)("kim", roles=("volunteer",))
    first, second = await two_tabs(await new_context(), server.http_base, "kim")
    # Logging out in the first tab: the second takes the lock, and its socket is refused (4401).
    await first.locator("header").get_by_role("button", name="Log out").click()
    await expect(second.locator("#rt-status")).to_have_text("Please log in.", timeout=15_000)
    # Back in, in the first tab: the refused leader stepped down, so this tab leads a working
    # socket (rather than following a stopped one), and the second tab follows it again.
    await log_in(first, server.http_base, "kim")
    await wait_live(first)
    assert await is_leader(first) is True
    await notify_both(user, first, second, "Welcome back")
    assert await socket_count(user, 1) == 1
    # And the second tab, in line again, takes over when the first closes.
    await first.close()
    await second.wait_for_function("() => window.charityNotifications.connection.leading === true")
    sent = await api.anotify_user(user, kind="shift.changed", title="Still here", priority=api.CRITICAL)
    await expect(toasts_for(second, sent.pk)).to_contain_text("Still here")
