"""The help-request chat in a real browser: a visitor and a volunteer in two browser profiles."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import Page, Route, expect

from chat.models import Message
from tests.browser.conftest import answer_throttled, log_in, screenshot

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


async def ask_for_help(page: Page, base_url: str, name: str, description: str) -> str:
    await page.goto(f"{base_url}/help/new/")
    await page.fill("input[name=name]", name)
    await page.fill("textarea[name=description]", description)
    await page.locator("#main").get_by_role("button").first.click()
    await page.wait_for_url(re.compile(r"/help/[0-9a-f-]{36}/$"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


async def chat_live(page: Page) -> None:
    await expect(page.locator("#chat-connection")).to_have_attribute("data-state", re.compile("live|fallback"))


async def say(page: Page, text: str) -> None:
    await page.fill("#chat-body", text)
    await page.click("#chat-form button[type=submit]")


def bodies(page: Page) -> Any:
    return page.locator("#chat-log li[data-id] .chat-body")


async def test_visitor_and_volunteer_chat_both_ways(server: Any, new_context: Any, make_user: Any) -> None:
    await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "vera")
    await helper.goto(f"{server.http_base}/help/queue/")
    await expect(helper.locator("#queue-connection")).to_have_attribute("data-state", "live")

    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I need food for tonight.")
    await chat_live(visitor)
    await expect(visitor.locator("#chat-status")).to_have_text("Waiting: you are number 1 in the queue.")

    # The new request appears in the volunteer's queue without a reload; she takes it.
    row = helper.locator(f"#queue-rows tr[data-public-id='{public_id}']")
    await expect(row).to_contain_text("Alice")
    await screenshot(helper, "volunteer-queue")
    await row.get_by_role("button", name="Take").click()
    await helper.wait_for_url(re.compile(public_id))
    await chat_live(helper)

    await expect(visitor.locator("#chat-status")).to_have_attribute("data-status", "assigned")
    await expect(visitor.locator("#chat-presence")).to_contain_text("vera")
    await say(visitor, "Hello, is anyone there?")
    await expect(bodies(helper).filter(has_text="Hello, is anyone there?")).to_have_count(1)
    await helper.fill("#chat-body", "Yes")
    await expect(visitor.locator("#chat-typing")).to_contain_text("vera")
    await helper.click("#chat-form button[type=submit]")
    await expect(bodies(visitor).filter(has_text="Yes")).to_have_count(1)
    # The volunteer saw the visitor's message: the visitor gets a read receipt.
    await expect(visitor.locator("#chat-log li.mine .chat-receipt").first).to_contain_text("Seen by vera")
    await screenshot(visitor, "visitor-chat")
    await screenshot(helper, "volunteer-room")


async def test_queue_position_updates_live(server: Any, new_context: Any, make_user: Any) -> None:
    from chat import services
    from chat.models import HelpRequest

    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    first = await (await new_context()).new_page()
    second = await (await new_context()).new_page()
    first_id = await ask_for_help(first, server.http_base, "First", "Help one")
    await ask_for_help(second, server.http_base, "Second", "Help two")
    await chat_live(second)
    await expect(second.locator("#chat-status")).to_have_attribute("data-queue-position", "2")

    def claim() -> None:
        services.help_request_claim(help_request=HelpRequest.objects.get(public_id=first_id), user=vera)

    await database_sync_to_async(claim)()
    await expect(second.locator("#chat-status")).to_have_text("Waiting: you are number 1 in the queue.")


async def test_server_restart_mid_chat_loses_and_doubles_nothing(server: Any, new_context: Any, make_user: Any) -> None:
    await database_sync_to_async(make_user)("staffer", roles=("staff",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Bob", "Rent help")
    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "staffer")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(visitor)
    await chat_live(helper)
    await say(visitor, "before restart")
    await expect(bodies(helper).filter(has_text="before restart")).to_have_count(1)

    server.stop()
    await expect(visitor.locator("#chat-connection")).to_have_attribute(
        "data-state", re.compile("reconnecting|connecting")
    )
    # Typed while the server is down: queued, shown as sending, delivered once it is back.
    await say(visitor, "typed while down")
    await expect(visitor.locator("#chat-log li.pending")).to_contain_text("sending")
    server.start()
    await expect(visitor.locator("#chat-connection")).to_have_attribute("data-state", "live", timeout=45_000)
    await expect(helper.locator("#chat-connection")).to_have_attribute("data-state", "live", timeout=45_000)
    await expect(visitor.locator("#chat-log li.pending")).to_have_count(0)
    await say(helper, "after restart")
    for page in (visitor, helper):
        for text in ("before restart", "typed while down", "after restart"):
            await expect(bodies(page).filter(has_text=text)).to_have_count(1)
    ids = await visitor.locator("#chat-log li[data-id]").evaluate_all("items => items.map(i => i.dataset.id)")
    assert len(ids) == len(set(ids))


async def test_offline_browser_says_so_and_retries_when_back(server: Any, new_context: Any) -> None:
    context = await new_context()
    visitor = await context.new_page()
    await ask_for_help(visitor, server.http_base, "Cara", "Question")
    await chat_live(visitor)
    await context.set_offline(True)
    await visitor.evaluate("window.dispatchEvent(new Event('offline'))")
    await expect(visitor.locator("#chat-connection")).to_have_attribute("data-state", "offline")
    await context.set_offline(False)
    await visitor.evaluate("window.dispatchEvent(new Event('online'))")
    await chat_live(visitor)


async def test_visitor_html_is_shown_as_text_everywhere(server: Any, new_context: Any, make_user: Any) -> None:
    await database_sync_to_async(make_user)("staffer", roles=("staff",), is_superuser=True)
    dialogs: list[str] = []
    visitor = await (await new_context()).new_page()
    helper = await (await new_context()).new_page()
    for page in (visitor, helper):
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    evil = "<img src=x onerror=alert(1)>"
    public_id = await ask_for_help(visitor, server.http_base, evil, "<b>bold</b><script>alert(2)</script>")
    await log_in(helper, server.http_base, "staffer")
    await helper.goto(f"{server.http_base}/help/queue/")
    await expect(helper.locator(f"#queue-rows tr[data-public-id='{public_id}']")).to_contain_text(evil)
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)
    await chat_live(visitor)
    await say(visitor, "<script>alert(3)</script>")
    await expect(bodies(helper).filter(has_text="<script>alert(3)</script>")).to_have_count(1)
    for page in (visitor, helper):
        await expect(page.locator("#main img, #chat-log script, #main b")).to_have_count(0)
    await helper.goto(f"{server.http_base}/admin/chat/helprequest/")
    await expect(helper.locator("#result_list")).to_contain_text(evil)
    await expect(helper.locator("#result_list img")).to_have_count(0)
    assert dialogs == []


async def _chat_in_fallback(visitor: Page, base_url: str, helper: Page, helper_base: str) -> None:
    public_id = await ask_for_help(visitor, base_url, "Dee", "Blocked at work")
    await expect(visitor.locator("#chat-connection")).to_have_attribute("data-state", "fallback", timeout=30_000)
    await expect(visitor.locator("#chat-connection")).to_have_text("Live (fallback mode)")
    await log_in(helper, helper_base, "staffer")
    await helper.goto(f"{helper_base}/help/{public_id}/")
    await chat_live(helper)
    await expect(visitor.locator("#chat-presence")).to_contain_text("staffer")
    await say(visitor, "sent over HTTP POST")
    await expect(bodies(helper).filter(has_text="sent over HTTP POST")).to_have_count(1)
    await expect(visitor.locator("#chat-log li.pending")).to_have_count(0)
    await say(helper, "received over SSE")
    await expect(bodies(visitor).filter(has_text="received over SSE")).to_have_count(1)
    # The visitor read it (POST read/): the helper's message gets its receipt.
    await expect(helper.locator("#chat-log li.mine .chat-receipt").first).to_contain_text("Seen by Dee")
    for page in (visitor, helper):
        ids = await page.locator("#chat-log li[data-id]").evaluate_all("items => items.map(i => i.dataset.id)")
        assert len(ids) == len(set(ids))


async def test_chat_works_when_the_browser_has_no_websocket(server: Any, new_context: Any, make_user: Any) -> None:
    await database_sync_to_async(make_user)("staffer", roles=("staff",))
    context = await new_context()
    await context.add_init_script("delete window.WebSocket;")
    visitor = await context.new_page()
    helper = await (await new_context()).new_page()
    await _chat_in_fallback(visitor, server.http_base, helper, server.http_base)


async def test_chat_works_when_a_proxy_blocks_websockets(
    server: Any, blocking_proxy: Any, new_context: Any, make_user: Any
) -> None:
    await database_sync_to_async(make_user)("staffer", roles=("staff",))
    visitor = await (await new_context()).new_page()
    helper = await (await new_context()).new_page()
    await _chat_in_fallback(visitor, f"http://127.0.0.1:{blocking_proxy.port}", helper, server.http_base)
    assert blocking_proxy.refused >= 3


async def test_a_message_refused_for_rate_stays_pending_and_goes_out_after_retry_after(
    server: Any, new_context: Any
) -> None:
    """In fallback mode messages are POSTs: a 429 keeps the message and sends it again, once."""
    context = await new_context()
    await context.add_init_script("delete window.WebSocket;")
    visitor = await context.new_page()
    refused: list[str] = []

    async def refuse_the_first_post(route: Route) -> None:
        if route.request.method == "POST" and not refused:
            refused.append(route.request.post_data or "")
            await answer_throttled(route, 2)
        else:
            await route.continue_()

    await visitor.route("**/api/help-requests/*/messages/", refuse_the_first_post)
    public_id = await ask_for_help(visitor, server.http_base, "Dee", "Blocked at work")
    await expect(visitor.locator("#chat-connection")).to_have_attribute("data-state", "fallback", timeout=30_000)
    await say(visitor, "kept through a 429")
    await expect(visitor.locator("#chat-error")).to_contain_text("Sending too fast")
    await expect(visitor.locator("#chat-log li.pending")).to_have_count(1)
    await expect(bodies(visitor).filter(has_text="kept through a 429")).to_have_count(1, timeout=10_000)
    await expect(visitor.locator("#chat-log li.pending")).to_have_count(0)
    assert len(refused) == 1 and "kept through a 429" in refused[0]
    stored = await database_sync_to_async(
        lambda: list(Message.objects.filter(help_request__public_id=public_id).values_list("body", flat=True))
    )()
    assert stored.count("kept through a 429") == 1
