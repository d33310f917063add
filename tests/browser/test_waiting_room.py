"""The visitor's waiting room in a real browser: the place and estimate while waiting, "X is helping"
once claimed, and the form's "Leave a message" with the alternatives when nobody is on duty."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from playwright.async_api import expect

from chat.models import Alternative, AlternativeKind, HelpRequest, Status
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_chat_pages import ask_for_help, chat_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


def answered_history(count: int, wait_minutes: int) -> None:
    replied = timezone.now() - timedelta(hours=1)
    for _ in range(count):
        HelpRequest.objects.create(
            name="Past",
            description="…",
            status=Status.RESOLVED,
            created_at=replied - timedelta(minutes=wait_minutes),
            first_reply_at=replied,
        )


async def test_visitor_sees_place_and_estimate_until_a_helper_claims(
    server: Any, new_context: Any, make_user: Any
) -> None:
    await database_sync_to_async(answered_history)(5, 10)
    await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "vera")
    await helper.goto(f"{server.http_base}/help/queue/")
    await expect(helper.locator("#queue-connection")).to_have_attribute("data-state", "live")

    visitor = await (await new_context()).new_page()
    await visitor.goto(f"{server.http_base}/help/new/")
    await expect(visitor.locator("#main button[type=submit]")).to_have_text("Send my request")
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I need food for tonight.")
    await chat_live(visitor)
    await expect(visitor.locator("#chat-status")).to_have_text("Waiting: you are number 1 in the queue.")
    await expect(visitor.locator("#chat-wait")).to_have_text("Estimated wait: about 10 to 15 minutes.")
    await expect(visitor.locator(".emergency-band")).to_be_visible()
    await expect(visitor.locator("#chat-urgent")).to_be_hidden()
    await screenshot(visitor, "visitor-waiting-room")

    row = helper.locator(f"#queue-rows tr[data-public-id='{public_id}']")
    await row.get_by_role("button", name="Take").click()
    await helper.wait_for_url(re.compile(public_id))
    await expect(visitor.locator("#chat-status")).to_have_text("vera (volunteer) is helping.")
    await expect(visitor.locator("#chat-wait")).to_be_hidden()


async def test_with_nobody_on_duty_the_form_offers_to_leave_a_message(server: Any, new_context: Any) -> None:
    def alternatives() -> None:
        Alternative.objects.create(name="Emergency services", kind=AlternativeKind.EMERGENCY, phone="999")
        Alternative.objects.create(name="Nightline", kind=AlternativeKind.PHONE, phone="0800 123 456", order=1)

    await database_sync_to_async(alternatives)()
    visitor = await (await new_context()).new_page()
    await visitor.goto(f"{server.http_base}/help/new/")
    await expect(visitor.get_by_role("heading", name="Nobody is available right now")).to_be_visible()
    await expect(visitor.locator("#helpline-offline")).to_contain_text("Nightline")
    await expect(visitor.get_by_role("link", name="999")).to_have_attribute("href", "tel:999")
    submit = visitor.locator("#main button[type=submit]")
    await expect(submit).to_have_text("Leave a message")
    await screenshot(visitor, "visitor-leave-a-message")
    await visitor.fill("input[name=name]", "Alice")
    await visitor.fill("textarea[name=description]", "Call me tomorrow, please.")
    await submit.click()
    await visitor.wait_for_url(re.compile(r"/help/[0-9a-f-]{36}/$"))
    await chat_live(visitor)
    await expect(visitor.locator("#chat-wait")).to_have_text(
        "Nobody is available right now; your message is saved and someone will answer as soon as a volunteer is free."
    )
    await expect(visitor.locator("#chat-alternatives")).to_contain_text("Nightline")
