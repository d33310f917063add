"""Fixtures shared by every test module: users by role, logged-in sockets, real daphne servers.

Two passes run the suite (see the Makefile's ``test`` target):

* embedded: SQLite and the in-memory channel layer, ``-m "not scaleout"``;
* scale-out: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (channels-redis), everything, including
  the tests that start real daphne processes. When those services are configured but unreachable,
  the run stops with an error; a test that needs them and finds them unconfigured fails, never skips.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from charity.roles import Role
from realtime import adb, fanout, heartbeat, limits

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = b"http://localhost"


def pytest_configure(config: pytest.Config) -> None:
    """Fail the whole run, loudly, when a configured service does not answer."""
    problems = []
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url:
        parts = urlsplit(database_url)
        if not _port_open(parts.hostname or "127.0.0.1", parts.port or 5432):
            problems.append(f"PostgreSQL is not reachable at DATABASE_URL={database_url}")
    if redis_url:
        parts = urlsplit(redis_url)
        if not _port_open(parts.hostname or "127.0.0.1", parts.port or 6379):
            problems.append(f"Redis is not reachable at REDIS_URL={redis_url}")
    if problems:
        pytest.exit("Required services are down: " + "; ".join(problems), returncode=3)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def scaleout_configured() -> bool:
    return bool(os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL"))


@pytest.fixture
def require_scaleout() -> None:
    if not scaleout_configured():
        pytest.fail("This test needs DATABASE_URL (PostgreSQL) and REDIS_URL (Redis); run it with `make test`.")


# Every test comes from one address (and many from one user): the limits are tested on their own.
SUITE_HELP_REQUESTS_PER_IP = 1_000_000
SUITE_HTTP_WRITES_PER_MINUTE = 1_000_000


def fresh_address() -> str:
    """A client address no other test has counted against (limit counters live in the shared cache):
    in a /64 of its own, since address limits count IPv6 clients per /64."""
    return f"2001:db8:{secrets.randbelow(1 << 16):x}:{secrets.randbelow(1 << 16):x}::1"


@pytest.fixture(autouse=True)
def _suite_wide_ip_limit(settings: Any) -> None:
    """Every test socket and help request comes from one address; the per-IP limits are tested on their own."""
    settings.REALTIME_CONNECTIONS_PER_IP = 1_000_000
    settings.REALTIME_HELP_REQUESTS_PER_IP = SUITE_HELP_REQUESTS_PER_IP
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = SUITE_HTTP_WRITES_PER_MINUTE
    settings.REALTIME_HTTP_RECEIPTS_PER_MINUTE = SUITE_HTTP_WRITES_PER_MINUTE
    settings.REALTIME_HTTP_WRITES_PER_IP = SUITE_HTTP_WRITES_PER_MINUTE


@pytest.fixture(autouse=True)
def _fresh_waiting_room() -> None:
    """Each test reads the waiting room's figures and configuration anew: the cache outlives a test's
    database, and its copies would describe another test's help requests and helpers."""
    from django.core.cache import cache

    from chat import selectors, services

    cache.delete_many([selectors.HELPLINE_CACHE_KEY, selectors.WAIT_CACHE_KEY, services.WAIT_ANNOUNCED_KEY])


@pytest.fixture(autouse=True)
def _fresh_risk_list() -> None:
    """Each test matches against its own database's risk list: a list a previous test changed (and
    committed, inside its rolled-back test transaction) must not linger in the process's matcher."""
    from chat import triage

    triage.list_changed()


@pytest.fixture(autouse=True)
async def _fresh_fanout() -> AsyncIterator[None]:
    """End each test with its loop's fan-out hub, heartbeat and Redis connections closed (the loop
    goes next)."""
    yield
    await fanout.aclose()
    await heartbeat.aclose()
    await adb.aclose()
    await limits.aclose()


Sent = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every ``(group, event)`` published during the test, in order, as a receiving hub decodes it.

    Replaces the fan-out transport (Redis or in-process) and nothing above it, so what is recorded
    went through the real on-commit, broadcast and encoding path, group name checks included.
    """
    calls: Sent = []

    def send(group_names: tuple[str, ...], payload: bytes) -> None:
        calls.extend((group, fanout.decode(payload)) for group in group_names)

    async def asend(group_names: tuple[str, ...], payload: bytes) -> None:
        send(group_names, payload)

    monkeypatch.setattr(fanout, "_send", send)
    monkeypatch.setattr(fanout, "_asend", asend)
    return calls


# -- people --------------------------------------------------------------------------------------


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    """``make_user`` hashes a password per user; the cheapest hasher keeps tests with many users quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    counter = iter(range(1, 1_000_000))

    def make(username: str | None = None, *, roles: tuple[Role | str, ...] = (), **extra: Any) -> Any:
        wanted = {Role(role) for role in roles}
        user = get_user_model().objects.create_user(
            username=username or f"user{next(counter)}",
            password="pw-for-tests-1",
            is_staff=Role.STAFF in wanted,
            **extra,
        )
        for role in wanted:
            if role in (Role.VOLUNTEER, Role.DONOR):
                user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        return user

    return make


def session_cookie_for(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def connect_socket(
    path: str, *, user: Any = None, cookie: str | None = None, origin: bytes | None = ORIGIN
) -> tuple[WebsocketCommunicator, bool, int | None]:
    """Open a socket through the real ASGI stack (origin check, session auth, routing)."""
    from charity.asgi import application

    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        cookie = await database_sync_to_async(session_cookie_for)(user)
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def sse_scope(
    path: str, *, cookie: str | None = None, last_event_id: str | None = None, client: str = "127.0.0.1"
) -> dict[str, Any]:
    """The ASGI scope of a browser's EventSource request for ``path`` (with its query string)."""
    path, _, query = path.partition("?")
    headers = [(b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if last_event_id is not None:
        headers.append((b"last-event-id", last_event_id.encode()))
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "scheme": "http",
        "server": ("localhost", 80),
        "client": (client, 5000),
    }


async def socket_opener(connect: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    """A fixture body: ``await open(path, ...)`` connects with ``connect`` and asserts the handshake;
    every socket it opened is closed at the end of the test."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(path: str, *args: Any, **kwargs: Any) -> WebsocketCommunicator:
        communicator, connected, code = await connect(path, *args, **kwargs)
        opened.append(communicator)
        assert connected, f"handshake refused ({code})"
        return communicator

    yield open_socket
    for communicator in opened:
        try:
            await communicator.disconnect()
        except BaseException:
            pass


@pytest.fixture
async def sockets() -> AsyncIterator[Callable[..., Any]]:
    """Open sockets with ``await sockets(path, user=...)``; all are closed at the end of the test."""
    async for open_socket in socket_opener(connect_socket):
        yield open_socket


# -- real daphne processes -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DaphneServer:
    port: int
    env: dict[str, str]
    log_path: Path
    module: str = "realtime.server"  # as deployed; "daphne" for stock daphne
    app: str = "charity.asgi:application"
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, "-b", "127.0.0.1", "-p", str(self.port), self.app],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{self.log_path.read_text()[-4000:]}")
            if _port_open("127.0.0.1", self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not listen on {self.port}:\n{self.log_path.read_text()[-4000:]}")

    def stop(self, sig: int | None = None) -> None:
        if self.process and self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def _test_database_url() -> str:
    """DATABASE_URL pointed at the test database pytest-django created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + str(settings.DATABASES["default"]["NAME"])))


@pytest.fixture
def daphne_servers(
    require_scaleout: None, transactional_db: None, tmp_path: Path
) -> Iterator[Callable[..., list[DaphneServer]]]:
    """Start ``n`` daphne processes sharing the test database and Redis: ``servers = daphne_servers(2)``.

    ``env`` adds to (or overrides) their environment: ``daphne_servers(1, env={"X": "1"})``.
    """
    started: list[DaphneServer] = []

    def start(count: int, env: dict[str, str] | None = None) -> list[DaphneServer]:
        env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY,
            # Production settings otherwise, but plain HTTP on loopback: no redirect to https://,
            # cookies a browser sends over http://, and emails kept in memory.
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "REALTIME_HELP_REQUESTS_PER_IP": str(SUITE_HELP_REQUESTS_PER_IP),
            "REALTIME_HTTP_WRITES_PER_MINUTE": str(SUITE_HTTP_WRITES_PER_MINUTE),
            "REALTIME_HTTP_RECEIPTS_PER_MINUTE": str(SUITE_HTTP_WRITES_PER_MINUTE),
            "REALTIME_HTTP_WRITES_PER_IP": str(SUITE_HTTP_WRITES_PER_MINUTE),
            **(env or {}),
        }
        servers = []
        for _ in range(count):
            port = _free_port()
            server = DaphneServer(port=port, env=env, log_path=tmp_path / f"daphne-{port}.log")
            # Registered before it starts, so one that never listens is still stopped at teardown.
            started.append(server)
            server.start()
            servers.append(server)
        return servers

    yield start
    for server in started:
        server.stop()
