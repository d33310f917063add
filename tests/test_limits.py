"""Rate limits, resource limits and the trusted-proxy rule (realtime.limits, realtime.sockets)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.cache.backends.redis import RedisCache
from django.test import RequestFactory

from realtime import admission
from realtime.cache import shared_cache
from realtime.limits import (
    TokenBucket,
    address_hash,
    address_key,
    client_ip,
    connection_allowed,
    help_request_allowed,
    request_client_ip,
    within_limits,
)
from realtime.registry import ADMITTED, TOO_MANY_NEW, TOO_MANY_OPEN, RedisRegistry, get_registry
from tests.conftest import connect_socket, fresh_address

WS = "/ws/notifications/"


def scope(peer: str, forwarded: str | None = None) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"client": (peer, 5000), "headers": headers}


def test_an_http_request_gets_the_same_rule_as_a_socket(settings: Any) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.7")
    settings.REALTIME_TRUSTED_PROXIES = []
    assert request_client_ip(request) == "10.0.0.3"
    settings.REALTIME_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert request_client_ip(request) == "198.51.100.7"


def test_within_limits_counts_each_key_in_its_own_kind_of_window() -> None:
    key = f"test-{secrets.token_hex(8)}"
    assert [within_limits([(key, 2)], window=60, kind="a") for _ in range(3)] == [True, True, False]
    assert within_limits([(key, 2)], window=60, kind="b"), "another kind of limit counts apart"


def test_forwarded_for_is_ignored_without_trusted_proxies(settings: Any) -> None:
    settings.REALTIME_TRUSTED_PROXIES = []
    assert client_ip(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Any) -> None:
    settings.REALTIME_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_trusted_proxy_gives_the_rightmost_untrusted_hop(settings: Any) -> None:
    settings.REALTIME_TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.1"]
    # The client prepended a lie; the proxies appended what they saw.
    assert client_ip(scope("10.1.2.3", "1.1.1.1, 198.51.100.7, 192.168.1.1")) == "198.51.100.7"


def test_garbage_forwarded_for_falls_back_to_the_peer(settings: Any) -> None:
    settings.REALTIME_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(scope("10.1.2.3", "not-an-ip")) == "10.1.2.3"


def test_an_invalid_proxy_entry_never_raises_at_request_time(settings: Any) -> None:
    """A bad entry is a startup error (realtime.checks); a request is still answered, by the valid ones."""
    settings.REALTIME_TRUSTED_PROXIES = ["not-a-network", "10.0.0.0/8"]
    assert client_ip(scope("10.1.2.3", "198.51.100.7")) == "198.51.100.7"
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert request_client_ip(request) == "203.0.113.9"


def test_trusted_proxies_are_read_from_the_environment() -> None:
    """The documented deployment sets them in the environment: a process started with it believes them."""
    code = (
        "import django; django.setup(); from realtime.limits import client_ip; "
        "from django.conf import settings; print(settings.REALTIME_TRUSTED_PROXIES); "
        "print(client_ip({'client': ('127.0.0.1', 1), 'headers': [(b'x-forwarded-for', b'198.51.100.7')]}))"
    )
    environ = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "charity.settings",
        "DEBUG": "1",
        "REALTIME_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['127.0.0.1', '10.0.0.0/8']", "198.51.100.7"]


# -- address keys: IPv6 per /64, a keyed hash that changes daily ---------------------------------


def random_64() -> str:
    """The first four groups of an IPv6 /64 no other test has counted against."""
    return f"2001:db8:{secrets.randbelow(1 << 16):x}:{secrets.randbelow(1 << 16):x}"


def test_ipv6_clients_share_an_address_limit_per_64(settings: Any) -> None:
    settings.REALTIME_HELP_REQUESTS_PER_IP = 2
    network, other = random_64(), random_64()

    def allowed(address: str) -> bool:
        return help_request_allowed(RequestFactory().post("/", REMOTE_ADDR=address))

    # One machine can use every address of its /64: changing the low bits buys nothing.
    assert [allowed(f"{network}::1"), allowed(f"{network}:ffff:1:2:3"), allowed(f"{network}::abcd")] == [
        True,
        True,
        False,
    ]
    assert allowed(f"{other}::1"), "another /64 counts apart"


def test_ipv4_clients_count_per_address() -> None:
    assert address_key(scope("203.0.113.1")) != address_key(scope("203.0.113.2"))
    # The IPv4-mapped form of an address is the same client.
    assert address_key(scope("::ffff:203.0.113.1")) == address_key(scope("203.0.113.1"))
    assert address_key(scope("2001:db8:1:2::1")) == address_key(scope("2001:db8:1:2:ffff::1"))
    assert address_key(scope("2001:db8:1:2::1")) != address_key(scope("2001:db8:1:3::1"))


def test_an_address_key_is_a_keyed_hash_that_changes_daily(settings: Any) -> None:
    address = "203.0.113.1"
    today = address_hash(address, day=date(2026, 3, 1))
    assert address not in today and len(today) == 32
    assert address_hash(address, day=date(2026, 3, 1)) == today
    assert address_hash(address, day=date(2026, 3, 2)) != today, "the key rotates every day"
    settings.SECRET_KEY = "another-deployment-" + secrets.token_hex(16)
    assert address_hash(address, day=date(2026, 3, 1)) != today, "keyed by SECRET_KEY: no rainbow table"


@pytest.fixture
def cache_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every key the limits read or write in the shared cache (any backend) during the test."""
    keys: list[str] = []
    cache = shared_cache()
    for name in ("add", "set", "incr", "get", "set_many", "get_many"):
        original = getattr(cache, name)

        def spy(key: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            keys.extend([key] if isinstance(key, str) else list(key))
            return _original(key, *args, **kwargs)

        monkeypatch.setattr(cache, name, spy)
    # On Redis the counters bypass the cache API (one pipelined round trip): their keys too.
    from realtime import limits

    original_count = limits._count

    def count_spy(cache_key: str, **kwargs: Any) -> int:
        keys.append(cache_key)
        return original_count(cache_key, **kwargs)

    monkeypatch.setattr(limits, "_count", count_spy)
    yield keys


@pytest.mark.django_db
def test_no_raw_address_in_the_cache_keys_of_address_limits(cache_keys: list[str], settings: Any) -> None:
    from django.test import Client

    address = fresh_address()
    prefix = address.rsplit("::", 1)[0]
    body = {"name": "Alice", "description": "Need food", "category": "food"}
    # A help request: its per-address limit, and the API's per-address backstop for anonymous writes.
    created = Client().post("/api/help-requests/", body, content_type="application/json", REMOTE_ADDR=address)
    assert created.status_code == 201
    assert any(key.startswith("rl:help:ip:") for key in cache_keys)
    assert any(key.startswith("throttle_writes_ip_ip:") for key in cache_keys)
    assert not [key for key in cache_keys if prefix in key or "203.0.113" in key]


def stored_cache_keys() -> list[str]:
    """Every key in the shared cache now (in-memory or Redis), as stored."""
    cache: Any = shared_cache()
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        return [key.decode() for key in client.scan_iter(match=cache.make_key("*"), count=1000)]
    return list(cache._cache)


@pytest.mark.django_db(transaction=True)
async def test_no_raw_address_in_the_cache_keys_of_connection_limits() -> None:
    # Counted from the event loop (in Redis by a transaction of its own, not the cache's methods).
    address = "203.0.113.77"
    assert await admission.refusal({"client": (address, 5000), "headers": []}, user_id=None, rate_key="t:x") is None
    stored = await database_sync_to_async(stored_cache_keys)()
    assert [key for key in stored if "rl:conn:ip:" in key]
    assert not [key for key in stored if address in key]


@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
async def test_with_one_redis_a_connection_is_admitted_in_one_round_trip(
    require_scaleout: None, make_user: Any, settings: Any, sockets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rate counters, the per-person count and the registry entry: one script (``aadmit``), which
    counts as ``connection_allowed`` does and refuses as the separate steps did."""
    settings.REALTIME_SOCKETS_PER_USER = 1
    calls: list[int] = []
    original = RedisRegistry.aadmit

    async def counted(self: RedisRegistry, *args: Any, **kwargs: Any) -> int:
        outcome = await original(self, *args, **kwargs)
        calls.append(outcome)
        return outcome

    async def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("took the separate steps")

    monkeypatch.setattr(RedisRegistry, "aadmit", counted)
    monkeypatch.setattr(admission, "refusal", never)
    monkeypatch.setattr(admission, "register", never)
    user = await database_sync_to_async(make_user)()
    await sockets(WS, user=user)
    second, _, _ = await connect_socket(WS, user=user)
    assert (await _closed_with(second, 4429))["code"] == "rate_limited"
    assert calls == [ADMITTED, TOO_MANY_OPEN]
    assert await get_registry().auser_socket_count(user.pk) == 1  # the refused one was never listed
    settings.REALTIME_SOCKETS_PER_USER = 5
    settings.REALTIME_CONNECTIONS_PER_KEY = 0
    third, _, _ = await connect_socket(WS, user=user)
    assert (await _closed_with(third, 4429))["code"] == "rate_limited"
    assert calls[-1] == TOO_MANY_NEW
    # Counted as the sync limit counts: the same key, one more.
    assert not await database_sync_to_async(connection_allowed)([(f"user:{user.pk}", 3)])


def test_connection_rate_counts_per_key(settings: Any) -> None:
    settings.REALTIME_CONNECTION_WINDOW = 300
    assert [connection_allowed([("test:a", 2)]) for _ in range(3)] == [True, True, False]
    assert connection_allowed([("test:b", 2)])


def test_token_bucket_bursts_then_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("realtime.limits.time.monotonic", lambda: clock[0])
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock[0] += 0.15
    assert bucket.take() and not bucket.take()


# -- on a real socket ------------------------------------------------------------------------------

pytest_async = pytest.mark.django_db(transaction=True)


async def _closed_with(communicator: Any, code: int) -> dict[str, Any]:
    error = json.loads(await communicator.receive_from(timeout=3))
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": code}
    return dict(error)


@pytest_async
async def test_too_many_new_connections_per_person_closes_4429(make_user: Any, settings: Any) -> None:
    settings.REALTIME_CONNECTIONS_PER_KEY = 2
    user = await database_sync_to_async(make_user)()
    for _ in range(2):
        communicator, connected, _ = await connect_socket(WS, user=user)
        assert connected
        assert json.loads(await communicator.receive_from())["type"] == "synced"
        await communicator.disconnect()
    communicator, connected, _ = await connect_socket(WS, user=user)
    error = await _closed_with(communicator, 4429)
    assert error["type"] == "error" and error["code"] == "rate_limited"


@pytest_async
async def test_spoofed_forwarded_for_does_not_escape_the_ip_limit(make_user: Any, settings: Any) -> None:
    settings.REALTIME_CONNECTIONS_PER_IP = 2
    settings.REALTIME_TRUSTED_PROXIES = []
    from channels.testing import WebsocketCommunicator

    from charity.asgi import application
    from tests.conftest import session_cookie_for

    results = []
    for index in range(3):
        user = await database_sync_to_async(make_user)()
        cookie = await database_sync_to_async(session_cookie_for)(user)
        headers = [
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"cookie", cookie.encode()),
            (b"x-forwarded-for", f"198.51.100.{index}".encode()),
        ]
        communicator = WebsocketCommunicator(application, WS, headers=headers)
        communicator.scope["client"] = ("203.0.113.5", 40000 + index)
        await communicator.connect()
        results.append(json.loads(await communicator.receive_from())["type"])
        await communicator.disconnect()
    assert results == ["synced", "synced", "error"]


@pytest_async
async def test_sockets_per_person_are_capped(make_user: Any, settings: Any, sockets: Any) -> None:
    settings.REALTIME_SOCKETS_PER_USER = 2
    user = await database_sync_to_async(make_user)()
    first = await sockets(WS, user=user)
    await sockets(WS, user=user)
    third, _, _ = await connect_socket(WS, user=user)
    assert (await _closed_with(third, 4429))["code"] == "rate_limited"
    await first.disconnect()
    fourth, _, _ = await connect_socket(WS, user=user)
    assert json.loads(await fourth.receive_from())["type"] == "synced"
    await fourth.disconnect()


@pytest_async
async def test_process_ceiling_refuses_cleanly(make_user: Any, settings: Any, sockets: Any) -> None:
    settings.REALTIME_SOCKETS_PER_PROCESS = 1
    await sockets(WS, user=await database_sync_to_async(make_user)())
    second, _, _ = await connect_socket(WS, user=await database_sync_to_async(make_user)())
    assert (await _closed_with(second, 4429))["code"] == "rate_limited"


@pytest_async
async def test_frame_flood_gets_errors_then_4429_but_pings_are_free(
    make_user: Any, settings: Any, sockets: Any
) -> None:
    settings.REALTIME_MESSAGE_RATE = 0.001
    settings.REALTIME_MESSAGE_BURST = 3
    settings.REALTIME_MESSAGE_VIOLATIONS_BEFORE_CLOSE = 4
    socket = await sockets(WS, user=await database_sync_to_async(make_user)())
    assert json.loads(await socket.receive_from())["type"] == "synced"
    for _ in range(10):
        await socket.send_json_to({"type": "ping"})
        assert json.loads(await socket.receive_from()) == {"type": "pong"}
    for _ in range(3):
        await socket.send_json_to({"type": "unsubscribe", "topics": ["x"]})
        assert json.loads(await socket.receive_from())["type"] == "subscriptions"
    for _ in range(4):
        await socket.send_to(text_data="not even json")
        assert json.loads(await socket.receive_from())["code"] == "rate_limited"
    await socket.send_json_to({"type": "unsubscribe", "topics": ["x"]})
    assert json.loads(await socket.receive_from())["code"] == "rate_limited"
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}


def test_app_frame_limit_stays_below_daphnes() -> None:
    """Over our limit a client gets an error frame and 4413; daphne's own (larger) limit never fires first."""
    import inspect

    from daphne.server import Server

    from realtime.conf import app_settings

    daphne_limits = inspect.signature(Server.__init__).parameters
    assert app_settings.MAX_FRAME_BYTES < daphne_limits["websocket_max_message_size"].default
    assert app_settings.MAX_FRAME_BYTES < daphne_limits["websocket_max_frame_size"].default
