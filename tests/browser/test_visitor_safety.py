"""The visitor's pages in a real browser: the quick exit, phone-sized screens, and an axe-core audit
(docs/safeguarding.md). The neutral page the exit goes to is answered here: no real network."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import BrowserContext, Page, Route, expect

from chat import services
from chat.app_settings import app_settings
from chat.models import HelpRequest
from chat.participants import user_participant
from tests.browser.conftest import assert_accessible, assert_no_sideways_scroll
from tests.browser.test_chat_pages import ask_for_help, bodies, chat_live, say

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]
NEUTRAL = app_settings.QUICK_EXIT_URL
PHONE = {"width": 360, "height": 640}
LONG_WORD = "Help" * 60
LONG_URL = "https://example.org/" + "a-very-long-path/" * 20


async def neutral_site(context: BrowserContext) -> None:
    """Answer the quick exit's neutral page in the test, like the real one would: plain content."""

    async def answer(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body="<title>Weather</title><h1>Weather</h1>")

    await context.route(re.compile(re.escape(NEUTRAL.split("://", 1)[1].split("/", 1)[0])), answer)


async def chatting_visitor(server: Any, new_context: Any, **context_options: Any) -> tuple[Page, str]:
    context = await new_context(**context_options)
    await neutral_site(context)
    page = await context.new_page()
    public_id = await ask_for_help(page, server.http_base, "Alice", "I am scared to go home.")
    await chat_live(page)
    await say(page, "He checks my phone every night.")
    await expect(bodies(page).filter(has_text="He checks my phone")).to_have_count(1)
    # The chat client keeps its cursor (and would keep unsent messages) in sessionStorage.
    assert await page.evaluate(f"() => sessionStorage.getItem('charity.chat.{public_id}')") is not None
    return page, public_id


async def assert_left_for_good(page: Page, public_id: str) -> None:
    await page.wait_for_url(NEUTRAL)
    await page.go_back()
    # Back skips the conversation: its history entry was replaced by the neutral page.
    assert public_id not in page.url
    await expect(page.locator("body")).not_to_contain_text("checks my phone")
    kept = await page.evaluate("() => [Object.keys(sessionStorage), Object.keys(localStorage)]")
    assert kept == [[], []], f"left in the browser's storage: {kept}"
    # The conversation's page, reopened from the browser's history, shows nothing of it: the site
    # was told to forget this browser's requests.
    base = page.url.split("/help/", 1)[0]
    answer = await page.goto(f"{base}/help/{public_id}/")
    assert answer is not None and answer.status == 403
    await expect(page.get_by_role("heading", name="This conversation cannot be opened here")).to_be_visible()


async def test_leave_this_site_replaces_the_page_and_wipes_storage(server: Any, new_context: Any) -> None:
    page, public_id = await chatting_visitor(server, new_context)
    await page.get_by_role("link", name=re.compile("Leave this site")).click()
    await assert_left_for_good(page, public_id)


async def test_escape_twice_leaves_too(server: Any, new_context: Any) -> None:
    page, public_id = await chatting_visitor(server, new_context)
    await page.focus("#chat-body")  # wherever the visitor is typing
    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await assert_left_for_good(page, public_id)


async def test_quick_exit_is_first_in_keyboard_order_and_works_without_javascript(
    server: Any, new_context: Any
) -> None:
    context = await new_context(java_script_enabled=False)
    await neutral_site(context)
    page = await context.new_page()
    await page.goto(f"{server.http_base}/help/new/")
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.id") == "quick-exit"
    await page.keyboard.press("Enter")
    await page.wait_for_url(NEUTRAL)


async def test_visitor_pages_fit_a_phone_and_pass_the_audit(server: Any, new_context: Any, make_user: Any) -> None:
    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    context = await new_context(viewport=PHONE)
    page = await context.new_page()
    for path, what in (("/", "the home page"), ("/help/new/", "the help form")):
        await page.goto(f"{server.http_base}{path}")
        await assert_no_sideways_scroll(page, what)
        await assert_accessible(page, what)

    public_id = await ask_for_help(page, server.http_base, "Alice", LONG_WORD)
    await chat_live(page)
    await expect(page.locator("#chat-status")).to_contain_text("number 1 in the queue")
    await assert_no_sideways_scroll(page, "the visitor's page, waiting")
    await assert_accessible(page, "the visitor's page, waiting")

    def take_and_answer() -> None:
        help_request = HelpRequest.objects.get(public_id=public_id)
        services.help_request_claim(help_request=help_request, user=vera)
        for number in range(30):
            services.message_post(
                help_request_id=help_request.pk,
                participant=user_participant(vera),
                body=f"Message {number}: {LONG_URL} {LONG_WORD}",
                client_id=f"c{number}",
            )

    await database_sync_to_async(take_and_answer)()
    await expect(page.locator("#chat-status")).to_have_text("vera (volunteer) is helping.")
    await expect(page.locator("#chat-status")).to_have_attribute("data-queue-position", "")
    await expect(page.locator("#main")).not_to_contain_text("in the queue")
    # A queue-position frame sent before vera took the request may arrive after: it changes nothing.
    await page.evaluate(
        """() => window.charityChat._onFrame(
             {type: "status", status: "waiting", queue_position: 2, assigned_to: null})"""
    )
    await expect(page.locator("#chat-status")).to_have_text("vera (volunteer) is helping.")
    await expect(bodies(page).filter(has_text="Message ")).to_have_count(30)
    await say(page, LONG_URL)
    await expect(page.locator("#chat-log li.mine")).to_have_count(1)
    await assert_no_sideways_scroll(page, "the visitor's page, in conversation")
    await assert_accessible(page, "the visitor's page, in conversation")
    # The quick exit stays in view at the end of a long page.
    await page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    await expect(page.locator("#quick-exit")).to_be_in_viewport()

    other = await (await new_context(viewport=PHONE)).new_page()
    response = await other.goto(f"{server.http_base}/help/{public_id}/")
    assert response is not None and response.status == 403
    await expect(other.get_by_role("link", name="Ask for help again")).to_be_visible()
    await assert_no_sideways_scroll(other, "the refusal page")
    await assert_accessible(other, "the refusal page")


async def test_the_link_is_copied_and_messages_are_announced(server: Any, new_context: Any) -> None:
    context = await new_context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.http_base)
    page = await context.new_page()
    await ask_for_help(page, server.http_base, "Alice", "Help")
    await page.get_by_role("button", name="Copy link").click()
    await expect(page.locator("#copy-link-status[role=status]")).to_have_text(re.compile("^Link copied"))
    copied = await page.evaluate("() => navigator.clipboard.readText()")
    assert copied == await page.locator("#private-link").input_value() and "?token=" in copied
    log = page.locator("[role=log]")
    await expect(log).to_have_attribute("aria-live", "polite")
    await say(page, "Is anyone there?")
    await expect(log.locator("#chat-log li[data-id]")).to_contain_text("Is anyone there?")


async def test_shutdown_closes_the_connections_and_keeps_nothing_more(server: Any, new_context: Any) -> None:
    """What the quick exit asks of realtime.js before wiping storage: nothing open, nothing written."""
    page = await (await new_context()).new_page()
    await ask_for_help(page, server.http_base, "Alice", "Help")
    await chat_live(page)
    result = await page.evaluate(
        """() => {
             const socket = window.charityChat.connection.socket;
             CharityRealtime.shutdown();
             CharityRealtime.store.set("charity.after-exit", 1);
             const stored = sessionStorage.getItem("charity.after-exit");
             return [window.charityChat.connection.stopped, socket.readyState, stored];
           }"""
    )
    assert result == [True, 2, None]  # stopped, its socket closing (WebSocket.CLOSING), nothing stored
