"""Fixtures of the fault tests: servers with the test settings, crowds of people, rooms, a publishing
process, a throwaway Redis, and resume clients that are always stopped before the servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.conftest import ROOT, DaphneServer, _free_port, _port_open, session_cookie_for
from tests.faults.client import ResumeClient

SERVER_SETTINGS = "tests.faults.server_settings"
REDIS_SERVER = "/usr/bin/redis-server"


# -- servers ---------------------------------------------------------------------------------------

StartServers = Callable[..., list[DaphneServer]]


@pytest.fixture
def fault_servers(daphne_servers: StartServers) -> StartServers:
    """``daphne_servers`` with the fault tests' settings module (see server_settings.py).

    The servers (and the publishers, which share their environment) keep their database connections
    as production does (``CONN_MAX_AGE`` 60, the project's default), whatever the test run's own
    setting. With ``CONN_MAX_AGE=0`` each acknowledgement opens a PostgreSQL connection on the one
    thread a server's database work shares; under these streams the acknowledgements then queue up,
    and a socket with acknowledgements waiting forwards one live event per acknowledgement handled,
    so delivery falls tens of seconds behind. That is a throughput limit, not the fault under test.
    """

    def start(count: int, env: dict[str, str] | None = None) -> list[DaphneServer]:
        return daphne_servers(
            count, env={"DJANGO_SETTINGS_MODULE": SERVER_SETTINGS, "CONN_MAX_AGE": "60", **(env or {})}
        )

    return start


def sockets_on(server: DaphneServer, clients: Iterable[ResumeClient]) -> int:
    return sum(1 for client in clients if client.current_port == server.port)


# -- people and rooms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    user_id: int
    username: str
    cookie: str


@dataclass(frozen=True)
class Room:
    id: int
    public_id: str
    seeded: tuple[int, ...]


@pytest.fixture
def people(transactional_db: None) -> Callable[..., Awaitable[list[Person]]]:
    """``await people(50)``: staff accounts (no password to hash) with a logged-in session cookie each."""
    counter = iter(range(1_000_000))

    @database_sync_to_async
    def make(count: int, prefix: str = "client") -> list[Person]:
        user_model = get_user_model()
        batch = next(counter)
        users = user_model.objects.bulk_create(
            [user_model(username=f"{prefix}{batch}-{i}", is_staff=True) for i in range(count)]
        )
        return [Person(user_id=user.pk, username=user.username, cookie=session_cookie_for(user)) for user in users]

    return make


@pytest.fixture
def rooms(transactional_db: None) -> Callable[..., Awaitable[list[Room]]]:
    """``await rooms(5, poster)``: waiting help requests, each with one message already in it.

    The first message matters: like the browser, a chat client that has seen no message yet connects
    without ``after`` and gets only the latest messages, not everything since it joined.
    """

    @database_sync_to_async
    def make(count: int, poster: Person) -> list[Room]:
        from chat import services
        from chat.participants import user_participant

        participant = user_participant(get_user_model().objects.get(pk=poster.user_id))
        made = []
        for i in range(count):
            help_request = services.help_request_create(name=f"Visitor {i}", description="Fault test room")
            message, _ = services.message_post(
                help_request_id=help_request.pk, participant=participant, body="hello", client_id=f"seed-{i}"
            )
            made.append(Room(id=help_request.pk, public_id=str(help_request.public_id), seeded=(message.pk,)))
        return made

    return make


# -- the publishing process ------------------------------------------------------------------------


@dataclass
class Publication:
    """A running ``tests/faults/publisher.py``: what it has committed so far, in order."""

    process: asyncio.subprocess.Process
    stderr_path: Path
    notifications: list[tuple[int, str]] = field(default_factory=list)
    committed_at: dict[int, float] = field(default_factory=dict)
    messages: list[tuple[int, int]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    def start_reading(self) -> None:
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().split()
            if line[0] == "n":
                self.notifications.append((int(line[1]), line[2]))
                self.committed_at[int(line[1])] = time.monotonic()
            elif line[0] == "m":
                self.messages.append((int(line[1]), int(line[2])))
            elif line[0] == "done":
                self.done.set()
            self._changed.set()
        self._changed.set()

    async def wait_notifications(self, count: int, timeout: float) -> None:
        """Wait until ``count`` notifications are committed (fails the test after ``timeout``)."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.notifications) < count:
                    if self.process.returncode is not None and not self.done.is_set():
                        break
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        assert len(self.notifications) >= count, f"publisher stalled at {len(self.notifications)}\n{self.errors()}"

    async def finished(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
                if self._reader is not None:
                    await self._reader
        except TimeoutError:
            raise AssertionError(f"publisher still running after {timeout} s\n{self.errors()}") from None
        assert self.process.returncode == 0 and self.done.is_set(), f"publisher failed\n{self.errors()}"

    def log(self) -> str:
        """Everything the publisher logged (its stderr)."""
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def errors(self) -> str:
        return self.log()[-3000:]

    def notifications_for(self, user_id: int) -> list[int]:
        """Ids a client of ``user_id`` must get, in commit order (role-wide ones: every client is staff)."""
        return [item for item, target in self.notifications if target in ("role", str(user_id))]

    def messages_in(self, room: Room) -> list[int]:
        return [*room.seeded, *(item for item, room_id in self.messages if room_id == room.id)]


Publish = Callable[[DaphneServer, dict[str, Any]], Awaitable[Publication]]


@pytest.fixture
async def publish(tmp_path: Path) -> AsyncIterator[Publish]:
    """``publication = await publish(server, plan)``: start a publisher with that server's environment."""
    started: list[Publication] = []

    async def run(server: DaphneServer, plan: dict[str, Any]) -> Publication:
        stderr_path = tmp_path / f"publisher-{len(started)}.log"
        with stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.faults.publisher",
                json.dumps(plan),
                cwd=ROOT,
                env=server.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        publication = Publication(process=process, stderr_path=stderr_path)
        publication.start_reading()
        started.append(publication)
        return publication

    yield run
    for publication in started:
        if publication.process.returncode is None:
            publication.process.kill()
            await publication.process.wait()
        if publication._reader is not None:
            publication._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await publication._reader


# -- clients ---------------------------------------------------------------------------------------


@pytest.fixture
async def start_clients(daphne_servers: StartServers) -> AsyncIterator[Callable[[Sequence[ResumeClient]], None]]:
    """``start_clients([...])``: start resume clients; all are stopped before the servers stop."""
    running: list[ResumeClient] = []

    def start(clients: Sequence[ResumeClient]) -> None:
        for client in clients:
            running.append(client.start())

    yield start
    await asyncio.gather(*(client.stop() for client in running), return_exceptions=True)


async def all_synced(clients: Sequence[ResumeClient], timeout: float) -> None:
    """Wait until every client holds a synced socket (fails the test after ``timeout``)."""
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(client.synced.wait() for client in clients))
    except TimeoutError:
        waiting = [client.name for client in clients if not client.synced.is_set()]
        raise AssertionError(f"{len(waiting)} clients not synced after {timeout} s: {waiting[:10]}") from None


# -- what Redis holds ------------------------------------------------------------------------------


def group_subscribers(redis_url: str, group: str) -> int:
    """How many connections are subscribed to a group's fan-out channel (``PUBSUB NUMSUB``).

    Each process subscribes once per group that has members there (realtime/fanout.py), from one
    connection per event loop, and daphne runs one loop: this is the number of server processes
    that receive what is sent to ``group``.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        ((_, count),) = cast(list[tuple[bytes, int]], client.pubsub_numsub(f"{settings.REDIS_PREFIX}:fanout:{group}"))
        return int(count)
    finally:
        client.close()


def fanout_subscriptions(redis_url: str) -> dict[str, int]:
    """``group_subscribers()`` of every group that has at least one (``PUBSUB CHANNELS``, then ``NUMSUB``)."""
    prefix = f"{settings.REDIS_PREFIX}:fanout:"
    client = redis.Redis.from_url(redis_url)
    try:
        channels = cast(list[bytes], client.pubsub_channels(f"{prefix}*"))
        if not channels:
            return {}
        counts = cast(list[tuple[bytes, int]], client.pubsub_numsub(*channels))
        return {channel.decode().removeprefix(prefix): int(count) for channel, count in counts}
    finally:
        client.close()


def registered_sockets(redis_url: str) -> list[dict[str, Any]]:
    """The socket registry's entries (realtime/registry.py), read straight from Redis, stale ones included."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(raw) for raw in cast(list[bytes], client.hvals(f"{settings.REDIS_PREFIX}:sockets"))]
    finally:
        client.close()


# -- a throwaway Redis -----------------------------------------------------------------------------


@dataclass
class RedisProcess:
    """A redis-server of our own on a free loopback port, without persistence, to kill and restart."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while not _port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{(self.directory / 'redis.log').read_text()}")
            time.sleep(0.05)

    def config_set(self, name: str, value: str) -> None:
        client = redis.Redis.from_url(self.url)
        try:
            client.config_set(name, value)
        finally:
            client.close()

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    directory = tmp_path / "redis"
    directory.mkdir()
    redis = RedisProcess(port=_free_port(), directory=directory)
    redis.start()
    yield redis
    redis.kill()
