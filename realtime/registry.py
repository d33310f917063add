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
from dataclasses import asdict, dataclass
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
        pipe.hset(self.key, entry.channel, json.dumps(asdict(entry)))
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
        pipe.hset(self.key, mapping={entry.channel: json.dumps(asdict(entry)) for entry in entries})
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
