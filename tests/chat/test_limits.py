"""The limits that protect volunteers and visitors (docs/helpline.md): the per-helper cap, the sweep
(unanswered claims, idle conversations), blocks, and visitors' feedback. Time is passed explicitly
(``sweep(now=...)``): nothing sleeps."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from charity.roles import Role
from chat import blocks, selectors, services, sweep, visitors
from chat.events import CAPACITY
from chat.models import Feedback, HelperLimit, HelpRequest, Message, Status, VisitorBlock
from chat.participants import user_participant, visitor_participant
from notifications.models import Recipient
from realtime import groups
from tests.chat.conftest import open_help_request

pytestmark = pytest.mark.django_db(transaction=True)


def create(name: str = "Alice", **kwargs: Any) -> HelpRequest:
    return services.help_request_create(name=name, description="Need help", **kwargs)


def say(help_request: HelpRequest, participant: Any, body: str = "hello") -> Message:
    message, _ = services.message_post(
        help_request_id=help_request.pk, participant=participant, body=body, client_id=uuid.uuid4().hex
    )
    return message


def later(seconds: float) -> Any:
    return timezone.now() + timedelta(seconds=seconds)


# -- the cap -------------------------------------------------------------------------------------------


def test_a_helper_at_the_cap_cannot_take_another(make_user: Any, settings: Any) -> None:
    settings.CHAT_MAX_ACTIVE_PER_HELPER = 2
    vera = make_user(roles=(Role.VOLUNTEER,))
    first, second, third = create(), create(), create()
    services.help_request_claim(help_request=first, user=vera)
    services.help_request_claim(help_request=second, user=vera)
    with pytest.raises(services.ChatError) as refused:
        services.help_request_claim(help_request=third, user=vera)
    assert refused.value.code == "at_capacity" and "limit of 2" in str(refused.value.detail)
    third.refresh_from_db()
    assert third.status == Status.WAITING
    # Ending one frees a place.
    services.help_request_resolve(help_request=first, by=user_participant(vera))
    services.help_request_claim(help_request=third, user=vera)


def test_a_persons_own_limit_overrides_the_setting(make_user: Any, settings: Any) -> None:
    settings.CHAT_MAX_ACTIVE_PER_HELPER = 1
    vera = make_user(roles=(Role.VOLUNTEER,))
    HelperLimit.objects.create(user=vera, max_active=2)
    services.help_request_claim(help_request=create(), user=vera)
    services.help_request_claim(help_request=create(), user=vera)
    assert selectors.helper_capacity(user_id=vera.pk).at_capacity
    assert selectors.helpers_at_capacity() == 1


def test_staff_cannot_assign_past_a_helpers_cap(make_user: Any, settings: Any) -> None:
    settings.CHAT_MAX_ACTIVE_PER_HELPER = 1
    vera, sam = make_user(roles=(Role.VOLUNTEER,)), make_user(roles=(Role.STAFF,))
    services.help_request_assign(help_request=create(), assignee=vera, by=sam)
    with pytest.raises(services.ChatError) as refused:
        services.help_request_assign(help_request=create(), assignee=vera, by=sam)
    assert refused.value.code == "at_capacity"


def test_the_count_goes_to_the_helpers_own_queue_sockets(make_user: Any, sent: Any) -> None:
    vera = make_user(roles=(Role.VOLUNTEER,))
    help_request = create()
    sent.clear()
    services.help_request_claim(help_request=help_request, user=vera)
    mine = [event for group, event in sent if group == groups.help_desk_group(vera.pk) and event["type"] == CAPACITY]
    assert [event["frame"] for event in mine] == [
        {"type": "capacity", "active": 1, "limit": 3, "at_capacity": False, "reason": None}
    ]
    sent.clear()
    services.help_request_close(help_request=help_request, by=user_participant(vera))
    mine = [event for group, event in sent if group == groups.help_desk_group(vera.pk) and event["type"] == CAPACITY]
    assert mine[0]["frame"]["active"] == 0


# -- unanswered claims ---------------------------------------------------------------------------------


def test_an_unanswered_claim_is_nudged_once_then_goes_back_to_the_front(make_user: Any, sent: Any) -> None:
    vera, sam = make_user(roles=(Role.VOLUNTEER,)), make_user(roles=(Role.STAFF,))
    first = create("First")
    create("Second")
    services.help_request_claim(help_request=first, user=vera)
    assert sweep.sweep(now=later(299)).nudged == 0
    sent.clear()
    assert sweep.sweep(now=later(301)).nudged == 1
    nudges = [event for group, event in sent if event["type"] == "chat.nudge"]
    assert nudges[0]["assignee_id"] == vera.pk and nudges[0]["frame"]["reason"] == "unanswered"
    assert Recipient.objects.filter(user=vera, notification__kind="help_request.unanswered").count() == 1
    assert sweep.sweep(now=later(400)).nudged == 0  # once
    result = sweep.sweep(now=later(601))
    assert result.requeued == 1
    first.refresh_from_db()
    assert (first.status, first.assigned_to_id) == (Status.WAITING, None)
    assert selectors.queue_position(help_request=first) == 1  # its place, ahead of Second
    assert (
        first.messages.get(author_kind="system", body__startswith="Your helper").body
        == "Your helper had to step away; you are first in the queue."
    )
    assert Recipient.objects.filter(user=sam, notification__kind="help_request.requeued").count() == 1
    assert selectors.helper_capacity(user_id=vera.pk).active == 0


def test_a_helper_who_replied_is_neither_nudged_nor_requeued(make_user: Any) -> None:
    vera = make_user(roles=(Role.VOLUNTEER,))
    help_request = create()
    services.help_request_claim(help_request=help_request, user=vera)
    say(help_request, user_participant(vera))
    result = sweep.sweep(now=later(3600))
    assert (result.nudged, result.requeued) == (0, 0)
    help_request.refresh_from_db()
    assert help_request.status == Status.ASSIGNED


# -- idle conversations --------------------------------------------------------------------------------


def test_an_idle_visitor_is_asked_then_the_helper_prompted(make_user: Any, sent: Any) -> None:
    vera = make_user(roles=(Role.VOLUNTEER,))
    help_request = create()
    services.help_request_claim(help_request=help_request, user=vera)
    say(help_request, user_participant(vera))
    assert sweep.sweep(now=later(599)).asked == 0
    assert sweep.sweep(now=later(601)).asked == 1
    assert help_request.messages.filter(body=sweep.STILL_THERE).count() == 1
    assert sweep.sweep(now=later(700)).asked == 0  # once
    assert sweep.sweep(now=later(601 + 299)).prompted == 0
    sent.clear()
    assert sweep.sweep(now=later(601 + 301)).prompted == 1
    [nudge] = [event for group, event in sent if event["type"] == "chat.nudge"]
    assert nudge["frame"]["reason"] == "idle" and nudge["frame"]["suggestion"]
    assert Recipient.objects.filter(user=vera, notification__kind="help_request.idle").count() == 1


def test_a_visitors_message_starts_the_idle_time_again(make_user: Any) -> None:
    vera = make_user(roles=(Role.VOLUNTEER,))
    help_request = create()
    services.help_request_claim(help_request=help_request, user=vera)
    say(help_request, user_participant(vera))
    assert sweep.sweep(now=later(601)).asked == 1
    reply = say(help_request, visitor_participant(help_request), "still here")
    Message.objects.filter(pk=reply.pk).update(created_at=later(650))  # written after the question
    assert sweep.sweep(now=later(601 + 301)).prompted == 0
    # Quiet again for as long: asked again (once more), then the helper prompted.
    assert sweep.sweep(now=later(650 + 601)).asked == 1
    assert sweep.sweep(now=later(650 + 601 + 301)).prompted == 1


# -- blocks --------------------------------------------------------------------------------------------


def test_the_address_check_keeps_no_address_and_links_no_two_requests() -> None:
    one, two = blocks.address_check_make("203.0.113.9"), blocks.address_check_make("203.0.113.9")
    assert "203.0.113.9" not in one and one != two
    assert blocks.address_matches(one, "203.0.113.9") and blocks.address_matches(two, "203.0.113.9")
    assert not blocks.address_matches(one, "203.0.113.10")
    assert blocks.address_matches(blocks.address_check_make("2001:db8::1"), "2001:db8::2")  # one /64


def test_a_block_closes_the_request_and_covers_device_and_address(make_user: Any) -> None:
    sam = make_user(roles=(Role.STAFF,))
    help_request = create(address="203.0.113.9")
    services.help_request_token_rotate(help_request=help_request)
    grant = help_request.visitor_token_hash
    with pytest.raises(services.ChatError):
        services.visitor_block(help_request=help_request, by=sam, reason="")  # a reason is required
    now = timezone.now()
    services.visitor_block(help_request=help_request, by=sam, reason="Abusive messages", days=2, now=now)
    help_request.refresh_from_db()
    assert help_request.status == Status.CLOSED and help_request.visitor_token_hash == ""
    assert blocks.is_blocked(grants=[grant], now=now)
    assert blocks.is_blocked(address="203.0.113.9", now=now)
    assert not blocks.is_blocked(address="198.51.100.1", grants=["other"], now=now)
    # Blocks expire, and the sweep drops them.
    assert not blocks.is_blocked(address="203.0.113.9", now=now + timedelta(days=2, seconds=1))
    assert sweep.sweep(now=now + timedelta(days=2, seconds=1)).blocks_expired == 1
    assert not VisitorBlock.objects.exists()


def test_only_staff_block(make_user: Any) -> None:
    with pytest.raises(services.ChatError) as refused:
        services.visitor_block(help_request=create(), by=make_user(roles=(Role.VOLUNTEER,)), reason="x")
    assert refused.value.code == "forbidden"


def test_a_blocked_visitor_sees_the_neutral_text_on_the_form_and_their_page(make_user: Any, settings: Any) -> None:
    settings.CHAT_UNAVAILABLE_TEXT = "Call 0800 000 000 instead."
    visitor = open_help_request()
    services.visitor_block(help_request=visitor.help_request(), by=make_user(roles=(Role.STAFF,)), reason="abuse")
    for response in (visitor.client.get(f"/help/{visitor.public_id}/"), visitor.client.get("/help/new/")):
        assert response.status_code == 403
        assert b"Call 0800 000 000 instead." in response.content and b"block" not in response.content.lower()
    api = visitor.client.post("/api/help-requests/", {"name": "A", "description": "b"}, content_type="application/json")
    assert api.status_code == 403 and api.json()["code"] == "unavailable"
    # From the same address on another device too (the test client's address).
    other = Client().get("/help/new/")
    assert other.status_code == 403
    # A different address and device is not blocked.
    assert Client(REMOTE_ADDR="198.51.100.7").get("/help/new/").status_code == 200


# -- feedback ------------------------------------------------------------------------------------------


def resolved_visit(make_user: Any) -> Any:
    visitor = open_help_request()
    vera = make_user(roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    return visitor, vera


def feedback_url(visitor: Any) -> str:
    return f"/api/help-requests/{visitor.public_id}/feedback/"


def test_the_visitor_rates_once_after_resolution(make_user: Any) -> None:
    visitor = open_help_request()
    early = visitor.client.post(feedback_url(visitor), {"rating": 5}, content_type="application/json")
    assert early.status_code == 409  # not resolved yet
    vera = make_user(roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {}, {"rating": 3, "comment": "x" * 2001}):
        response = visitor.client.post(feedback_url(visitor), bad, content_type="application/json")
        assert response.status_code == 400, bad
        assert set(response.json()) <= {"rating", "comment"}
    ok = visitor.client.post(feedback_url(visitor), {"rating": 4, "comment": "Kind"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json() == {"rating": 4, "comment": "Kind"}
    again = visitor.client.post(feedback_url(visitor), {"rating": 1}, content_type="application/json")
    assert again.status_code == 409
    assert Feedback.objects.get().rating == 4


def test_only_the_visitor_rates(make_user: Any) -> None:
    visitor, _ = resolved_visit(make_user)
    client = Client()
    client.force_login(make_user(roles=(Role.STAFF,)))
    assert client.post(feedback_url(visitor), {"rating": 5}, content_type="application/json").status_code == 403
    assert Client().post(feedback_url(visitor), {"rating": 5}, content_type="application/json").status_code == 403
    assert not Feedback.objects.exists()


def test_the_visitor_page_offers_the_form_after_resolution(make_user: Any) -> None:
    visitor, _ = resolved_visit(make_user)
    page = visitor.client.get(f"/help/{visitor.public_id}/")
    assert b'id="feedback-form"' in page.content
    visitor.client.post(f"/help/{visitor.public_id}/feedback/", {"rating": "5", "comment": "Thanks"})
    assert Feedback.objects.get().comment == "Thanks"
    assert b'id="feedback-form"' not in visitor.client.get(f"/help/{visitor.public_id}/").content


def test_volunteers_never_see_feedback_comments(make_user: Any) -> None:
    visitor, vera = resolved_visit(make_user)
    services.feedback_submit(
        help_request=visitor.help_request(),
        by=visitor_participant(visitor.help_request()),
        rating=2,
        comment="A-SECRET-COMMENT",
    )
    volunteer = Client()
    volunteer.force_login(vera)
    for path in (
        f"/help/{visitor.public_id}/",
        f"/api/help-requests/{visitor.public_id}/",
        f"/api/help-requests/{visitor.public_id}/messages/",
        "/help/queue/",
        "/api/dashboard/",
        "/admin/",
        "/metrics",
    ):
        assert b"A-SECRET-COMMENT" not in volunteer.get(path).content, path
    staff = Client()
    staff.force_login(make_user(roles=(Role.STAFF,), is_superuser=True))
    snapshot = staff.get("/api/dashboard/").json()
    assert snapshot["feedback"]["comments"][0]["comment"] == "A-SECRET-COMMENT"
    assert snapshot["metrics"]["feedback_week_average"] == 2.0
    assert b"A-SECRET-COMMENT" not in staff.get(f"/api/help-requests/{visitor.public_id}/").content


def test_visitors_sessions_grants_are_what_a_device_block_matches() -> None:
    visitor = open_help_request()
    session = visitor.client.session
    assert visitors.session_grants(session) == [visitor.help_request().visitor_token_hash]


# -- the paths: REST, socket, page ---------------------------------------------------------------------


def test_the_rest_claim_answers_409_at_capacity(make_user: Any, settings: Any) -> None:
    settings.CHAT_MAX_ACTIVE_PER_HELPER = 1
    vera = make_user(roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=create(), user=vera)
    waiting = create()
    client = Client()
    client.force_login(vera)
    response = client.post(f"/api/help-requests/{waiting.public_id}/claim/", content_type="application/json")
    assert response.status_code == 409
    assert response.json()["code"] == "at_capacity" and "limit of 1" in response.json()["detail"]


def test_the_queue_page_disables_take_with_the_reason(make_user: Any, settings: Any) -> None:
    settings.CHAT_MAX_ACTIVE_PER_HELPER = 1
    vera = make_user(roles=(Role.VOLUNTEER,))
    client = Client()
    client.force_login(vera)
    waiting = create()
    assert b"disabled" not in client.get("/help/queue/").content
    services.help_request_claim(help_request=create(), user=vera)
    page = client.get("/help/queue/").content.decode()
    assert f"/help/{waiting.public_id}/claim/" in page
    assert 'class="take" disabled aria-describedby="queue-capacity"' in page
    assert "Take is off: You have 1 active conversation, your limit of 1" in page


async def test_the_queue_socket_carries_the_count_live(make_user: Any, sockets: Any) -> None:
    from channels.db import database_sync_to_async

    from tests.chat.conftest import make, next_frame, queue_joined

    vera = await make(make_user, roles=(Role.VOLUNTEER,))
    other = await make(make_user, roles=(Role.VOLUNTEER,))
    socket = await sockets("/ws/help-requests/queue/", user=vera)
    snapshot, _ = await queue_joined(socket)
    assert snapshot["capacity"] == {"type": "capacity", "active": 0, "limit": 3, "at_capacity": False, "reason": None}
    help_request = await database_sync_to_async(create)()
    assert (await next_frame(socket))["type"] == "queue.item"
    # Someone else's claim changes nothing of hers; her own does.
    await database_sync_to_async(services.help_request_claim)(help_request=help_request, user=other)
    assert (await next_frame(socket))["type"] == "queue.removed"
    second = await database_sync_to_async(create)()
    assert (await next_frame(socket))["type"] == "queue.item"
    await database_sync_to_async(services.help_request_claim)(help_request=second, user=vera)
    frames = [await next_frame(socket) for _ in range(3)]
    assert [f["type"] for f in frames] == ["desk", "queue.item", "capacity"]
    assert frames[2]["active"] == 1


async def test_the_nudge_reaches_the_assignee_alone(make_user: Any, sockets: Any) -> None:
    from channels.db import database_sync_to_async

    from tests.chat.conftest import avisit, claim, joined, make, receive_until

    visitor = await avisit()
    vera = await make(make_user, roles=(Role.VOLUNTEER,))
    sam = await make(make_user, roles=(Role.STAFF,))
    await claim(visitor, vera)
    helper_socket = await sockets(visitor.path, user=vera)
    staff_socket = await sockets(visitor.path, user=sam)
    visitor_socket = await sockets(visitor.path, cookie=visitor.cookie)
    for socket in (helper_socket, staff_socket, visitor_socket):
        await joined(socket)
    await database_sync_to_async(sweep.sweep)(now=later(301))
    frames = await receive_until(helper_socket, "nudge")
    assert frames[-1]["reason"] == "unanswered" and frames[-1]["detail"] == sweep.UNANSWERED_DETAIL
    # A message after it shows the others got nothing in between.
    await database_sync_to_async(say)(await database_sync_to_async(visitor.help_request)(), user_participant(sam))
    for socket in (staff_socket, visitor_socket):
        assert [f["type"] for f in await receive_until(socket, "message")].count("nudge") == 0
