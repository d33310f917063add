"""The risk list in the browser: a visitor's words flag the request; the visitor sees the emergency
text at once (never why), the helper sees the Urgent banner and the reason in the notes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from chat import services
from chat.models import HelpRequest, RiskTerm
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_chat_pages import ask_for_help, chat_live, say

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


@database_sync_to_async
def prepare(public_id: str, helper: Any) -> None:
    # A transactional test's database has no data-migration rows: the list this test relies on.
    RiskTerm.objects.get_or_create(phrase="overdose", defaults={"severity": 3})
    services.help_request_claim(help_request=HelpRequest.objects.get(public_id=public_id), user=helper)


async def test_a_visitors_words_on_the_risk_list_show_the_emergency_text_and_the_banner(
    server: Any, new_context: Any, make_user: Any
) -> None:
    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I feel low.")
    await prepare(public_id, vera)
    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "vera")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)
    await chat_live(visitor)
    urgent_text = visitor.locator("#chat-urgent")
    banner = helper.locator("#urgent-banner")
    await expect(urgent_text).to_be_hidden()
    await expect(banner).to_be_hidden()

    await say(visitor, "I think I took an overdose")
    await expect(urgent_text).to_be_visible()
    await expect(banner).to_be_visible()
    await expect(helper.locator("#notes-log")).to_contain_text(re.compile("Urgent .*overdose"))
    # The flag form now offers to clear it (a press would otherwise "flag" it again).
    await expect(helper.locator("#urgent-button")).to_have_text("Clear the flag")
    await expect(helper.locator("#urgent-value")).to_have_value("false")
    # The visitor's page says what to do, never why it was flagged.
    assert "Risk list" not in await visitor.content()
    await screenshot(helper, "helper-urgent-room")
