"""realtime.js's own rules, in a real browser: backoff, fatal close codes, dead-socket detection."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import Route, expect

from notifications import api
from tests.browser.conftest import log_in, wait_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


async def test_backoff_starts_near_a_second_and_caps_near_thirty(server: Any, new_context: Any) -> None:
    page = await (await new_context()).new_page()
    await page.goto(f"{server.http_base}/help/new/")
    delays = await page.evaluate(
        """() => [0, 1, 2, 5, 10, 20].map(attempt =>
             Array.from({length: 200}, () => CharityRealtime.backoffDelay(attempt, 1000, 30000)))"""
    )
    first, second, *_, last = delays
    assert 500 <= min(first) and max(first) <= 1000
    assert 1000 <= min(second) and max(second) <= 2000
    assert 15000 <= min(last) and max(last) <= 30000
    assert len({round(delay) for delay in first}) > 50  # jittered, not a fixed delay


async def test_not_found_room_stops_retrying_and_says_why(server: Any, new_context: Any) -> None:
    page = await (await new_context()).new_page()
    await page.goto(f"{server.http_base}/help/new/")
    await page.add_script_tag(url=f"{server.http_base}/static/chat/room.js")
    result = await page.evaluate(
        """(publicId) => new Promise(resolve => {
             const states = [];
             new CharityRealtime.ChatRoom({publicId, onState: (state, detail) => {
               states.push(state);
               if (state === "stopped") setTimeout(() => resolve({states, detail}), 2500);
             }}).start();
           })""",
        str(uuid.uuid4()),
    )
    assert result["detail"]["code"] == 4404 and result["detail"]["reason"] == "Not found."
    # Stopped means stopped: no further connection attempts after it.
    assert result["states"].count("stopped") == 1 and result["states"][-1] == "stopped"


async def test_anonymous_notification_stream_stops_with_4401(server: Any, new_context: Any) -> None:
    page = await (await new_context()).new_page()
    await page.goto(f"{server.http_base}/help/new/")
    detail = await page.evaluate(
        """() => new Promise(resolve => new CharityRealtime.NotificationStream({
             onState: (state, detail) => { if (state === "stopped") resolve(detail); }}).start())"""
    )
    assert detail["code"] == 4401 and detail["reason"] == "Please log in."


async def test_silently_dead_connection_is_detected_and_replaced(
    server: Any, forwarding_proxy: Any, new_context: Any, make_user: Any
) -> None:
    user = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    context = await new_context()
    # Production pings every 20 s and gives up after 45 s; the same code with shorter timings here.
    await context.add_init_script("window.CHARITY_REALTIME_OPTIONS = {heartbeatMs: 500, deadAfterMs: 2000};")
    page = await context.new_page()
    base = f"http://127.0.0.1:{forwarding_proxy.port}"
    await log_in(page, base, "vera")
    await wait_live(page)
    states: list[str] = []

    def record(state: str) -> None:
        states.append(state)

    await page.expose_function("recordState", record)
    await page.evaluate(
        """() => new MutationObserver(() => recordState(document.getElementById('rt-status').dataset.state))
             .observe(document.getElementById('rt-status'), {attributes: true})"""
    )
    forwarding_proxy.black_hole()  # the network path dies; nobody closes the socket
    # The client notices (2 s without a pong), drops the socket and connects again, which can take
    # less than a poll of the status: read what the observer recorded rather than poll it.
    async with asyncio.timeout(15):
        while "live" not in states:
            await asyncio.sleep(0.05)
    assert states[0] in {"reconnecting", "connecting"}, states
    await wait_live(page)
    sent = await api.anotify_user(user, kind="test.after", title="After the dead socket")
    await expect(page.locator(f"#rt-toasts [data-notification-id='{sent.pk}']")).to_have_count(1)


async def test_a_stream_refused_with_4429_is_opened_again_later(server: Any, new_context: Any, make_user: Any) -> None:
    """Too many connections is not for good: the SSE fallback waits, then opens the stream again."""
    await database_sync_to_async(make_user)("streamer", roles=("volunteer",))
    context = await new_context()
    await context.add_init_script("delete window.WebSocket; window.CHARITY_REALTIME_OPTIONS = {maxDelayMs: 2000};")
    page = await context.new_page()
    requests: list[str] = []

    async def refuse_the_first(route: Route) -> None:
        requests.append(route.request.url)
        if len(requests) == 1:
            await route.fulfill(
                status=200,
                headers={"Content-Type": "text/event-stream"},
                body='data: {"type": "error", "code": "rate_limited", "detail": "slow down"}\n\n'
                'event: close\ndata: {"code": 4429}\n\n',
            )
        else:
            await route.continue_()

    await page.route(re.compile(r".*/sse/notifications/.*"), refuse_the_first)
    await log_in(page, server.http_base, "streamer")
    await expect(page.locator("#rt-status")).to_have_attribute("data-state", "fallback", timeout=15_000)
    assert len(requests) >= 2
