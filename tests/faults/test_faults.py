"""Faults, end to end: real daphne processes, real Redis, real PostgreSQL, real WebSocket clients.

Every client follows the browser client's resume rules (tests/faults/client.py). Each test prints its
counts (``pytest -s`` shows them; the assertion messages carry them too):

* ``lost``: ids the client should have got and never saw;
* ``duplicated_visible``: ids shown twice after de-duplication by id (must be zero);
* ``duplicated_raw``: frames whose id the client had already seen: expected after reconnects, since
  the server replays what was not acknowledged, and harmless since the client drops them;
* ``reordered``: ids shown after a greater one;
* ``unexpected``: ids shown that were not addressed to the client.

What "in order" means here. Notification ids are allocated in commit order (an advisory lock), and one
publishing process sends each push right after its commit, so every live stream carries increasing
ids. A socket joins its groups before it reads its replay, and sends the replay in id order. So a
client that resumes with ``since=N`` (the highest id it saw) has already seen every id below N that
was addressed to it, and anything it is sent next is greater than N or a duplicate: its
de-duplicated sequence must be strictly increasing across any number of servers and reconnects, and
that is what is asserted (``reordered == 0``). It would not hold for pushes from *concurrent*
publishers: their commits are ordered, the pushes after them are not, so a live stream may carry 11
before 10. Chat message ids are ordered the same way within a room (a row lock per help request),
and one process posts them.

Every wait is bounded and event-driven where it can be; nothing asserts on speed. The live delay
(commit to arrival) of the kill -9 stream is printed for information only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pytest
from django.conf import settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from realtime import groups, registry
from tests.conftest import DaphneServer
from tests.faults.client import ChatClient, NotificationClient, ResumeClient, Tally, summarize
from tests.faults.conftest import (
    Person,
    Publication,
    Room,
    all_synced,
    fanout_subscriptions,
    group_subscribers,
    registered_sockets,
    sockets_on,
)

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

Expected = dict[str, list[int]]


# -- helpers ---------------------------------------------------------------------------------------


def crowd(
    servers: Sequence[DaphneServer], persons: Sequence[Person], rooms: Sequence[Room], **options: Any
) -> tuple[list[NotificationClient], list[ChatClient]]:
    """A notification client and a chat client per person, spread over ``servers`` and ``rooms``."""
    notification_clients = [
        NotificationClient(f"n{i}", servers, cookie=person.cookie, start_at=i, **options)
        for i, person in enumerate(persons)
    ]
    chat_clients = [
        ChatClient(f"c{i}", servers, cookie=person.cookie, start_at=i, public_id=rooms[i % len(rooms)].public_id)
        for i, person in enumerate(persons)
    ]
    return notification_clients, chat_clients


def stream_plan(count: int, persons: Sequence[Person], poster: Person, rooms: Sequence[Room], **extra: Any) -> Any:
    """Role-wide notifications with every fourth one to a single person, and a chat message every second."""
    return {
        "notifications": count,
        "role": "staff",
        "user_ids": [person.user_id for person in persons],
        "per_user_every": 4,
        "rooms": [room.id for room in rooms],
        "poster_id": poster.user_id,
        "messages_every": 2,
        **extra,
    }


def expectations(
    publication: Publication,
    notification_clients: Sequence[NotificationClient],
    chat_clients: Sequence[ChatClient],
    persons: Sequence[Person],
    rooms: Sequence[Room],
) -> Expected:
    expected = {
        client.name: publication.notifications_for(person.user_id)
        for client, person in zip(notification_clients, persons, strict=True)
    }
    expected |= {client.name: publication.messages_in(rooms[i % len(rooms)]) for i, client in enumerate(chat_clients)}
    return expected


async def wait_complete(clients: Sequence[ResumeClient], expected: Expected, timeout: float) -> None:
    """Wait (bounded) until every client has seen everything addressed to it."""
    await asyncio.gather(*(client.wait_for(expected[client.name], timeout) for client in clients))


def report(label: str, clients: Sequence[ResumeClient], expected: Expected) -> tuple[str, list[Tally]]:
    tallies = [client.tally(expected[client.name]) for client in clients]
    line = summarize(label, tallies, clients)
    print(line)
    return line, tallies


def check(label: str, clients: Sequence[ResumeClient], expected: Expected, servers: Sequence[DaphneServer]) -> None:
    """Print the counts and assert lost, visible duplicates, reordered and unexpected are all zero."""
    line, tallies = report(label, clients, expected)
    bad = [(client, tally) for client, tally in zip(clients, tallies, strict=True) if not tally.clean]
    if bad and any(tally.lost for _, tally in bad):
        _dump_stacks(servers)
    details = "; ".join(
        f"{client.name}: {tally} attempts={[(a.port, a.close_code, a.error) for a in client.attempts]}"
        for client, tally in bad[:3]
    )
    logs = ", ".join(str(server.log_path) for server in servers)
    assert not bad, f"{line}\n{details}\nserver logs (with thread stacks): {logs}"


def _dump_stacks(servers: Sequence[DaphneServer]) -> None:
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGUSR2)  # faulthandler: see server_settings.py


def live_delays(publication: Publication, clients: Sequence[ResumeClient]) -> str:
    delays = sorted(
        arrival.at - publication.committed_at[arrival.id]
        for client in clients
        for arrival in client.arrivals
        if arrival.live and arrival.id in publication.committed_at
    )
    if not delays:
        return "none live"
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return f"median {statistics.median(delays):.2f} s, p99 {p99:.2f} s, max {delays[-1]:.2f} s"


async def wait_until(condition: Callable[[], Coroutine[Any, Any, bool]], timeout: float) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


# -- kill -9 ---------------------------------------------------------------------------------------

CLIENTS = 50
STREAM = 2000
KILLS_AT = (300, 700, 1100, 1500)  # notifications committed when each kill comes


@pytest.mark.timeout(280)
async def test_kill_9_of_the_server_holding_every_client_loses_nothing_and_shows_nothing_twice(
    fault_servers: Any, people: Any, rooms: Any, publish: Any, start_clients: Any
) -> None:
    servers = fault_servers(2)
    persons = await people(CLIENTS)
    (poster,) = await people(1, prefix="poster")
    room_list = await rooms(5, poster)
    notification_clients, chat_clients = crowd(servers, persons, room_list)
    everyone: list[ResumeClient] = [*notification_clients, *chat_clients]
    start_clients(everyone)
    await all_synced(everyone, 60)

    publication: Publication = await publish(
        servers[0], stream_plan(STREAM, persons, poster, room_list, interval=0.004)
    )
    kills = []
    for threshold in KILLS_AT:
        await publication.wait_notifications(threshold, 120)
        # Everyone is back on a server before each kill. Clients reconnect to the *other* server, so
        # from the second kill on the victim holds every socket (2 per client).
        await all_synced(everyone, 60)
        victim = max(servers, key=lambda server: sockets_on(server, everyone))
        held = sockets_on(victim, everyone)
        await asyncio.to_thread(victim.stop, signal.SIGKILL)
        kills.append((held, len(publication.notifications)))
        # Back on the same port at once, so there is always somewhere to reconnect to.
        await asyncio.to_thread(victim.start)
    await publication.finished(180)
    expected = expectations(publication, notification_clients, chat_clients, persons, room_list)
    await wait_complete(everyone, expected, 60)

    print(f"[kill -9] kills (sockets held by the victim, notifications committed by then): {kills}")
    print(f"[kill -9] live delay: {live_delays(publication, notification_clients)}")
    assert len(publication.notifications) == STREAM and all(held > 0 for held, _ in kills), kills
    check("kill -9 notifications", notification_clients, expected, servers)
    check("kill -9 chat", chat_clients, expected, servers)


# -- a Redis restart -------------------------------------------------------------------------------


@pytest.mark.timeout(200)
@pytest.mark.parametrize("outage", [0.0, 1.0], ids=["quick_restart", "down_for_1s"])
async def test_redis_restart_loses_nothing_persisted_and_needs_no_server_restart(
    fault_servers: Any, throwaway_redis: Any, people: Any, rooms: Any, publish: Any, start_clients: Any, outage: float
) -> None:
    """Our own Redis (the shared one serves everyone else's tests), killed and restarted without
    persistence: every subscription, registry entry and cache key is gone.

    Each server's fan-out hub loses its subscription connection with Redis, and tells every member
    (``fanout_gap``): the sockets close with 1000 (a consumer that was itself calling Redis at that
    moment may fail first, and daphne closes it with 1011). The hubs reconnect on their own; a socket
    that connects while Redis is still away is refused (1011 when its admission checks fail, 4503
    when its join does). Either way the client resumes, and the replay brings back what it missed. Afterwards every
    group with open sockets is subscribed again by each server holding one of them, and the staff
    group by exactly those: once each, no other.
    """
    env = {"REDIS_URL": throwaway_redis.url}
    servers = fault_servers(2, env=env)
    processes = [server.process for server in servers if server.process is not None]
    persons = await people(20)
    (poster,) = await people(1, prefix="poster")
    room_list = await rooms(2, poster)
    notification_clients, chat_clients = crowd(servers, persons, room_list)
    everyone: list[ResumeClient] = [*notification_clients, *chat_clients]
    start_clients(everyone)
    await all_synced(everyone, 60)
    publication: Publication = await publish(servers[0], stream_plan(600, persons, poster, room_list, interval=0.01))

    await publication.wait_notifications(200, 120)
    before = {client.name: client.current for client in everyone}
    throwaway_redis.kill()
    await asyncio.sleep(outage)
    await asyncio.to_thread(throwaway_redis.start)
    await publication.finished(180)
    expected = expectations(publication, notification_clients, chat_clients, persons, room_list)
    await wait_complete(everyone, expected, 90)

    # The hubs resubscribed: every group with open sockets has each server holding one of them
    # subscribed, once; the staff group exactly those (a hub whose last member left unsubscribes).
    staff_group = groups.role_group("staff")

    def holders() -> dict[str, set[int]]:
        """Group → ports of the servers holding a socket in it, from where the clients are."""
        held: dict[str, set[int]] = {}
        for i, (person, notifications, chat) in enumerate(
            zip(persons, notification_clients, chat_clients, strict=True)
        ):
            room = room_list[i % len(room_list)]  # as crowd() assigns them
            for client, client_groups in (
                (notifications, [groups.user_group(person.user_id), groups.everyone_group(), staff_group]),
                (chat, [groups.help_request_group(room.public_id)]),
            ):
                if (port := client.current_port) is not None:
                    for group in [*client_groups, groups.control_group(person.user_id)]:
                        held.setdefault(group, set()).add(port)
        return held

    async def resubscribed() -> bool:
        subscribed = await asyncio.to_thread(fanout_subscriptions, throwaway_redis.url)
        return subscribed == {group: len(ports) for group, ports in holders().items()}

    await wait_until(resubscribed, 10)
    subscribed = fanout_subscriptions(throwaway_redis.url)
    held = holders()
    missing = {group: len(ports) for group, ports in held.items() if subscribed.get(group, 0) < len(ports)}
    extra = sum(max(0, count - len(held.get(group, ()))) for group, count in subscribed.items())
    gaps = [server.logs().count("fan-out subscription lost") for server in servers]
    codes: dict[str, int] = {}
    for client in everyone:
        attempt = before[client.name]
        assert attempt is not None
        codes[str(attempt.close_code)] = codes.get(str(attempt.close_code), 0) + 1
    print(
        f"[redis restart, outage {outage} s] how the sockets open at the kill ended: {codes};"
        f" subscriptions lost per server: {gaps};"
        f" staff group: {subscribed.get(staff_group, 0)} subscribed processes for {len(held.get(staff_group, ()))}"
        f" servers holding staff sockets; all {len(held)} groups with sockets: {len(missing)} short of a"
        f" subscription, {extra} subscriptions without a socket"
    )
    assert [server.process for server in servers] == processes, "a server was restarted"
    assert all(process.poll() is None for process in processes), "a server died"
    check(f"redis restart ({outage} s) notifications", notification_clients, expected, servers)
    check(f"redis restart ({outage} s) chat", chat_clients, expected, servers)
    assert all(gaps), f"a server's hub did not see its subscription drop: {gaps}"
    assert not missing, f"servers hold sockets in groups they are not subscribed to: {missing}"
    assert held.get(staff_group) and subscribed.get(staff_group) == len(held[staff_group]), (
        f"{subscribed.get(staff_group, 0)} processes subscribed to the staff group,"
        f" {len(held.get(staff_group, ()))} hold staff sockets"
    )


# -- a stalled client ------------------------------------------------------------------------------

HEARTBEAT = 3.0
READERS = 20


async def open_stalled_socket(server: DaphneServer, cookie: str) -> tuple[ClientConnection, int]:
    """A notification socket that reads up to ``synced`` and then never reads nor sends again.

    Its receive buffer is tiny and websockets stops reading after one queued frame, so what the server
    sends it backs up in TCP and then in the server's own buffers, as with a frozen tab or a dead link.
    Returns the socket and the highest id it saw (``synced.last_id``).
    """
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
    stalled = await connect(
        server.ws_base + "/ws/notifications/",
        sock=raw,
        origin=Origin(server.http_base),
        additional_headers={"Cookie": cookie},
        proxy=None,
        ping_interval=None,
        max_queue=1,
        close_timeout=1,
    )
    while True:
        frame = json.loads(await asyncio.wait_for(stalled.recv(), 30))
        if frame["type"] == "synced":
            return stalled, int(frame["last_id"])


async def how_it_ended(stalled: ClientConnection) -> tuple[int, int | None]:
    """Read what is left on the stalled socket: ``(frames it could still read, close code it saw)``."""
    frames = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            try:
                while True:
                    await stalled.recv()
                    frames += 1
            except ConnectionClosed as exc:
                return frames, exc.rcvd.code if exc.rcvd is not None else 1006
    return frames, None


@pytest.mark.timeout(200)
async def test_stalled_client_is_dropped_after_the_heartbeat_others_are_unaffected_and_it_catches_up(
    fault_servers: Any, people: Any, publish: Any, start_clients: Any
) -> None:
    (server,) = fault_servers(1, env={"REALTIME_HEARTBEAT_TIMEOUT": str(HEARTBEAT)})
    persons = await people(READERS + 1)
    reader_people, stalled_person = persons[:READERS], persons[READERS]
    # Readers ping well within the short heartbeat (the browser pings every 20 s against 90 s).
    readers = [
        NotificationClient(f"r{i}", [server], cookie=person.cookie, ping_interval=HEARTBEAT / 4)
        for i, person in enumerate(reader_people)
    ]
    start_clients(readers)
    await all_synced(readers, 60)
    stalled, stalled_since = await open_stalled_socket(server, stalled_person.cookie)
    stalled_at = time.monotonic()
    sockets = registry.get_registry()
    assert await sockets.auser_socket_count(stalled_person.user_id) == 1

    # Role-wide notifications for everyone, and large ones for the stalled person alone, so that its
    # socket backs up for real while the readers' streams go on.
    publication: Publication = await publish(
        server,
        {
            "notifications": 600,
            "interval": 0.01,
            "role": "staff",
            "user_ids": [stalled_person.user_id],
            "per_user_every": 2,
            "user_body_bytes": 8000,
        },
    )

    async def stalled_socket_gone() -> bool:
        return await sockets.auser_socket_count(stalled_person.user_id) == 0

    dropped = await wait_until(stalled_socket_gone, HEARTBEAT + 60)
    dropped_after = time.monotonic() - stalled_at
    timed_out = re.search(rf"socket heartbeat timeout user={stalled_person.user_id}\b", server.logs()) is not None
    await publication.finished(120)

    # The readers get everything, on their first socket, while the stalled one is still away.
    expected = {
        reader.name: publication.notifications_for(person.user_id)
        for reader, person in zip(readers, reader_people, strict=True)
    }
    await wait_complete(readers, expected, 60)
    check("stalled: the readers", readers, expected, [server])
    assert all(len(reader.opened_attempts()) == 1 for reader in readers), "a reader was disconnected"
    frames_left, stalled_code = await how_it_ended(stalled)

    # It comes back, resuming from the highest id it saw before it stalled.
    returning = NotificationClient("stalled", [server], cookie=stalled_person.cookie)
    returning.last_id = stalled_since
    start_clients([returning])
    expected["stalled"] = publication.notifications_for(stalled_person.user_id)
    await wait_complete([returning], expected, 60)
    replayed = sum(1 for arrival in returning.arrivals if not arrival.live)
    print(
        f"[stalled] dropped: {dropped}, {dropped_after:.1f} s after it stalled (heartbeat {HEARTBEAT} s,"
        f" timeout logged: {timed_out}); it could still read {frames_left} frames, then saw close code"
        f" {stalled_code}; on its return {replayed} of {len(expected['stalled'])} came by replay"
    )
    assert dropped and timed_out, f"the stalled socket was not dropped for its silence ({dropped_after:.1f} s)"
    assert dropped_after >= HEARTBEAT, f"dropped {dropped_after:.1f} s after it stalled, before the heartbeat"
    check("stalled: on its return", [returning], expected, [server])
    assert len(returning.opened_attempts()) == 1


# -- a burst to one person -------------------------------------------------------------------------

BURST = 1000
#: What the throwaway Redis allows a subscriber to fall behind: 256 KiB, or 128 KiB for a second.
SLOW_SUBSCRIBER_LIMIT = "pubsub 256kb 128kb 1"
#: Body of each burst notification when Redis is to drop the subscriber: 8 MB in all, far more than
#: that limit plus what the paused process's socket buffers in the kernel can take.
OVERFLOW_BODY_BYTES = 8000


@pytest.mark.timeout(200)
@pytest.mark.parametrize("overflow", [False, True], ids=["project", "redis_drops_the_paused_subscriber"])
async def test_burst_of_1000_to_one_person_while_their_server_is_paused(
    request: pytest.FixtureRequest, fault_servers: Any, people: Any, publish: Any, start_clients: Any, overflow: bool
) -> None:
    """The burst is one transaction, so its 1,000 pushes leave back to back at commit. The server is
    paused (SIGSTOP) meanwhile, as in a long GC pause or CPU starvation, so they all wait for it: in
    its socket buffers, then in Redis's output buffer of its subscription connection. Redis's limit
    on that buffer alone decides whether any is dropped. With Redis's default limits (32 MB, or 8 MB
    for a minute) none is, and all arrive live on the same socket.

    With a small limit on our own Redis, and large notifications, Redis disconnects the paused
    subscriber and what was buffered for it is gone. On SIGCONT the server's hub finds its
    subscription lost (``fanout_gap``), the socket closes with 1000, and the client reconnects: the
    replay must bring back the rest, each once."""
    env: dict[str, str] = {}
    redis_process: Any = None
    if overflow:
        redis_process = request.getfixturevalue("throwaway_redis")
        redis_process.config_set("client-output-buffer-limit", SLOW_SUBSCRIBER_LIMIT)
        env = {"REDIS_URL": redis_process.url}  # the publishers share it
    (server,) = fault_servers(1, env=env)
    (person,) = await people(1)
    client = NotificationClient("burst", [server], cookie=person.cookie)
    start_clients([client])
    await all_synced([client], 60)

    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        plan = {"notifications": BURST, "burst_user_id": person.user_id}
        if overflow:
            plan["user_body_bytes"] = OVERFLOW_BODY_BYTES
        burst: Publication = await publish(server, plan)
        await burst.finished(120)
    finally:
        server.process.send_signal(signal.SIGCONT)
    # One more after the burst: once it arrives, whatever of the burst was still on its way has too.
    sentinel: Publication = await publish(server, {"notifications": 1, "burst_user_id": person.user_id})
    await sentinel.finished(60)
    sentinel_id = sentinel.notifications[0][0]
    assert await client.wait_for([sentinel_id], 60), "the socket stopped receiving after the pause"
    expected = {"burst": [*burst.notifications_for(person.user_id), sentinel_id]}
    await wait_complete([client], expected, 60)

    burst_ids = set(burst.notifications_for(person.user_id))
    live = sum(1 for arrival in client.arrivals if arrival.attempt == 1 and arrival.id in burst_ids)
    later = sum(1 for arrival in client.arrivals if arrival.attempt > 1 and arrival.id in burst_ids)
    dropped_by_redis = redis_process.log().count("for overcoming of output buffer limits") if overflow else 0
    lost_subscription = server.logs().count("fan-out subscription lost")
    sockets = client.opened_attempts()
    label = "Redis drops the paused subscriber" if overflow else "project"
    print(
        f"[burst, {label}] live on the first socket: {live} of {BURST}, on later sockets: {later};"
        f" subscribers Redis disconnected: {dropped_by_redis}; subscriptions the hub lost: {lost_subscription};"
        f" sockets: {len(sockets)}, close codes: {client.close_codes()}"
    )
    if not overflow:
        assert live == BURST, f"{BURST - live} of {BURST} did not arrive live"
        check("burst, project", [client], expected, [server])
        assert len(sockets) == 1 and lost_subscription == 0
    else:
        assert dropped_by_redis >= 1, "Redis did not disconnect the paused subscriber: the test proves nothing"
        assert lost_subscription >= 1, "the hub did not notice that Redis dropped its subscription"
        # The gap path: the first socket closed with 1000 and the client came back.
        assert len(sockets) > 1 and sockets[0].close_code == 1000, [(a.close_code, a.error) for a in sockets]
        # What Redis dropped comes back by replay: complete and shown once (the replay's order is
        # reported, not asserted).
        line, (tally,) = report("burst, Redis drops the paused subscriber", [client], expected)
        assert tally.lost == tally.visible_duplicates == tally.unexpected == 0, line


# -- graceful shutdown -----------------------------------------------------------------------------


@pytest.mark.timeout(240)
async def test_sigterm_under_load_clients_reconnect_elsewhere_and_lose_nothing(
    fault_servers: Any, people: Any, rooms: Any, publish: Any, start_clients: Any
) -> None:
    first, second = servers = fault_servers(2)
    persons = await people(40)
    (poster,) = await people(1, prefix="poster")
    room_list = await rooms(4, poster)
    notification_clients, chat_clients = crowd(servers, persons, room_list)
    everyone: list[ResumeClient] = [*notification_clients, *chat_clients]
    start_clients(everyone)
    await all_synced(everyone, 60)
    publication: Publication = await publish(second, stream_plan(1200, persons, poster, room_list, interval=0.004))

    await publication.wait_notifications(400, 120)
    await all_synced(everyone, 60)
    on_first = {client.name: client.current for client in everyone if client.current_port == first.port}
    assert first.process is not None and on_first
    pid = first.process.pid
    signalled = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    exit_code = await asyncio.to_thread(first.process.wait, 60)
    exited_after = time.monotonic() - signalled
    await publication.finished(180)
    expected = expectations(publication, notification_clients, chat_clients, persons, room_list)
    await wait_complete(everyone, expected, 60)

    codes: dict[str, int] = {}
    for attempt in on_first.values():
        assert attempt is not None and attempt.ended is not None
        codes[str(attempt.close_code)] = codes.get(str(attempt.close_code), 0) + 1
    closed_within = max(attempt.ended - signalled for attempt in on_first.values() if attempt and attempt.ended)
    shutdown_log = ", ".join(re.findall(r"Killed \d+ pending application instances", first.logs()))
    left_behind = [entry for entry in registered_sockets(settings.REDIS_URL) if entry["process"].endswith(f":{pid}")]
    # The stopped process's subscriptions went with its connection; the survivor holds every staff socket.
    staff_subscribers = group_subscribers(settings.REDIS_URL, groups.role_group("staff"))
    print(
        f"[sigterm] daphne exited with {exit_code} {exited_after:.1f} s after SIGTERM; its {len(on_first)} sockets"
        f" were closed with {codes} within {closed_within:.1f} s"
        f" ({shutdown_log});"
        f" left in the registry: {len(left_behind)}; processes subscribed to the staff group: {staff_subscribers}"
    )
    moved = [client for client in everyone if client.name in on_first]
    assert all(client.current_port == second.port for client in moved), "clients did not reconnect elsewhere"
    check("sigterm notifications", notification_clients, expected, servers)
    check("sigterm chat", chat_clients, expected, servers)
    assert exit_code == 0
    # A graceful shutdown cleans up after its sockets, as their own disconnects would have.
    assert not left_behind, f"{len(left_behind)} sockets of the stopped server are still registered"
    assert staff_subscribers == 1, f"{staff_subscribers} processes subscribed to the staff group, not just the survivor"
