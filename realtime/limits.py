"""Rate limits and the client's address.

* Connection rate: a fixed-window counter per key in the Django cache (Redis in scale-out, so the
  limit is shared by every process). Keys: the user, the help request's token, and the client IP
  with a looser ceiling.
* Frame rate: a token bucket per socket, in memory (a socket lives in one process).
* The client IP is the TCP peer, unless that peer is a configured trusted proxy: only then is the
  right-most untrusted address of ``X-Forwarded-For`` believed. A client-sent header never changes
  the key otherwise. The proxy list is parsed once; an invalid entry is a system check error at
  startup (``realtime.checks``) and is skipped here, never a 500.
* An address keys a limit only through ``address_key``: IPv4 per address, IPv6 per /64 (one
  subscriber's allocation: a single machine can use every address of its /64), and never as it is:
  a keyed hash (HMAC-SHA256 of ``SECRET_KEY``) whose key changes every UTC day, so no raw address
  is written to the cache and yesterday's keys cannot be linked to today's. A window that
  straddles midnight UTC starts again from zero: a limit can pass twice its count once a day.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from realtime import redis_clients
from realtime.cache import shared_cache
from realtime.conf import app_settings

logger = logging.getLogger("realtime.limits")


def hashed(value: str) -> str:
    """Secrets (tokens) never become cache keys or log lines as they are."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def parse_networks(entries: tuple[str, ...]) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """``(networks, invalid entries)`` of a proxy list; parsed once per distinct list."""
    networks: list[Network] = []
    invalid: list[str] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            invalid.append(str(entry))
    return tuple(networks), tuple(invalid)


def trusted_networks() -> tuple[Network, ...]:
    """``REALTIME_TRUSTED_PROXIES`` as networks; invalid entries (a check error) are left out."""
    return parse_networks(tuple(app_settings.TRUSTED_PROXIES))[0]


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(scope: Mapping[str, Any]) -> str:
    """The address to rate-limit by (see the module docstring)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    trusted = trusted_networks()
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = ""
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            forwarded = value.decode("latin-1")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return str(peer)  # garbage in the header: fall back to the proxy itself
    return str(peer)


def request_client_ip(request: HttpRequest) -> str:
    """``client_ip`` for a Django request: the same rule for HTTP as for sockets."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    headers = [(b"x-forwarded-for", forwarded.encode("latin-1", "replace"))] if forwarded else []
    return client_ip({"client": (request.META.get("REMOTE_ADDR", ""), 0), "headers": headers})


def address_network(address: str) -> str:
    """What one client is for an address limit: an IPv4 address, or the /64 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket's peer): counted as it is, hashed all the same
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def address_hash(address: str, *, day: date | None = None) -> str:
    """A keyed hash of ``address``'s network (``address_network``) whose key changes every UTC day."""
    day = day or datetime.now(UTC).date()
    return _address_hash(address, day, settings.SECRET_KEY)


@functools.lru_cache(maxsize=16_384)
def _address_hash(address: str, day: date, secret: str) -> str:
    """``address_hash``, remembered: each connect asks for its client's (two HMACs and an address
    parse), and a reconnect storm brings the same addresses again. ``secret`` is in the key so a
    new ``SECRET_KEY`` is never answered from the old one's hashes."""
    digest = salted_hmac(
        f"realtime.limits.address:{day.isoformat()}", address_network(address), secret=secret, algorithm="sha256"
    )
    return digest.hexdigest()[:32]


def address_key(source: Mapping[str, Any] | HttpRequest | Any) -> str:
    """The key of an address limit for an ASGI scope or a (Django or DRF) request: ``ip:<hash>``.

    Every limit keyed by the client's address takes it from here, so none stores the address."""
    address = client_ip(source) if isinstance(source, Mapping) else request_client_ip(source)
    return f"ip:{address_hash(address)}"


def within_limits(keys: list[tuple[str, int]], *, window: int, kind: str = "conn") -> bool:
    """Count one more event against each ``(key, limit)``; False once any is over its limit.

    Every key is counted even when an earlier one refuses, so a flood cannot dodge one limit by
    being refused by another. Fixed windows of ``window`` seconds in the shared cache (Redis in
    scale-out, so every process counts together): at most twice a limit passes around a boundary.
    """
    bucket = int(time.time() // window)
    allowed = True
    for key, limit in keys:
        if _count(f"rl:{kind}:{key}:{bucket}", timeout=window * 2) > limit:
            allowed = False
    return allowed


def _count(cache_key: str, *, timeout: int) -> int:
    """One more of ``cache_key``; the count. On Django's Redis backend one round trip (INCR and
    EXPIRE in one pipeline; the value is the plain integer Django's backend stores for ints): its
    ``incr()`` asks whether the key exists first, and the counter had to be created with ``add()``,
    three round trips per count on the chat path."""
    cache = shared_cache()
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(cache_key)
        pipe = cache._cache.get_client(key, write=True).pipeline(transaction=False)  # type: ignore[attr-defined]
        pipe.incr(key)
        pipe.expire(key, timeout)
        count, _ = pipe.execute()
        return int(count)
    try:
        return int(cache.incr(cache_key))
    except ValueError:
        if cache.add(cache_key, 1, timeout=timeout):
            return 1
        return int(cache.incr(cache_key))  # another thread created it meanwhile


# awithin_limits: 1 if any count passed its limit. KEYS and ARGV as ``COUNT_EVENTS_LUA``'s.
_COUNT_SCRIPT = redis_clients.Script(redis_clients.COUNT_EVENTS_LUA + "\nif over then return 1 end\nreturn 0\n")


async def awithin_limits(keys: list[tuple[str, int]], *, window: int, kind: str = "conn") -> bool:
    """``within_limits`` from the event loop, without a thread.

    On Redis, one script on the loop's shared asyncio client (``realtime.redis_clients``): the same
    keys and values as ``within_limits``, so both count together, and Django's add() then incr() in
    one atomic step, so a key cannot expire in between. The in-memory cache is counted in place (no
    I/O); any other backend in a worker thread.
    """
    cache = shared_cache()
    if isinstance(cache, RedisCache):
        bucket = int(time.time() // window)
        names = [cache.make_and_validate_key(f"rl:{kind}:{key}:{bucket}") for key, _ in keys]
        args = [len(keys), window * 2, *(limit for _, limit in keys)]
        client = redis_clients.async_client(_server(cache))
        return await redis_clients.run_script(client, _COUNT_SCRIPT, names, args) == 0
    if isinstance(cache, LocMemCache):
        return within_limits(keys, window=window, kind=kind)
    return await sync_to_async(within_limits, thread_sensitive=False)(keys, window=window, kind=kind)


async def aclose() -> None:
    """Close this loop's shared Redis clients (the end of a test). Never raises."""
    await redis_clients.aclose()


def refund(key: str, *, window: int, kind: str = "conn") -> None:
    """Take back one count of ``key`` in the current window (an event that turned out not to count)."""
    cache_key = f"rl:{kind}:{key}:{int(time.time() // window)}"
    with contextlib.suppress(ValueError):
        shared_cache().decr(cache_key)


def connection_allowed(keys: list[tuple[str, int]]) -> bool:
    """Count one new connection against each ``(key, limit)`` (``REALTIME_CONNECTION_WINDOW``)."""
    return within_limits(keys, window=app_settings.CONNECTION_WINDOW)


def _server(cache: RedisCache) -> str:
    """The server Django's Redis cache writes to (the first of its ``LOCATION``)."""
    servers: list[str] = cache._servers  # type: ignore[attr-defined]
    return servers[0]


def redis_connection_counters(keys: list[tuple[str, int]], *, url: str) -> list[tuple[str, int]] | None:
    """The Redis keys ``connection_allowed`` would count ``keys`` under, with their limits, when the
    shared cache is Redis at ``url`` (so a script there can count them, ``RedisRegistry.aadmit``);
    else None."""
    cache = shared_cache()
    if not isinstance(cache, RedisCache) or _server(cache) != url:
        return None
    bucket = int(time.time() // app_settings.CONNECTION_WINDOW)
    return [(cache.make_and_validate_key(f"rl:conn:{key}:{bucket}"), limit) for key, limit in keys]


async def aconnection_allowed(keys: list[tuple[str, int]]) -> bool:
    """``connection_allowed`` from the event loop (a reconnect storm counts thousands of connections
    in seconds: through the sync cache client that was four round trips each in a worker thread)."""
    return await awithin_limits(keys, window=app_settings.CONNECTION_WINDOW)


def seconds_left(window: int) -> int:
    """Until the current fixed window of ``window`` seconds ends (a refusal's ``Retry-After``)."""
    return max(1, window - int(time.time()) % window)


def help_request_allowed(request: HttpRequest) -> bool:
    """Count one new help request from this client address (anonymous: the address is all there is)."""
    return within_limits(
        [(address_key(request), app_settings.HELP_REQUESTS_PER_IP)],
        window=app_settings.HELP_REQUEST_WINDOW,
        kind="help",
    )


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take()`` is False when empty."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def refund(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1)
