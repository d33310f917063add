"""The honest waiting room (issue 16): the wait estimate, who is on duty, opening hours, the offline
form, the emergency text and the urgent flag; the ``wait_estimate`` and ``urgent`` frames over the
socket and the stream (docs/chat-protocol.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from charity.roles import Role
from chat import selectors, services
from chat.models import (
    DEFAULT_EMERGENCY_TEXT,
    Alternative,
    AlternativeKind,
    HelplineSettings,
    HelpRequest,
    OpeningHours,
    Status,
)
from chat.participants import user_participant, visitor_participant
from chat.selectors import OpeningRange
from tests.chat.conftest import avisit, claim, joined, make, next_frame, open_help_request, queue_joined, receive_until
from tests.chat.test_sse import open_room_stream, stream_path

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "/ws/help-requests/queue/"
MINUTE = 60.0


def answered(category: str, wait_minutes: float, *, ago: timedelta = timedelta(hours=1), **fields: Any) -> HelpRequest:
    """A request of ``category`` that a helper first answered ``wait_minutes`` after it was made."""
    replied = timezone.now() - ago
    return HelpRequest.objects.create(
        name="Past",
        description="…",
        category=category,
        status=Status.RESOLVED,
        created_at=replied - timedelta(minutes=wait_minutes),
        first_reply_at=replied,
        **fields,
    )


def hours(*ranges: tuple[int, str, str]) -> list[OpeningRange]:
    return [
        OpeningRange(day, "", time.fromisoformat(opens), time.fromisoformat(closes)) for day, opens, closes in ranges
    ]


def at(text: str, zone: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


@pytest.fixture
def on_duty(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``on_duty(n)``: the registry says ``n`` helpers have the queue open (pages and services)."""

    def set_online(count: int) -> None:
        monkeypatch.setattr(selectors, "helpers_online", lambda: count)
        selectors.wait_snapshot_clear()

    return set_online


# -- the estimate ------------------------------------------------------------------------------------


def test_the_range_is_the_middle_half_rounded_outwards() -> None:
    minutes = [6, 8, 10, 12, 14]
    # Quartiles 8 and 12: 8 in whole minutes (under 10), 12 up to the next 5.
    assert selectors.wait_range([m * MINUTE for m in minutes]) == (8, 15)
    assert selectors.wait_range([m * MINUTE for m in (20, 30, 40, 50, 60)]) == (30, 50)
    assert selectors.wait_range([m * MINUTE for m in (70, 80, 90, 100, 110)]) == (75, 105)
    # Everyone answered within a minute: "less than a minute" is (0, 1); equal quartiles widen.
    assert selectors.wait_range([30.0] * 5) == (0, 1)
    assert selectors.wait_range([5 * MINUTE] * 5) == (5, 6)


def test_too_few_waits_give_no_estimate(settings: Any) -> None:
    assert selectors.wait_range([MINUTE] * 4) is None
    settings.CHAT_WAIT_ESTIMATE_MIN_SAMPLES = 3
    assert selectors.wait_range([MINUTE] * 3) == (1, 2)


def test_a_category_with_too_little_history_falls_back_to_every_category(on_duty: Any) -> None:
    for _ in range(5):
        answered("food", 10)
    for _ in range(2):
        answered("housing", 60)
    on_duty(1)
    snapshot = selectors.wait_snapshot()
    assert snapshot.range_for("food") == (10, 15)  # its own five waits
    # Housing's two are too few: every category's seven ([10] * 5 + [60] * 2), quartiles 10 and 35.
    assert snapshot.range_for("housing") == (10, 35)
    assert snapshot.range_for("general") == (10, 35)


def test_with_too_few_answered_requests_there_is_no_estimate(on_duty: Any) -> None:
    for _ in range(4):
        answered("food", 10)
    on_duty(1)
    assert selectors.wait_snapshot().range_for("food") is None


def test_the_history_is_the_newest_answered_requests_in_one_query(
    settings: Any, django_assert_num_queries: Callable[..., Any]
) -> None:
    settings.CHAT_WAIT_ESTIMATE_SAMPLES = 5
    for _ in range(5):
        answered("food", 3, ago=timedelta(minutes=5))
    for _ in range(5):
        answered("food", 90, ago=timedelta(hours=3))  # older: beyond the newest five
    answered("housing", 500, ago=timedelta(minutes=1), left_offline=True)  # a message left for later: no wait
    answered("money", 500, ago=timedelta(days=40))  # beyond CHAT_WAIT_ESTIMATE_HISTORY_DAYS
    HelpRequest.objects.create(name="Now", description="…", category="money")  # not answered yet
    with django_assert_num_queries(1):
        by_category, overall = selectors.wait_history(now=timezone.now())
    assert by_category == {"food": [3 * MINUTE] * 5}
    assert overall == [3 * MINUTE] * 5


def test_the_figures_are_read_once_per_cache_period(
    on_duty: Any, django_assert_num_queries: Callable[..., Any]
) -> None:
    on_duty(1)
    selectors.wait_snapshot()
    with django_assert_num_queries(0):
        selectors.wait_snapshot()
    Alternative.objects.create(name="Line", phone="0800 000 000")  # an admin edit reads anew
    with django_assert_num_queries(4):  # settings, hours, alternatives; the history
        selectors.wait_snapshot()


def test_a_helpers_first_message_ends_the_wait(make_user: Any) -> None:
    visitor = open_help_request()
    help_request = visitor.help_request()
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=help_request, user=vera)  # the system message is no reply
    services.message_post(
        help_request_id=help_request.pk, participant=visitor_participant(help_request), body="hi", client_id="v1"
    )
    help_request.refresh_from_db()
    assert help_request.first_reply_at is None
    message, _ = services.message_post(
        help_request_id=help_request.pk, participant=user_participant(vera), body="Hello", client_id="h1"
    )
    services.message_post(
        help_request_id=help_request.pk, participant=user_participant(vera), body="Again", client_id="h2"
    )
    help_request.refresh_from_db()
    assert help_request.first_reply_at == message.created_at


# -- who is on duty -----------------------------------------------------------------------------------


async def test_a_helper_with_the_queue_open_is_on_duty(make_user: Any, sockets: Any) -> None:
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    dana = await make(make_user, "dana", roles=(Role.DONOR,))
    helpers_online = database_sync_to_async(selectors.helpers_online)
    assert await helpers_online() == 0
    await sockets("/ws/notifications/", user=vera)  # online, but not on the queue
    await sockets("/ws/notifications/", user=dana)
    assert await helpers_online() == 0
    first = await sockets(QUEUE, user=vera)
    assert (await first.receive_json_from(timeout=3))["type"] == "queue"
    await sockets(QUEUE, user=vera)  # a second tab: still one helper
    assert await helpers_online() == 1
    await first.disconnect()
    assert await helpers_online() == 1


def test_opening_hours_are_in_the_charitys_time_zone(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/London"
    monday = hours((0, "09:00", "17:00"))
    # 08:30 UTC on a summer Monday is 09:30 in London (BST): open; in winter (GMT) 08:30: closed.
    assert selectors.helpline_is_open(hours=monday, now=at("2026-07-06T08:30"))
    assert not selectors.helpline_is_open(hours=monday, now=at("2026-01-05T08:30"))
    assert not selectors.helpline_is_open(hours=monday, now=at("2026-07-06T16:30"))  # 17:30 BST
    assert selectors.helpline_next_opening(hours=monday, now=at("2026-07-06T16:30")) == at(
        "2026-07-13T09:00", "Europe/London"
    )


def test_an_overnight_range_runs_into_the_next_day() -> None:
    friday_night = hours((4, "22:00", "02:00"))
    assert not selectors.helpline_is_open(hours=friday_night, now=at("2026-07-10T21:59"))
    assert selectors.helpline_is_open(hours=friday_night, now=at("2026-07-10T22:00"))
    assert selectors.helpline_is_open(hours=friday_night, now=at("2026-07-11T01:59"))  # Saturday
    assert not selectors.helpline_is_open(hours=friday_night, now=at("2026-07-11T02:00"))
    # Thursday's night is not Friday's.
    assert not selectors.helpline_is_open(hours=friday_night, now=at("2026-07-10T01:00"))
    assert selectors.helpline_next_opening(hours=friday_night, now=at("2026-07-11T03:00")) == at("2026-07-17T22:00")


def test_without_opening_hours_the_helpline_is_always_open() -> None:
    assert selectors.helpline_is_open(hours=[], now=at("2026-07-11T03:00"))
    assert selectors.helpline_next_opening(hours=[], now=at("2026-07-11T03:00")) is None


def test_outside_opening_hours_nobody_is_on_duty_even_online(on_duty: Any, settings: Any) -> None:
    now = timezone.localtime(timezone.now(), ZoneInfo(settings.TIME_ZONE))
    later = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    until = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    OpeningHours.objects.create(weekday=(now + timedelta(hours=2)).weekday(), opens=later, closes=until)
    on_duty(3)
    snapshot = selectors.wait_snapshot()
    assert not snapshot.is_open and snapshot.helpers_available == 0 and not snapshot.on_duty
    assert snapshot.next_opening is not None and snapshot.next_opening > timezone.now()


# -- the form and the visitor's page --------------------------------------------------------------------


def test_with_nobody_on_duty_the_form_offers_to_leave_a_message(on_duty: Any) -> None:
    OpeningHours.objects.create(weekday=0, opens=time(9), closes=time(17))
    Alternative.objects.create(name="Nightline", kind=AlternativeKind.PHONE, phone="116 123", order=1)
    Alternative.objects.create(name="Emergency services", kind=AlternativeKind.EMERGENCY, phone="999", order=0)
    Alternative.objects.create(name="Old line", phone="0800", active=False)
    on_duty(0)
    page = Client().get("/help/new/").content.decode()
    assert "Nobody is available right now" in page
    assert ">Leave a message</button>" in page and "Send my request" not in page
    assert page.index("Emergency services") < page.index("Nightline")  # in their order
    assert 'href="tel:116123"' in page and "Old line" not in page
    assert "Monday: 09:00 to 17:00" in page


def test_with_a_helper_on_duty_the_form_sends_a_request(on_duty: Any) -> None:
    Alternative.objects.create(name="Nightline", phone="116 123")
    on_duty(1)
    page = Client().get("/help/new/").content.decode()
    assert ">Send my request</button>" in page
    assert "Nobody is available" not in page and "Nightline" not in page


def test_a_message_left_with_nobody_on_duty_is_marked_and_says_when_we_open(on_duty: Any) -> None:
    on_duty(0)
    client = Client()
    response = client.post("/help/new/", {"name": "Alice", "description": "Help", "category": "food"})
    help_request = HelpRequest.objects.get()
    assert help_request.left_offline and help_request.status == Status.WAITING
    page = client.get(response["Location"]).content.decode()
    found = re.search(r'<script id="wait-estimate" type="application/json">(.*?)</script>', page)
    assert found is not None
    wait = json.loads(found[1])
    assert wait == {
        "type": "wait_estimate",
        "queue_position": 1,
        "low_minutes": None,
        "high_minutes": None,
        "helpers_available": 0,
        "next_opening": None,
    }
    on_duty(1)
    Client().post("/help/new/", {"name": "Bob", "description": "Help", "category": "food"})
    assert not HelpRequest.objects.get(name="Bob").left_offline


def test_only_web_addresses_become_links(on_duty: Any) -> None:
    Alternative.objects.create(name="Bad", url="javascript:alert(1)")
    Alternative.objects.create(name="Good", url="https://example.org/help")
    on_duty(0)
    page = Client().get("/help/new/").content.decode()
    assert "javascript:" not in page and 'href="https://example.org/help"' in page


def test_an_alternative_needs_a_phone_or_a_web_address() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Alternative(name="Nothing").full_clean()
    with pytest.raises(ValidationError):
        Alternative(name="Script", url="ftp://example.org/").full_clean()


def emergency_band(page: bytes) -> str | None:
    """The text of the emergency band at the top of a visitor page, or None."""
    found = re.search(r'<aside class="emergency-band"[^>]*><p>.*?</span> (.*?)</p></aside>', page.decode())
    return found[1] if found else None


def test_the_emergency_text_is_on_every_visitor_page_and_editable(on_duty: Any) -> None:
    on_duty(1)
    client = Client()
    assert emergency_band(client.get("/help/new/").content) == DEFAULT_EMERGENCY_TEXT
    response = client.post("/help/new/", {"name": "Alice", "description": "Help", "category": "food"})
    assert emergency_band(client.get(response["Location"]).content) == DEFAULT_EMERGENCY_TEXT
    row = selectors.helpline_settings_get()
    row.emergency_text = "In danger now? Call 999 & stay <safe>."
    row.save()
    assert emergency_band(client.get("/help/new/").content) == "In danger now? Call 999 &amp; stay &lt;safe&gt;."
    assert HelplineSettings.objects.count() == 1


def test_the_settings_admin_opens_the_one_row(make_user: Any) -> None:
    staff = make_user("sam", roles=(Role.STAFF,), is_superuser=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/chat/helplinesettings/")
    assert response.status_code == 302 and response["Location"].endswith("/admin/chat/helplinesettings/1/change/")
    assert client.get(response["Location"]).status_code == 200
    assert client.get("/admin/chat/helplinesettings/add/").status_code == 403


# -- urgent -------------------------------------------------------------------------------------------


def test_urgent_shows_the_emergency_text_above_the_conversation_never_the_reason(make_user: Any) -> None:
    visitor = open_help_request()
    page = visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    assert re.search(r'<div id="chat-urgent"[^>]*\bhidden\b', page)
    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    services.help_request_set_urgent(help_request=visitor.help_request(), urgent=True, reason="mentions pills", by=vera)
    page = visitor.client.get(f"/help/{visitor.public_id}/").content.decode()
    assert re.search(r'<div id="chat-urgent"[^>]*role="alert">', page)
    assert not re.search(r'<div id="chat-urgent"[^>]*\bhidden\b', page)
    assert "mentions pills" not in page
    assert visitor.help_request().urgent_reason == "mentions pills"


def test_only_helpers_may_flag_a_request_urgent(make_user: Any) -> None:
    visitor = open_help_request()
    dana = make_user("dana", roles=(Role.DONOR,))
    with pytest.raises(services.ChatError) as refused:
        services.help_request_set_urgent(help_request=visitor.help_request(), urgent=True, reason="", by=dana)
    assert refused.value.code == "forbidden"
    assert not visitor.help_request().urgent


async def test_urgent_reaches_the_room_live_without_the_reason(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(socket)
    assert history["help_request"]["urgent"] is False
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    set_urgent = database_sync_to_async(services.help_request_set_urgent)
    help_request = await database_sync_to_async(visitor.help_request)()
    await set_urgent(help_request=help_request, urgent=True, reason="secret reason", by=sam)
    assert await next_frame(socket) == {"type": "urgent", "urgent": True}
    again = await sockets(visitor.path, cookie=visitor.cookie)  # a reconnect learns it from history
    history, _ = await joined(again)
    assert history["help_request"]["urgent"] is True
    await set_urgent(help_request=help_request, urgent=True, reason="still", by=sam)  # no change: no frame
    await set_urgent(help_request=help_request, urgent=False, reason="safe now", by=sam)
    frames = await receive_until(socket, "urgent")
    assert frames[-1] == {"type": "urgent", "urgent": False}
    assert [frame["type"] for frame in frames].count("urgent") == 1
    assert "secret reason" not in str(frames) and "safe now" not in str(frames)


# -- the live wait_estimate frame ----------------------------------------------------------------------


async def test_a_helper_opening_and_closing_the_queue_updates_the_waiting_rooms(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(socket)
    assert history["wait_estimate"]["helpers_available"] == 0
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    queue = await sockets(QUEUE, user=vera)
    assert (await queue.receive_json_from(timeout=3))["type"] == "queue"
    frame = await next_frame(socket)
    assert frame == {
        "type": "wait_estimate",
        "queue_position": 1,
        "low_minutes": None,  # no history yet
        "high_minutes": None,
        "helpers_available": 1,
        "next_opening": None,
    }
    await queue.disconnect()
    assert (await next_frame(socket))["helpers_available"] == 0


async def test_when_the_queue_moves_the_rooms_behind_get_their_place_and_estimate(make_user: Any, sockets: Any) -> None:
    for _ in range(5):
        await database_sync_to_async(answered)("general", 10)
    first, second = await avisit(), await avisit()
    socket = await sockets(second.path, cookie=second.cookie)
    await joined(socket)
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    queue = await sockets(QUEUE, user=vera)
    assert (await queue.receive_json_from(timeout=3))["type"] == "queue"
    assert await next_frame(socket) == {
        "type": "wait_estimate",
        "queue_position": 2,
        "low_minutes": 10,
        "high_minutes": 15,
        "helpers_available": 1,
        "next_opening": None,
    }
    await claim(first, vera)
    assert (await next_frame(socket))["type"] == "status"
    frame = await next_frame(socket)
    assert frame["type"] == "wait_estimate" and frame["queue_position"] == 1 and frame["low_minutes"] == 10
    # Its own claim: "vera is helping" (status), and no estimate any more.
    await claim(second, vera)
    frames = [await next_frame(socket) for _ in range(2)]
    assert [f["type"] for f in frames] == ["message", "status"]
    assert frames[1]["status"] == "assigned"
    assert await socket.receive_nothing(timeout=0.3)


async def test_a_new_request_tells_no_other_room_when_nothing_changed(sockets: Any) -> None:
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await avisit()  # behind it: its place and the figures are the same
    assert await socket.receive_nothing(timeout=0.3)


async def test_helpers_in_the_room_do_not_get_the_visitors_estimate(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    sam = await make(make_user, "sam", roles=(Role.STAFF,))
    staff_room = await sockets(visitor.path, user=sam)
    await joined(staff_room)
    queue = await sockets(QUEUE, user=sam)
    assert (await queue.receive_json_from(timeout=3))["type"] == "queue"
    assert await staff_room.receive_nothing(timeout=0.3)


async def test_the_stream_gets_the_estimate_too(make_user: Any) -> None:
    visitor = await avisit()
    stream = await open_room_stream(stream_path(visitor.public_id), cookie=visitor.cookie)
    try:
        history = await stream.frame()
        assert history["wait_estimate"]["queue_position"] == 1
        assert (await stream.frame())["type"] == "presence"
        vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
        from tests.conftest import connect_socket

        queue, connected, _ = await connect_socket(QUEUE, user=vera)
        assert connected
        try:
            frame = await stream.frame()
            assert frame["type"] == "wait_estimate" and frame["helpers_available"] == 1
        finally:
            await queue.disconnect()
    finally:
        await stream.close()


def test_the_api_marks_a_message_left_offline_too(on_duty: Any) -> None:
    on_duty(0)
    visitor = open_help_request()
    assert visitor.help_request().left_offline


async def test_helpers_see_a_message_left_offline_in_the_queue(make_user: Any, sockets: Any) -> None:
    left = await avisit()  # nobody has the queue open yet
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    queue = await sockets(QUEUE, user=vera)
    snapshot, _ = await queue_joined(queue)
    assert [(item["public_id"], item["left_offline"]) for item in snapshot["help_requests"]] == [(left.public_id, True)]
    live = await avisit()  # vera is on duty now
    frame = await queue.receive_json_from(timeout=3)
    assert frame["help_request"]["public_id"] == live.public_id and frame["help_request"]["left_offline"] is False

    def queue_page() -> str:
        client = Client()
        client.force_login(vera)
        return client.get("/help/queue/").content.decode()

    assert (await database_sync_to_async(queue_page)()).count("message left while nobody was on duty") == 1


def test_the_migration_takes_the_first_reply_from_existing_messages() -> None:
    from django.core.management import call_command
    from django.db import connection

    def message(help_request_id: int, kind: str, at: str) -> None:
        cursor.execute(
            "INSERT INTO chat_message (help_request_id, author_kind, author_name, body, created_at)"
            " VALUES (%s, %s, 'x', 'x', %s)",
            [help_request_id, kind, at],
        )

    try:
        call_command("migrate", "chat", "0007_exit_visitor_name_default", verbosity=0)
        with connection.cursor() as cursor:
            for name in ("Answered", "Unanswered"):
                cursor.execute(
                    "INSERT INTO chat_helprequest (public_id, name, contact, category, description, status,"
                    " visitor_token_hash, created_at, updated_at, transcript_email_requested, erased_by)"
                    " VALUES (%s, %s, '', 'general', 'x', 'assigned', '', %s, %s, false, '')",
                    [__import__("uuid").uuid4().hex, name, "2026-01-01 10:00:00", "2026-01-01 10:00:00"],
                )
            cursor.execute("SELECT name, id FROM chat_helprequest")
            ids = dict(cursor.fetchall())
            message(ids["Answered"], "system", "2026-01-01 10:01:00")
            message(ids["Answered"], "visitor", "2026-01-01 10:02:00")
            message(ids["Answered"], "staff", "2026-01-01 10:09:00")
            message(ids["Answered"], "volunteer", "2026-01-01 10:07:00")
            message(ids["Unanswered"], "system", "2026-01-01 10:01:00")
        call_command("migrate", "chat", "0008_waiting_room", verbosity=0)
        replies = dict(HelpRequest.objects.values_list("name", "first_reply_at"))
        assert replies["Answered"] == datetime(2026, 1, 1, 10, 7, tzinfo=ZoneInfo("UTC"))
        assert replies["Unanswered"] is None
    finally:
        call_command("migrate", "chat", verbosity=0)


async def test_the_sweep_tells_waiting_rooms_when_the_helpline_closes_by_the_clock(sockets: Any) -> None:
    from chat import sweep
    from chat.models import OpeningHours

    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    history, _ = await joined(socket)
    assert history["wait_estimate"]["next_opening"] is None  # no opening hours: always open
    assert await socket.receive_nothing(timeout=0.2)

    def open_only_tomorrow() -> None:
        tomorrow = (timezone.localtime().weekday() + 1) % 7
        OpeningHours.objects.create(weekday=tomorrow, opens=time(9), closes=time(17))

    await database_sync_to_async(open_only_tomorrow)()
    assert await socket.receive_nothing(timeout=0.2)  # nothing ran yet to tell anyone
    await database_sync_to_async(sweep.sweep)()
    frame = await next_frame(socket)
    assert frame["type"] == "wait_estimate" and frame["next_opening"] is not None
    await database_sync_to_async(sweep.sweep)()
    assert await socket.receive_nothing(timeout=0.2)  # unchanged: said once
