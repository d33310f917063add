"""The helper's desk on the queue page: unread counts live, and alerts while the tab is hidden."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from chat import services
from chat.models import HelpRequest
from tests.browser.conftest import log_in
from tests.browser.test_chat_pages import ask_for_help, chat_live, say

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]

# A tab in the background, and a Notification API that records what it was asked to show.
HIDDEN_TAB_WITH_RECORDED_NOTIFICATIONS = """
Object.defineProperty(document, "visibilityState", { get: function () { return "hidden"; } });
window.__notes = [];
window.Notification = function (title, options) { window.__notes.push({ title: title, body: options.body }); };
window.Notification.permission = "default";
window.Notification.requestPermission = function () {
  window.Notification.permission = "granted";
  return Promise.resolve("granted");
};
"""


@database_sync_to_async
def take(public_id: str, helper: Any) -> None:
    services.help_request_claim(help_request=HelpRequest.objects.get(public_id=public_id), user=helper)


async def test_unread_counts_and_alerts_reach_the_helper_on_her_desk(
    server: Any, new_context: Any, make_user: Any
) -> None:
    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "Food please.")
    await take(public_id, vera)
    await chat_live(visitor)

    desk = await (await new_context()).new_page()
    await desk.add_init_script(HIDDEN_TAB_WITH_RECORDED_NOTIFICATIONS)
    await log_in(desk, server.http_base, "vera")
    await desk.goto(f"{server.http_base}/help/queue/")
    await expect(desk.locator("#queue-connection")).to_have_attribute("data-state", "live")
    row = desk.locator(f"#desk-rooms li[data-public-id='{public_id}']")
    await expect(row).to_contain_text("no unread messages")

    alerts = desk.get_by_role("button", name="Turn on alerts")
    await alerts.click()
    await expect(desk.locator("#desk-alerts")).to_have_attribute("aria-pressed", "true")
    await expect(desk.locator("#desk-alerts-status")).to_contain_text("desktop notification")

    await say(visitor, "my private words")
    await expect(row).to_contain_text("1 unread message")
    await expect(desk).to_have_title(re.compile(r"^\(1\) "))
    notes = await desk.evaluate("window.__notes")
    assert notes == [{"title": "New message in a help request", "body": "From Alice"}]

    # Reading the conversation in another tab clears the count here.
    room = await desk.context.new_page()
    await room.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(room)
    await expect(row).to_contain_text("no unread messages")
    await expect(desk).not_to_have_title(re.compile(r"^\("))
