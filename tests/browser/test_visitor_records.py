"""The visitor's records in a real browser: deleting the conversation after confirming, seen live by
the helper in the room."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from chat.models import HelpRequest, Message
from tests.browser.conftest import log_in
from tests.browser.test_chat_pages import ask_for_help, bodies, chat_live, say

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


async def test_the_visitor_deletes_the_conversation_and_the_helper_sees_it_live(
    server: Any, new_context: Any, make_user: Any
) -> None:
    from chat import services

    sam = await database_sync_to_async(make_user)("sam", roles=("staff",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I need food for tonight.")
    request = await database_sync_to_async(HelpRequest.objects.get)(public_id=public_id)
    await database_sync_to_async(services.help_request_claim)(help_request=request, user=sam)
    await chat_live(visitor)
    await say(visitor, "Please delete this afterwards.")

    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "sam")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)
    await expect(bodies(helper).filter(has_text="Please delete this afterwards.")).to_have_count(1)

    # The link leads to a confirmation page; the keyboard alone gets through it.
    await visitor.get_by_role("link", name="Delete my conversation").focus()
    await visitor.keyboard.press("Enter")
    await visitor.wait_for_url(re.compile(r"/delete/$"))
    await expect(visitor.get_by_role("heading", level=1)).to_have_text("Delete your conversation?")
    await visitor.get_by_role("button", name="Yes, delete my conversation").focus()
    await visitor.keyboard.press("Enter")

    await visitor.wait_for_url(re.compile(r"/help/new/$"))
    await expect(visitor.locator("#main")).to_contain_text("Your conversation has been deleted.")
    await expect(helper.locator("#chat-erased")).to_have_text("The visitor deleted this conversation.")
    await expect(bodies(helper)).to_have_count(0)
    await expect(helper.locator("#chat-body")).to_be_disabled()
    assert not await database_sync_to_async(Message.objects.filter(help_request__public_id=public_id).exists)()
