"""The automated accessibility audit (axe-core) on the pages volunteers, staff and donors use:
the queue and desk, a room (notes, canned replies, the urgent banner, handover), watching, the control
room, notification preferences; and the visitor's pages after the conversation (feedback, deleting)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import CannedReply, HelpRequest
from chat.participants import user_participant
from tests.browser.conftest import assert_accessible, assert_no_sideways_scroll, log_in
from tests.browser.test_chat_pages import ask_for_help, chat_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


@database_sync_to_async
def busy_helpline(public_id: str, vera: Any, sam: Any) -> None:
    CannedReply.objects.create(title="Welcome", text="Hello {visitor}, I'm {helper}.")
    help_request = HelpRequest.objects.get(public_id=public_id)
    services.help_request_claim(help_request=help_request, user=vera)
    services.help_request_set_urgent(help_request=help_request, urgent=True, reason="Mentions pills", by=vera)
    services.note_post(help_request_id=help_request.pk, participant=user_participant(sam), body="I am watching too")
    services.help_request_create(name="Bob", description="Rent is due.")


@database_sync_to_async
def resolve(public_id: str, vera: Any) -> None:
    services.help_request_resolve(help_request=HelpRequest.objects.get(public_id=public_id), by=user_participant(vera))


async def test_the_helpers_pages_pass_the_audit(server: Any, new_context: Any, make_user: Any) -> None:
    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))
    sam = await database_sync_to_async(make_user)("sam", roles=("staff",), is_superuser=True)
    await database_sync_to_async(make_user)("dana", roles=("donor",))
    visitor = await (await new_context()).new_page()
    public_id = await ask_for_help(visitor, server.http_base, "Alice", "I need food for tonight.")
    await busy_helpline(public_id, vera, sam)

    helper = await (await new_context()).new_page()
    await log_in(helper, server.http_base, "vera")
    await helper.goto(f"{server.http_base}/help/queue/")
    await assert_accessible(helper, "the queue and the helper's desk")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await chat_live(helper)
    await assert_accessible(helper, "a helper's room (notes, canned replies, urgent banner, handover)")
    await helper.set_viewport_size({"width": 360, "height": 640})
    await assert_no_sideways_scroll(helper, "a helper's room on a phone")
    await helper.goto(f"{server.http_base}/notifications/preferences/")
    await assert_accessible(helper, "notification preferences")

    staff = await (await new_context()).new_page()
    await log_in(staff, server.http_base, "sam")
    await staff.goto(f"{server.http_base}/help/{public_id}/?mode=watch")
    await chat_live(staff)
    await assert_accessible(staff, "watching a room")
    await staff.goto(f"{server.http_base}/admin/")
    await staff.wait_for_selector("#cr-conversations tbody tr")
    await assert_accessible(staff, "the control room")

    donor = await (await new_context()).new_page()
    await log_in(donor, server.http_base, "dana")
    await donor.goto(f"{server.http_base}/notifications/preferences/")
    await assert_accessible(donor, "a donor's notification preferences")

    await resolve(public_id, vera)
    await visitor.goto(f"{server.http_base}/help/{public_id}/")
    await assert_accessible(visitor, "the visitor's page after resolution (feedback)")
    await visitor.goto(f"{server.http_base}/help/{public_id}/delete/")
    await assert_accessible(visitor, "the visitor's delete confirmation")
    await helper.goto(f"{server.http_base}/help/{public_id}/")
    await assert_accessible(helper, "a helper's room after an urgent conversation (debrief)")
