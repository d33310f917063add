"""Canned replies in the helper's room, with the keyboard only: "/" and letters, arrows, Enter."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from chat import services
from chat.models import CannedReply, HelpRequest
from tests.browser.conftest import log_in
from tests.browser.test_chat_pages import ask_for_help, bodies, chat_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


@database_sync_to_async
def prepare(public_id: str, helper: Any) -> None:
    CannedReply.objects.create(title="Food bank hours", text="Hi {visitor}, the food bank opens at 10.")
    CannedReply.objects.create(title="Housing advice", text="{helper} here: let's look at housing.")
    services.help_request_claim(help_request=HelpRequest.objects.get(public_id=public_id), user=helper)


async def test_a_helper_inserts_edits_and_sends_a_canned_reply(server: Any, new_context: Any, make_user: Any) -> None:
    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "Food please.")
    await prepare(public_id, vera)
    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "vera")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)
    await chat_live(visitor)

    box = helper.locator("#chat-body")
    await box.focus()
    await helper.keyboard.type("/hous")
    suggestions = helper.get_by_role("listbox", name="Canned replies matching what you typed")
    await expect(suggestions.get_by_role("option")).to_have_count(1)
    await expect(helper.locator("#canned-announce")).to_contain_text("1 reply matches")
    await helper.keyboard.press("Enter")
    await expect(box).to_have_value("vera here: let's look at housing.")
    await expect(suggestions).to_be_hidden()
    # Inserted, not sent: the visitor has seen nothing of it.
    await expect(bodies(visitor).filter(has_text="housing")).to_have_count(0)

    await helper.keyboard.press("Control+A")
    await helper.keyboard.type("/")
    await expect(suggestions.get_by_role("option")).to_have_count(2)
    await helper.keyboard.press("ArrowDown")
    await expect(suggestions.get_by_role("option", selected=True)).to_contain_text("Housing advice")
    await helper.keyboard.press("ArrowUp")
    await helper.keyboard.press("Enter")
    await expect(box).to_have_value("Hi Alice, the food bank opens at 10.")
    await helper.keyboard.type(" See you there!")
    await helper.click("#chat-form button[type=submit]")
    await expect(bodies(visitor).filter(has_text="Hi Alice, the food bank opens at 10. See you there!")).to_have_count(
        1
    )
