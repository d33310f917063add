"""Which sockets are open right now, across every server process.

The control room's "who is online", connections by role, and the per-person socket limit all read
this registry. With ``REDIS_URL`` it lives in Redis (a hash of socket details plus sorted sets of
last-seen times, so several processes share it); embedded, in this process's memory.

Every socket refreshes its entry from its heartbeat; an entry not refreshed for ``REALTIME_REGISTRY_TTL``
seconds (its process died without cleaning up) stops counting and is pruned by the next reader.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings

from realtime import redis_clients
from realtime.conf import app_settings

PROCESS = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class SocketEntry:
    channel: str
    endpoint: str  # "notifications", "chat", ...
    role: str  # the person's main role: staff, volunteer, donor, visitor, or "" for none
    user_id: int | None
    username: str
    since: float
    process: str = PROCESS


_ENTRY_FIELDS = tuple(field.name for field in fields(SocketEntry))


def _encode(entry: SocketEntry) -> str:
    """An entry as the registry stores it: ``dataclasses.asdict``'s JSON, without its deep copy
    (every field is a plain value), on every connect."""
    return json.dumps({name: getattr(entry, name) for name in _ENTRY_FIELDS})


class LocalRegistry:
    """One process's sockets (embedded mode)."""

    def __init__(self) -> None:
        self._entries: dict[str, SocketEntry] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        oldest = now - app_settings.REGISTRY_TTL
        for channel in [channel for channel, seen in self._seen.items() if seen < oldest]:
            self._entries.pop(channel, None)
            self._seen.pop(channel, None)

    async def aregister(self, entry: SocketEntry) -> None:
        with self._lock:
            self._entries[entry.channel] = entry
            self._seen[entry.channel] = time.time()

    async def arefresh_many(self, entries: list[SocketEntry]) -> None:
        """Refresh (or restore) many entries at once: the process's heartbeat does, periodically."""
        for entry in entries:
            await self.aregister(entry)

    async def aunregister(self, entry: SocketEntry) -> None:
        with self._lock:
            self._entries.pop(entry.channel, None)
            self._seen.pop(entry.channel, None)

    async def auser_socket_count(self, user_id: int) -> int:
        return sum(1 for entry in self.entries() if entry.user_id == user_id)

    def entries(self) -> list[SocketEntry]:
        with self._lock:
            self._prune(time.time())
            return list(self._entries.values())


ADMITTED, TOO_MANY_NEW, TOO_MANY_OPEN = 0, 1, 2

# RedisRegistry.aadmit. KEYS: the rate counters, the registry hash, its seen set, and the person's set
# (absent for an anonymous connection). ARGV: the number of counters, their expiry, their limits,
# then now, the oldest live time, the per-person limit, the channel, the entry, the person's expiry.
_ADMIT_SCRIPT = redis_clients.Script(
    redis_clients.COUNT_EVENTS_LUA
    + """
if over then return 1 end
local a = 3 + counters
local now, oldest, per_user = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
local channel, entry, user_ttl = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
local person = KEYS[counters + 3]
if person then
  redis.call('ZREMRANGEBYSCORE', person, '-inf', oldest)
  if redis.call('ZCARD', person) >= per_user then return 2 end
end
redis.call('HSET', KEYS[counters + 1], channel, entry)
redis.call('ZADD', KEYS[counters + 2], now, channel)
if person then
  redis.call('ZADD', person, now, channel)
  redis.call('EXPIRE', person, user_ttl)
end
return 0
"""
)


class RedisRegistry:
    """Every process's sockets, in Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.key = f"{prefix}:sockets"
        self._sync_client: Any = None

    def _aclient(self) -> Any:
        return redis_clients.async_client(self.url)

    def _client(self) -> Any:
        import redis

        if self._sync_client is None:
            self._sync_client = redis.Redis.from_url(self.url)
        return self._sync_client

    def _user_key(self, user_id: int) -> str:
        return f"{self.key}:user:{user_id}"

    async def aregister(self, entry: SocketEntry) -> bool:
        """Register (or refresh) ``entry``; True when Redis did not have it."""
        now = time.time()
        pipe = self._aclient().pipeline(transaction=False)
        pipe.hset(self.key, entry.channel, _encode(entry))
        pipe.zadd(f"{self.key}:seen", {entry.channel: now})
        if entry.user_id is not None:
            pipe.zadd(self._user_key(entry.user_id), {entry.channel: now})
            pipe.expire(self._user_key(entry.user_id), int(app_settings.REGISTRY_TTL * 4))
        added, *_ = await pipe.execute()
        return bool(added)

    async def arefresh_many(self, entries: list[SocketEntry]) -> None:
        """Refresh (or restore, after Redis lost them) many entries in one round trip."""
        now = time.time()
        pipe = self._aclient().pipeline(transaction=False)
        pipe.hset(self.key, mapping={entry.channel: _encode(entry) for entry in entries})
        pipe.zadd(f"{self.key}:seen", {entry.channel: now for entry in entries})
        by_user: dict[int, dict[str, float]] = {}
        for entry in entries:
            if entry.user_id is not None:
                by_user.setdefault(entry.user_id, {})[entry.channel] = now
        for user_id, channels in by_user.items():
            pipe.zadd(self._user_key(user_id), channels)
            pipe.expire(self._user_key(user_id), int(app_settings.REGISTRY_TTL * 4))
        await pipe.execute()

    async def aunregister(self, entry: SocketEntry) -> None:
        pipe = self._aclient().pipeline(transaction=False)
        pipe.hdel(self.key, entry.channel)
        pipe.zrem(f"{self.key}:seen", entry.channel)
        if entry.user_id is not None:
            pipe.zrem(self._user_key(entry.user_id), entry.channel)
        await pipe.execute()

    async def aadmit(self, entry: SocketEntry, *, counters: list[tuple[str, int]], window: int, per_user: int) -> int:
        """Count a new connection, check the person's open ones and register it: one round trip.

        ``counters`` are the connection-rate counters (full Redis keys, in this Redis) and their
        limits, as ``realtime.limits.within_limits`` keeps them; each is counted even when another
        refuses. Returns ``ADMITTED``, ``TOO_MANY_NEW`` (a counter over its limit) or ``TOO_MANY_OPEN``
        (``per_user`` live entries already); only an admitted entry is registered. Atomic, so two
        sockets of one person connecting together cannot both take the last place.
        """
        now = time.time()
        keys = [name for name, _ in counters] + [self.key, f"{self.key}:seen"]
        if entry.user_id is not None:
            keys.append(self._user_key(entry.user_id))
        args = [
            len(counters),
            window * 2,
            *(limit for _, limit in counters),
            repr(now),
            repr(now - app_settings.REGISTRY_TTL),
            per_user,
            entry.channel,
            _encode(entry),
            int(app_settings.REGISTRY_TTL * 4),
        ]
        client = self._aclient()
        return int(await redis_clients.run_script(client, _ADMIT_SCRIPT, keys, args))

    async def auser_socket_count(self, user_id: int) -> int:
        oldest = time.time() - app_settings.REGISTRY_TTL
        pipe = self._aclient().pipeline(transaction=False)
        pipe.zremrangebyscore(self._user_key(user_id), "-inf", oldest)
        pipe.zcard(self._user_key(user_id))
        _, count = await pipe.execute()
        return int(count)

    def entries(self) -> list[SocketEntry]:
        client = self._client()
        oldest = time.time() - app_settings.REGISTRY_TTL
        stale = client.zrangebyscore(f"{self.key}:seen", "-inf", oldest)
        if stale:
            pipe = client.pipeline(transaction=False)
            pipe.hdel(self.key, *stale)
            pipe.zrem(f"{self.key}:seen", *stale)
            pipe.execute()
        return [SocketEntry(**json.loads(raw)) for raw in client.hvals(self.key)]


_registry: LocalRegistry | RedisRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> LocalRegistry | RedisRegistry:
    global _registry
    with _registry_lock:
        if _registry is None:
            redis_url = getattr(settings, "REDIS_URL", "")
            prefix = getattr(settings, "REDIS_PREFIX", "charity")
            _registry = RedisRegistry(redis_url, prefix) if redis_url else LocalRegistry()
        return _registry


def local_socket_count() -> int:
    """Open sockets in this process (for the per-process ceiling)."""
    return _open_here


_open_here = 0


def count_open(delta: int) -> None:
    global _open_here
    _open_here += delta
