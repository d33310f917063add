"""realtime.fanout: hubs, members and both transports (in-process, and Redis pub/sub in the scale-out pass)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, cast

import pytest
import redis
from django.conf import settings

from realtime import fanout, writes


class Recorder:
    """A member that records what reaches it."""

    def __init__(self, name: str = "member") -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.gaps = 0
        self.arrived = asyncio.Event()

    async def fanout_deliver(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.arrived.set()

    async def fanout_gap(self) -> None:
        self.gaps += 1
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


class Connection(fanout.GroupMember):
    """The member half of a consumer, with handlers as a consumer has them."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Any] = []
        self.revoking = asyncio.Event()
        self.release = asyncio.Event()

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, message["type"].replace(".", "_"))
        await handler(message)

    async def test_ping(self, event: dict[str, Any]) -> None:
        self.sent.append(event["n"])

    async def access_revoke(self, event: dict[str, Any]) -> None:
        self.revoking.set()
        await self.release.wait()  # as if waiting on the database
        self.sent.append("revoked")

    async def fanout_gap(self) -> None:
        self.sent.append("gap")


def ping(n: int) -> dict[str, Any]:
    return {"type": "test.ping", "n": n}


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# -- members (either transport) -------------------------------------------------------------------


async def test_events_reach_each_member_of_the_group_once_and_in_order() -> None:
    hub = fanout.get_hub()
    first, second, outsider = Recorder(), Recorder(), Recorder()
    await hub.join(first, ["g.a", "g.b"])
    await hub.join(second, ["g.a"])
    await hub.join(outsider, ["g.c"])
    for n in range(5):
        await fanout.apublish(["g.a"], ping(n))
    assert [event["n"] for event in await first.wait_for(5)] == [0, 1, 2, 3, 4]
    assert [event["n"] for event in await second.wait_for(5)] == [0, 1, 2, 3, 4]
    assert outsider.events == []
    await hub.leave(first, ["g.a", "g.b"])
    await hub.leave(second, ["g.a"])
    await hub.leave(outsider, ["g.c"])


async def test_a_member_that_left_gets_nothing_more() -> None:
    hub = fanout.get_hub()
    staying, leaving = Recorder(), Recorder()
    await hub.join(staying, ["g.a"])
    await hub.join(leaving, ["g.a"])
    await fanout.apublish(["g.a"], ping(1))
    await leaving.wait_for(1)
    await hub.leave(leaving, ["g.a"])
    await fanout.apublish(["g.a"], ping(2))
    await staying.wait_for(2)
    assert [event["n"] for event in leaving.events] == [1]
    await hub.leave(staying, ["g.a"])


async def test_events_that_arrive_while_connecting_wait_for_go_live_then_keep_their_order() -> None:
    connection = Connection()
    await connection.join_groups(["g.a"])
    await fanout.apublish(["g.a"], ping(1))
    await fanout.apublish(["g.a"], ping(2))
    await asyncio.sleep(0.2)
    assert connection.sent == []  # the replay goes first
    connection.sent.append("replay")
    await connection.go_live()
    await fanout.apublish(["g.a"], ping(3))
    await until(lambda: len(connection.sent) == 4)
    assert connection.sent == ["replay", 1, 2, 3]
    await connection.leave_all_groups()


async def test_a_member_busy_with_the_database_does_not_hold_up_the_others() -> None:
    slow, other = Connection(), Connection()
    for connection in (slow, other):
        await connection.join_groups(["g.a"])
        await connection.go_live()
    await fanout.apublish(["g.a"], {"type": "access.revoke", "session": None})
    await fanout.apublish(["g.a"], ping(1))
    await until(lambda: slow.revoking.is_set() and 1 in other.sent and 1 in slow.sent)
    # Both got the ping while the slow one's revocation still waits.
    assert "revoked" not in slow.sent
    slow.release.set()
    other.release.set()
    await until(lambda: "revoked" in slow.sent and "revoked" in other.sent)
    for connection in (slow, other):
        await connection.leave_all_groups()


async def test_a_failing_member_does_not_stop_delivery_to_the_others(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recorder):
        async def fanout_deliver(self, event: dict[str, Any]) -> None:
            raise RuntimeError("boom")

    hub = fanout.get_hub()
    broken, fine = Broken(), Recorder()
    await hub.join(broken, ["g.a"])
    await hub.join(fine, ["g.a"])
    await fanout.apublish(["g.a"], ping(1))
    assert [event["n"] for event in await fine.wait_for(1)] == [1]
    assert any("fan-out delivery failed" in record.getMessage() for record in caplog.records)
    await hub.leave(broken, ["g.a"])
    await hub.leave(fine, ["g.a"])


async def test_publishing_from_another_thread_reaches_this_loop() -> None:
    hub = fanout.get_hub()
    member = Recorder()
    await hub.join(member, ["g.a"])

    def publish_three() -> None:
        for n in range(3):
            fanout.publish(["g.a"], ping(n))

    thread = threading.Thread(target=publish_three)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert [event["n"] for event in await member.wait_for(3)] == [0, 1, 2]
    await hub.leave(member, ["g.a"])


class Socket(Recorder):
    """A member that writes a frame per event as a socket does (held inside ``writes.held()``)."""

    def __init__(self, name: str = "socket") -> None:
        super().__init__(name)
        self.writes: list[bytes] = []

    async def fanout_deliver(self, event: dict[str, Any]) -> None:
        frame = f"{event['n']};".encode()
        if not writes.hold(self, frame):
            self.writes.append(frame)
        await super().fanout_deliver(event)

    def send_held(self, data: bytes) -> None:
        self.writes.append(data)


def publish_while_the_loop_is_busy(batches: list[tuple[str, int]]) -> None:
    """Publish from this (the hub's) thread without yielding, then keep it busy a moment: everything
    has arrived before the hub's task next runs, as when a process falls behind in a burst."""
    for group, n in batches:
        fanout.publish([group], ping(n))
    time.sleep(0.1)


async def test_events_that_arrive_together_reach_each_socket_in_one_write_per_run() -> None:
    hub = fanout.get_hub()
    only_a, only_b, both = Socket("a"), Socket("b"), Socket("a+b")
    await hub.join(only_a, ["g.a"])
    await hub.join(only_b, ["g.b"])
    await hub.join(both, ["g.a", "g.b"])
    publish_while_the_loop_is_busy([("g.a", 0), ("g.a", 1), ("g.a", 2), ("g.b", 3), ("g.a", 4), ("g.a", 5)])
    await both.wait_for(6)
    await only_a.wait_for(5)
    await only_b.wait_for(1)
    # Runs of one group go out joined; each socket still gets everything in the order published.
    assert only_a.writes == [b"0;1;2;", b"4;5;"]
    assert only_b.writes == [b"3;"]
    assert both.writes == [b"0;1;2;", b"3;", b"4;5;"]
    # One event at a time: each frame goes out at once, nothing is held.
    await fanout.apublish(["g.a"], ping(6))
    await only_a.wait_for(6)
    await fanout.apublish(["g.a"], ping(7))
    await only_a.wait_for(7)
    assert only_a.writes[-2:] == [b"6;", b"7;"]
    for member, groups in ((only_a, ["g.a"]), (only_b, ["g.b"]), (both, ["g.a", "g.b"])):
        await hub.leave(member, groups)


async def test_a_member_failing_in_a_run_still_gets_its_earlier_frames_and_the_others_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class FailsOnTwo(Socket):
        async def fanout_deliver(self, event: dict[str, Any]) -> None:
            if event["n"] == 2:
                raise RuntimeError("boom")
            await super().fanout_deliver(event)

    hub = fanout.get_hub()
    failing, fine = FailsOnTwo(), Socket()
    await hub.join(failing, ["g.a"])
    await hub.join(fine, ["g.a"])
    publish_while_the_loop_is_busy([("g.a", n) for n in range(4)])
    await fine.wait_for(4)
    await failing.wait_for(3)
    assert fine.writes == [b"0;1;2;3;"]
    assert failing.writes == [b"0;1;3;"]
    assert any("fan-out delivery failed" in record.getMessage() for record in caplog.records)
    await hub.leave(failing, ["g.a"])
    await hub.leave(fine, ["g.a"])


async def test_bad_group_names_are_refused_on_join() -> None:
    with pytest.raises(ValueError, match="Invalid group name"):
        await fanout.get_hub().join(Recorder(), ["fine", "not fine"])


# -- Redis pub/sub --------------------------------------------------------------------------------


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def subscribers(group: str) -> int:
    client = redis_client()
    try:
        ((_, count),) = cast(list[tuple[bytes, int]], client.pubsub_numsub(f"{settings.REDIS_PREFIX}:fanout:{group}"))
        return int(count)
    finally:
        client.close()


@pytest.mark.scaleout
async def test_join_returns_only_once_redis_confirmed_the_subscription(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until Redis confirms SUBSCRIBE, what is published may not reach this process: join() waits."""
    hub = fanout.get_hub()
    source = hub.source
    assert isinstance(source, fanout.RedisSource)
    order: list[str] = []
    handle_reply = source._handle_reply

    async def slow_confirmations(kind: str, channel: bytes) -> None:
        if kind == "subscribe":
            await asyncio.sleep(0.2)  # a slow Redis, or a busy reader
            order.append("confirmed")
        await handle_reply(kind, channel)

    monkeypatch.setattr(source, "_handle_reply", slow_confirmations)
    member = Recorder()
    await hub.join(member, ["g.fresh"])
    order.append("joined")
    assert order == ["confirmed", "joined"]
    client = redis_client()
    try:
        assert client.publish(f"{settings.REDIS_PREFIX}:fanout:g.fresh", fanout.encode(ping(1))) == 1
    finally:
        client.close()
    assert [event["n"] for event in await member.wait_for(1)] == [1]
    await hub.leave(member, ["g.fresh"])


@pytest.mark.scaleout
async def test_a_process_subscribes_once_per_group_and_unsubscribes_when_the_last_member_leaves() -> None:
    hub = fanout.get_hub()
    members = [Recorder(str(n)) for n in range(50)]
    for member in members:
        await hub.join(member, ["g.shared"])
    assert subscribers("g.shared") == 1
    await fanout.apublish(["g.shared"], ping(1))
    for member in members:
        await member.wait_for(1)
    for member in members[:-1]:
        await hub.leave(member, ["g.shared"])
    assert subscribers("g.shared") == 1
    await hub.leave(members[-1], ["g.shared"])
    await until(lambda: subscribers("g.shared") == 0)


@pytest.mark.scaleout
async def test_a_dropped_subscription_tells_every_member_then_resubscribes() -> None:
    hub = fanout.get_hub()
    first, second = Recorder(), Recorder()
    await hub.join(first, ["g.a"])
    await hub.join(second, ["g.b"])
    client = redis_client()
    try:
        # Redis drops this process's subscriber connection, as a restart or the output-buffer limit
        # would. Only this one: other test runs may share this Redis.
        source = hub.source
        assert isinstance(source, fanout.RedisSource)
        pubsub_clients = cast(list[dict[str, str]], client.client_list(_type="pubsub"))
        ours = [entry for entry in pubsub_clients if entry["name"] == source.client_name]
        assert len(ours) == 1
        assert client.client_kill_filter(_id=ours[0]["id"]) == 1
        await until(lambda: first.gaps == 1 and second.gaps == 1)
        # It comes back on its own, subscribed to what still has members.
        await until(lambda: subscribers("g.a") == 1 and subscribers("g.b") == 1)
        await fanout.apublish(["g.a", "g.b"], ping(7))
        assert [event["n"] for event in await first.wait_for(1)] == [7]
        assert [event["n"] for event in await second.wait_for(1)] == [7]
    finally:
        client.close()
    await hub.leave(first, ["g.a"])
    await hub.leave(second, ["g.b"])


@pytest.mark.scaleout
async def test_join_fails_clearly_when_redis_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "JOIN_TIMEOUT", 0.5)
    monkeypatch.setattr(settings, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    hub = fanout.Hub(asyncio.get_running_loop())
    member = Recorder()
    with pytest.raises(fanout.FanoutUnavailable):
        await hub.join(member, ["g.a"])
    assert hub.members == {}  # a failed join leaves nothing behind
    source = hub.source
    assert isinstance(source, fanout.RedisSource)
    await source.stop_when_idle()
