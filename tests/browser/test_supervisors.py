"""Supervisors in a real browser: staff watch a live room from the control room (not in the visitor's
presence), whisper to the helper (never on the visitor's page), then join (the visitor sees it)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from tests.browser.conftest import log_in, screenshot
from tests.browser.test_chat_pages import ask_for_help, bodies, chat_live, say

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]

WHISPER = "Gently ask whether she is safe tonight"


async def test_staff_watch_whisper_then_join(server: Any, new_context: Any, make_user: Any) -> None:
    from chat import services

    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    await database_sync_to_async(make_user)("sam", roles=("staff",))

    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I need food for tonight.")
    await chat_live(visitor)
    claim = database_sync_to_async(services.help_request_claim)
    await claim(help_request=await database_sync_to_async(_help_request)(public_id), user=vera)

    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "vera")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)
    await expect(visitor.locator("#chat-presence")).to_contain_text("vera")
    await say(visitor, "Hello?")

    # The control room lists the live conversation with a "Watch" link.
    staff = await (await new_context()).new_page()
    await log_in(staff, server.http_base, "sam")
    await staff.goto(f"{server.http_base}/admin/")
    row = staff.locator(f"#cr-conversations tr[data-public-id='{public_id}']")
    await expect(row).to_contain_text("Alice")
    await expect(row).to_contain_text("vera")
    await screenshot(staff, "control-room-conversations")
    await row.get_by_role("link", name="Watch the conversation with Alice").click()
    await staff.wait_for_url(re.compile(r"mode=watch"))
    await chat_live(staff)
    await expect(bodies(staff).filter(has_text="Hello?")).to_have_count(1)
    await expect(staff.locator("#chat-form")).to_have_count(0)  # read-only
    await expect(staff.locator("#chat-presence")).to_contain_text("Alice")

    # Watching live; the visitor's presence never lists the watcher.
    await say(visitor, "Are you there?")
    await expect(bodies(staff).filter(has_text="Are you there?")).to_have_count(1)
    await expect(visitor.locator("#chat-presence")).not_to_contain_text("sam")

    # The whisper: an internal note the helper gets live; the visitor's page never shows it.
    await staff.fill("#note-body", WHISPER)
    await staff.get_by_role("button", name="Add note").click()
    await expect(helper.locator("#notes-log")).to_contain_text(WHISPER)
    await screenshot(staff, "supervisor-watching")
    await helper.fill("#chat-body", "Yes, I'm here")
    await helper.click("#chat-form button[type=submit]")
    await expect(bodies(visitor).filter(has_text="Yes, I'm here")).to_have_count(1)
    assert WHISPER not in await visitor.content()
    await expect(visitor.locator("#chat-presence")).not_to_contain_text("sam")

    # Join: the visitor sees the system message and the supervisor's presence.
    await staff.get_by_role("button", name="Join the conversation").click()
    await staff.wait_for_url(f"{server.http_base}/help/{public_id}/")
    await chat_live(staff)
    await expect(bodies(visitor).filter(has_text="A supervisor joined the conversation.")).to_have_count(1)
    await expect(visitor.locator("#chat-presence")).to_contain_text("sam")
    await say(staff, "Hello Alice, I'm Sam")
    await expect(bodies(visitor).filter(has_text="I'm Sam")).to_have_count(1)
    assert WHISPER not in await visitor.content()
    await screenshot(helper, "volunteer-room-notes")


def _help_request(public_id: str) -> Any:
    from chat.models import HelpRequest

    return HelpRequest.objects.get(public_id=public_id)
