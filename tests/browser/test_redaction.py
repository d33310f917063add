"""Redaction in a real browser: staff remove a message's text over the API while the visitor and a
helper have the room open; both pages replace it live, in words (not only by style)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from chat.models import REDACTED_BODY, Message
from tests.browser.conftest import log_in
from tests.browser.test_chat_pages import ask_for_help, bodies, chat_live, say

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]

ADDRESS = "I live at 12 Secret Lane"


async def test_a_redaction_replaces_the_text_on_every_open_page(server: Any, new_context: Any, make_user: Any) -> None:
    await database_sync_to_async(make_user)("sam", roles=("staff",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I need somewhere to stay.")
    await chat_live(visitor)
    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "sam")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)

    await say(visitor, ADDRESS)
    await say(visitor, "Can someone help?")
    for page in (visitor, helper):
        await expect(bodies(page).filter(has_text="Secret Lane")).to_have_count(1)
    message = await database_sync_to_async(Message.objects.get)(body=ADDRESS)

    # Staff redact through the REST endpoint, from the helper's page (its session and CSRF token).
    status = await helper.evaluate(
        """(url) => window.CharityRealtime.postJson(url, {reason: "The visitor typed their address."})
                .then(() => 200, (error) => error.status)""",
        f"/api/help-requests/{public_id}/messages/{message.pk}/redact/",
    )
    assert status == 200

    for page in (visitor, helper):
        item = page.locator(f"#chat-log li[data-id='{message.pk}']")
        await expect(item.locator(".chat-body")).to_have_text(REDACTED_BODY)
        await expect(item).to_have_class(re.compile(r"\bredacted\b"))
        await expect(item).to_contain_text("(text removed by staff)")
        await expect(page.locator("#chat-log")).not_to_contain_text("Secret Lane")
        await expect(bodies(page).filter(has_text="Can someone help?")).to_have_count(1)
