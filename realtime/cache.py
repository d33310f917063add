"""One cache client per process, for the code that runs beside open sockets.

``django.core.cache.cache`` keeps one client per asyncio context (an asgiref ``Local``), and each
socket's task, and each ``sync_to_async(thread_sensitive=False)`` call it makes, is a context of its
own. With the Redis backend every open socket that touched the cache kept a client, a connection
pool and a Redis connection for as long as it stayed open: measured, 388 Redis connections and
7.7 KiB per socket for 300 sockets. Both of Django's backends used here are thread-safe (redis-py's
pool; locmem's lock), so one shared client is enough.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver

_shared: BaseCache | None = None
_lock = threading.Lock()


def shared_cache() -> BaseCache:
    global _shared
    with _lock:
        if _shared is None:
            _shared = caches.create_connection(DEFAULT_CACHE_ALIAS)
        return _shared


@receiver(setting_changed)
def _forget(setting: str, **kwargs: Any) -> None:
    global _shared
    if setting == "CACHES":
        with _lock:
            _shared = None
