"""The notification socket's wire contract, rule by rule (docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async

from charity.roles import Role
from notifications import api
from notifications.models import Recipient
from tests.conftest import connect_socket

pytestmark = pytest.mark.django_db(transaction=True)
WS = "/ws/notifications/"


async def receive_until(communicator: Any, frame_type: str, timeout: float = 3) -> list[dict[str, Any]]:
    """Frames received up to and including the first of ``frame_type``."""
    frames = []
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


async def synced(communicator: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    frames = await receive_until(communicator, "synced")
    return frames[:-1], frames[-1]


anotify_user = api.anotify_user


@database_sync_to_async
def make(make_user: Any, *args: Any, **kwargs: Any) -> Any:
    return make_user(*args, **kwargs)


# -- handshake -----------------------------------------------------------------------------------


async def test_anonymous_socket_is_closed_with_4401() -> None:
    communicator, connected, _ = await connect_socket(WS)
    assert connected
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_foreign_origin_is_refused_at_handshake(make_user: Any) -> None:
    user = await make(make_user)
    _, connected, _ = await connect_socket(WS, user=user, origin=b"http://evil.example")
    assert not connected


async def test_missing_origin_is_refused_at_handshake(make_user: Any) -> None:
    user = await make(make_user)
    _, connected, _ = await connect_socket(WS, user=user, origin=None)
    assert not connected


async def test_logged_in_user_gets_synced_with_unread_count(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    await anotify_user(user, kind="test.hello", title="one")
    socket = await sockets(WS, user=user)
    replay, sync = await synced(socket)
    assert [frame["title"] for frame in replay] == ["one"]
    assert sync == {"type": "synced", "last_id": replay[0]["id"], "unread": 1}


# -- replay ----------------------------------------------------------------------------------------


async def test_replay_is_every_unacknowledged_notification_in_id_order(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    other = await make(make_user)
    ids = [(await anotify_user(user, kind="test.n", title=f"n{i}")).pk for i in range(5)]
    await anotify_user(other, kind="test.n", title="not yours")
    socket = await sockets(WS, user=user)
    replay, sync = await synced(socket)
    assert [frame["id"] for frame in replay] == ids
    assert sync["last_id"] == ids[-1]


async def test_notification_frame_carries_every_field(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    sent = await anotify_user(
        user, kind="donation.confirmed", title="Thanks", body="£10", data={"amount": 10}, priority=api.CRITICAL
    )
    socket = await sockets(WS, user=user)
    replay, _ = await synced(socket)
    assert replay == [
        {
            "type": "notification",
            "id": sent.pk,
            "kind": "donation.confirmed",
            "title": "Thanks",
            "body": "£10",
            "data": {"amount": 10},
            "priority": "critical",
            "created_at": sent.created_at.isoformat(),
            "expires_at": sent.expires_at.isoformat(),
        }
    ]


async def test_since_replays_only_greater_ids_besides_unacknowledged(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    ids = [(await anotify_user(user, kind="test.n", title=f"n{i}")).pk for i in range(4)]
    # Another tab acknowledged everything.
    await database_sync_to_async(lambda: Recipient.objects.filter(user=user).update(delivered_at="2026-01-01T00:00Z"))()
    socket = await sockets(f"{WS}?since={ids[1]}", user=user)
    replay, sync = await synced(socket)
    assert [frame["id"] for frame in replay] == ids[2:]
    assert sync["last_id"] == ids[-1]


async def test_bad_since_gets_an_error_frame_and_full_replay(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    sent = await anotify_user(user, kind="test.n", title="n")
    socket = await sockets(f"{WS}?since=abc", user=user)
    frames = await receive_until(socket, "synced")
    assert frames[0]["type"] == "error" and frames[0]["code"] == "invalid" and "since" in frames[0]["detail"]
    assert [frame["id"] for frame in frames if frame["type"] == "notification"] == [sent.pk]


@pytest.mark.parametrize("since", ["%C2%B2", "%D9%A3", "1" * 19, "-1"])
async def test_a_non_ascii_or_oversized_since_is_an_invalid_frame_and_the_socket_stays_open(
    make_user: Any, sockets: Any, since: str
) -> None:
    # "²" passes str.isdigit() and then int() refuses it: the socket used to close with 1011.
    user = await make(make_user)
    sent = await anotify_user(user, kind="test.n", title="n")
    socket = await sockets(f"{WS}?since={since}", user=user)
    frames = await receive_until(socket, "synced")
    assert frames[0]["type"] == "error" and frames[0]["code"] == "invalid" and "since" in frames[0]["detail"]
    assert [frame["id"] for frame in frames if frame["type"] == "notification"] == [sent.pk]
    await socket.send_json_to({"type": "ping"})
    assert json.loads(await socket.receive_from()) == {"type": "pong"}


async def test_expired_notifications_are_never_replayed(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    expired = await anotify_user(user, kind="test.n", title="old", ttl=1)
    await database_sync_to_async(
        lambda: type(expired).objects.filter(pk=expired.pk).update(expires_at="2000-01-01T00:00Z")
    )()
    fresh = await anotify_user(user, kind="test.n", title="new")
    socket = await sockets(WS, user=user)
    replay, sync = await synced(socket)
    assert [frame["id"] for frame in replay] == [fresh.pk]
    assert sync["unread"] == 1


# -- live ------------------------------------------------------------------------------------------


async def test_live_notification_to_user_role_and_everyone(make_user: Any, sockets: Any) -> None:
    volunteer = await make(make_user, roles=(Role.VOLUNTEER,))
    donor = await make(make_user, roles=(Role.DONOR,))
    vsock = await sockets(WS, user=volunteer)
    dsock = await sockets(WS, user=donor)
    await synced(vsock)
    await synced(dsock)
    to_role = await api.anotify_role("volunteer", kind="shift.changed", title="shift")
    to_all = await api.anotify_all(kind="system.alert", title="all")
    to_donor = await anotify_user(donor, kind="donation.confirmed", title="thanks")
    assert [json.loads(await vsock.receive_from())["id"] for _ in range(2)] == [to_role.pk, to_all.pk]
    assert [json.loads(await dsock.receive_from())["id"] for _ in range(2)] == [to_all.pk, to_donor.pk]
    assert await vsock.receive_nothing(timeout=0.3)


async def test_rolled_back_notification_is_never_pushed(make_user: Any, sockets: Any) -> None:
    from django.db import transaction

    user = await make(make_user)
    socket = await sockets(WS, user=user)
    await synced(socket)

    def rolled_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            api.notify_user(user, kind="test.n", title="never")
            raise RuntimeError("rollback")

    await database_sync_to_async(rolled_back)()
    assert await socket.receive_nothing(timeout=0.5)
    assert not await database_sync_to_async(Recipient.objects.filter(user=user).exists)()


async def test_notification_is_pushed_only_after_commit(make_user: Any, sockets: Any) -> None:
    from django.db import transaction

    user = await make(make_user)
    socket = await sockets(WS, user=user)
    await synced(socket)
    pushed_before_commit: list[bool] = []

    def in_transaction() -> None:
        with transaction.atomic():
            api.notify_user(user, kind="test.n", title="after commit")
            from asgiref.sync import async_to_sync

            pushed_before_commit.append(not async_to_sync(socket.receive_nothing)(timeout=0.3))

    await database_sync_to_async(in_transaction)()
    assert pushed_before_commit == [False]
    assert json.loads(await socket.receive_from())["title"] == "after commit"


# -- client frames ---------------------------------------------------------------------------------


async def test_ping_gets_pong(make_user: Any, sockets: Any) -> None:
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    await socket.send_json_to({"type": "ping"})
    assert json.loads(await socket.receive_from()) == {"type": "pong"}


async def test_ack_stops_replay_and_unacked_come_again(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    ids = [(await anotify_user(user, kind="test.n", title=f"n{i}")).pk for i in range(3)]
    socket = await sockets(WS, user=user)
    await synced(socket)
    await socket.send_json_to({"type": "ack", "up_to": ids[1]})
    assert json.loads(await socket.receive_from()) == {"type": "acked", "up_to": ids[1], "count": 2}
    await socket.disconnect()
    again = await sockets(WS, user=user)
    replay, _ = await synced(again)
    assert [frame["id"] for frame in replay] == [ids[2]]


async def test_ack_covers_only_what_this_socket_sent(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    socket = await sockets(WS, user=user)
    await synced(socket)
    # Sent while nobody listens on the live path for this socket: muted, so never sent here.
    await socket.send_json_to({"type": "unsubscribe", "topics": ["quiet"]})
    await receive_until(socket, "subscriptions")
    quiet = await anotify_user(user, kind="quiet.thing", title="muted")
    loud = await anotify_user(user, kind="loud.thing", title="shown")
    assert json.loads(await socket.receive_from())["id"] == loud.pk
    await socket.send_json_to({"type": "ack", "up_to": loud.pk})
    assert json.loads(await socket.receive_from())["count"] == 1
    states = await database_sync_to_async(
        lambda: dict(Recipient.objects.filter(user=user).values_list("notification_id", "delivered_at"))
    )()
    assert states[quiet.pk] is None and states[loud.pk] is not None


async def test_read_marks_read_and_every_socket_gets_the_unread_count_and_what_was_read(
    make_user: Any, sockets: Any
) -> None:
    user = await make(make_user)
    first = await anotify_user(user, kind="test.n", title="a")
    await anotify_user(user, kind="test.n", title="b")
    tab1 = await sockets(WS, user=user)
    tab2 = await sockets(WS, user=user)
    await synced(tab1)
    await synced(tab2)
    await tab1.send_json_to({"type": "read", "ids": [first.pk]})
    # Every tab and device clears what was read (docs/protocol.md, unread).
    assert json.loads(await tab1.receive_from()) == {"type": "unread", "unread": 1, "read": [first.pk]}
    assert json.loads(await tab2.receive_from()) == {"type": "unread", "unread": 1, "read": [first.pk]}
    read_at = await database_sync_to_async(lambda: Recipient.objects.get(user=user, notification=first).read_at)()
    assert read_at is not None


async def test_read_of_someone_elses_notification_changes_nothing(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    other = await make(make_user)
    theirs = await anotify_user(other, kind="test.n", title="theirs")
    socket = await sockets(WS, user=user)
    await synced(socket)
    await socket.send_json_to({"type": "read", "ids": [theirs.pk]})
    assert await socket.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(lambda: Recipient.objects.get(notification=theirs).read_at)() is None


async def test_unsubscribe_mutes_live_kinds_and_subscribe_restores(make_user: Any, sockets: Any) -> None:
    user = await make(make_user)
    socket = await sockets(WS, user=user)
    await synced(socket)
    await socket.send_json_to({"type": "unsubscribe", "topics": ["donation"]})
    assert json.loads(await socket.receive_from()) == {"type": "subscriptions", "muted": ["donation"], "topics": []}
    await anotify_user(user, kind="donation.confirmed", title="muted")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.send_json_to({"type": "subscribe", "topics": ["donation"]})
    assert json.loads(await socket.receive_from())["muted"] == []
    live = await anotify_user(user, kind="donation.confirmed", title="live")
    assert json.loads(await socket.receive_from())["id"] == live.pk
    # Muted ones are still persisted and come back by replay.
    again = await sockets(WS, user=user)
    replay, _ = await synced(again)
    assert [frame["title"] for frame in replay] == ["muted", "live"]


async def test_dashboard_topic_is_for_staff_only(make_user: Any, sockets: Any) -> None:
    volunteer = await sockets(WS, user=await make(make_user, roles=(Role.VOLUNTEER,)))
    staff = await sockets(WS, user=await make(make_user, roles=(Role.STAFF,)))
    await synced(volunteer)
    await synced(staff)
    await volunteer.send_json_to({"type": "subscribe", "topics": ["dashboard"]})
    assert json.loads(await volunteer.receive_from())["code"] == "forbidden"
    await staff.send_json_to({"type": "subscribe", "topics": ["dashboard"]})
    assert json.loads(await staff.receive_from()) == {"type": "subscriptions", "muted": [], "topics": ["dashboard"]}


# -- bad input -------------------------------------------------------------------------------------

BAD_FRAMES: list[tuple[str, str]] = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_frame"),
    ('"ping"', "bad_frame"),
    ("{}", "bad_frame"),
    ('{"type": 5}', "bad_frame"),
    ('{"type": "launch"}', "unknown_type"),
    ('{"type": "websocket.disconnect"}', "unknown_type"),
    ('{"type": "notification.push", "id": 1, "kind": "x.y", "frame": "{}"}', "unknown_type"),
    ('{"type": "ack"}', "invalid"),
    ('{"type": "ack", "up_to": "5"}', "invalid"),
    ('{"type": "ack", "up_to": -1}', "invalid"),
    ('{"type": "ack", "up_to": 1e400}', "invalid"),
    ('{"type": "ack", "up_to": 99999999999999999999999}', "invalid"),
    ('{"type": "read", "ids": 3}', "invalid"),
    ('{"type": "read", "ids": []}', "invalid"),
    ('{"type": "read", "ids": ["x"]}', "invalid"),
    ('{"type": "subscribe", "topics": "donation"}', "invalid"),
    ('{"type": "subscribe", "topics": ["Bad Topic!"]}', "invalid"),
    ('{"type": "subscribe", "topics": ["\\ud800"]}', "invalid"),
    ("[" * 60_000, "bad_json"),  # deep nesting, under the size limit
]


@pytest.mark.parametrize(("text", "code"), BAD_FRAMES, ids=[f"{code}-{i}" for i, (_, code) in enumerate(BAD_FRAMES)])
async def test_bad_input_gets_one_error_frame_and_the_socket_stays_open(
    make_user: Any, sockets: Any, text: str, code: str
) -> None:
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    await socket.send_to(text_data=text)
    error = json.loads(await socket.receive_from())
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    assert await socket.receive_nothing(timeout=0.1)
    await socket.send_json_to({"type": "ping"})
    assert json.loads(await socket.receive_from()) == {"type": "pong"}


async def test_binary_frame_gets_an_error_frame(make_user: Any, sockets: Any) -> None:
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    await socket.send_to(bytes_data=b"\x00\x01")
    assert json.loads(await socket.receive_from())["code"] == "binary_unsupported"
    await socket.send_json_to({"type": "ping"})
    assert json.loads(await socket.receive_from()) == {"type": "pong"}


async def test_oversized_frame_gets_an_error_and_closes_4413(make_user: Any, sockets: Any, settings: Any) -> None:
    settings.REALTIME_MAX_FRAME_BYTES = 1024
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    await socket.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 2000}))
    assert json.loads(await socket.receive_from())["code"] == "too_large"
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4413}


async def test_frame_just_under_the_limit_is_accepted(make_user: Any, sockets: Any, settings: Any) -> None:
    settings.REALTIME_MAX_FRAME_BYTES = 1024
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    frame = json.dumps({"type": "ping", "pad": ""})
    await socket.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * (1024 - len(frame))}))
    assert json.loads(await socket.receive_from()) == {"type": "pong"}


async def test_silent_socket_is_closed_after_heartbeat_timeout(make_user: Any, sockets: Any, settings: Any) -> None:
    settings.REALTIME_HEARTBEAT_TIMEOUT = 0.5
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4408}


async def test_pings_keep_a_socket_alive_past_the_heartbeat_timeout(
    make_user: Any, sockets: Any, settings: Any
) -> None:
    import asyncio

    settings.REALTIME_HEARTBEAT_TIMEOUT = 0.6
    socket = await sockets(WS, user=await make(make_user))
    await synced(socket)
    for _ in range(6):
        await asyncio.sleep(0.25)
        await socket.send_json_to({"type": "ping"})
        assert json.loads(await socket.receive_from()) == {"type": "pong"}


# -- the connect race: replay vs. live --------------------------------------------------------------


async def test_notification_committed_between_join_and_replay_read_arrives_once(
    make_user: Any, sockets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed after the socket joined its groups, before the replay read: in the replay and
    live; the socket must send it once."""
    from notifications import streams

    user = await make(make_user)
    original = streams.read_replay
    raced: list[int] = []

    async def read_after_a_commit(**kwargs: Any) -> Any:
        raced.append((await anotify_user(user, kind="test.race", title="raced")).pk)
        return await original(**kwargs)

    monkeypatch.setattr(streams, "read_replay", read_after_a_commit)
    socket = await sockets(WS, user=user)
    replay, sync = await synced(socket)
    assert [frame["id"] for frame in replay] == raced
    assert sync["last_id"] == raced[0]
    # Its live copy is queued behind the replay; it must not come out a second time.
    assert await socket.receive_nothing(timeout=0.5)


async def test_notification_committed_between_replay_read_and_synced_arrives_live(
    make_user: Any, sockets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed after the replay read: not in the replay, so it must arrive live, after synced.
    (Between the replay's two queries nothing can commit: they share one snapshot, test_streams.py.)"""
    from notifications import streams

    user = await make(make_user)
    before = await anotify_user(user, kind="test.race", title="before")
    original = streams.read_replay
    raced: list[int] = []

    async def state_after_a_commit(**kwargs: Any) -> Any:
        replay = await original(**kwargs)
        raced.append((await anotify_user(user, kind="test.race", title="raced")).pk)
        return replay

    monkeypatch.setattr(streams, "read_replay", state_after_a_commit)
    socket = await sockets(WS, user=user)
    frames = await receive_until(socket, "synced")
    frames.append(json.loads(await socket.receive_from()))
    ids = [frame["id"] for frame in frames if frame["type"] == "notification"]
    assert ids == [before.pk, *raced]
    assert ids == sorted(set(ids))
    assert await socket.receive_nothing(timeout=0.3)


async def test_late_live_copy_of_a_replayed_notification_is_dropped(make_user: Any, sockets: Any) -> None:
    """A sender's on-commit push can reach the socket after the replay already carried it."""
    from notifications import events
    from realtime import fanout, groups

    user = await make(make_user)
    sent = await anotify_user(user, kind="test.race", title="once")
    socket = await sockets(WS, user=user)
    replay, _ = await synced(socket)
    assert [frame["id"] for frame in replay] == [sent.pk]
    await fanout.apublish([groups.user_group(user.pk)], dict(events.notification_push_event(sent)))
    assert await socket.receive_nothing(timeout=0.5)
    newer = await anotify_user(user, kind="test.race", title="newer")
    assert json.loads(await socket.receive_from())["id"] == newer.pk


async def test_burst_during_connect_arrives_complete_and_in_order(
    make_user: Any, sockets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import streams

    user = await make(make_user)
    early = [(await anotify_user(user, kind="test.burst", title=f"e{i}")).pk for i in range(20)]
    original = streams.read_replay
    late: list[int] = []

    def burst() -> None:
        late.extend(api.notify_user(user, kind="test.burst", title=f"l{i}").pk for i in range(200))

    async def state_after_burst(**kwargs: Any) -> Any:
        replay = await original(**kwargs)
        await database_sync_to_async(burst)()
        return replay

    monkeypatch.setattr(streams, "read_replay", state_after_burst)
    socket = await sockets(WS, user=user)
    frames = await receive_until(socket, "synced")
    for _ in late:
        frames.append(json.loads(await socket.receive_from(timeout=5)))
    ids = [frame["id"] for frame in frames if frame["type"] == "notification"]
    assert ids == early + late
    assert await socket.receive_nothing(timeout=0.3)


# -- preferences: kinds turned off in-app ------------------------------------------------------------


async def test_a_kind_turned_off_in_app_stays_off_live_and_on_replay_and_follows_changes(
    make_user: Any, sockets: Any
) -> None:
    from notifications.kinds import Channel, register_kind, unregister_kind
    from notifications.services import preferences_update

    register_kind("test.chatter", label="Chatter", defaults={Channel.IN_APP})
    try:
        user = await make(make_user)
        await database_sync_to_async(preferences_update)(
            user_id=user.pk, kinds=[{"kind": "test.chatter", "in_app": False}]
        )
        muted = await anotify_user(user, kind="test.chatter", title="muted, before")
        kept = await anotify_user(user, kind="test.other", title="kept, before")
        socket = await sockets(f"{WS}?since={muted.pk - 1}", user=user)
        replay, sync = await synced(socket)
        assert [frame["id"] for frame in replay] == [kept.pk]
        assert sync["unread"] == 1  # the muted one was born read
        await anotify_user(user, kind="test.chatter", title="muted, live")
        live = await anotify_user(user, kind="test.other", title="kept, live")
        assert json.loads(await socket.receive_from())["id"] == live.pk
        # Turned back on in another tab: this socket follows at once.
        await database_sync_to_async(preferences_update)(
            user_id=user.pk, kinds=[{"kind": "test.chatter", "in_app": True}]
        )
        back = await anotify_user(user, kind="test.chatter", title="on again")
        assert json.loads(await socket.receive_from())["id"] == back.pk
    finally:
        unregister_kind("test.chatter")
