"""The worker threads that read the database for connecting sockets.

A connect's reads (its session, user and roles; then its replay) do not depend on the thread they
run on, so on PostgreSQL they do not queue on asgiref's one thread-sensitive thread behind every
other socket's database work (in a reconnect storm, every other socket's). They get a small pool
of their own (``REALTIME_CONNECT_THREADS``) rather than the loop's default one: a few threads
overlap the round trips to PostgreSQL; more would contend for the GIL with the event loop, and each
holds a database connection of its own (``database_sync_to_async`` closes it past ``CONN_MAX_AGE``).
SQLite (the embedded mode) keeps asgiref's one thread: it has one writer, and readers on other
threads of its in-memory test database find whole tables locked.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.db import close_old_connections

from realtime import adb
from realtime.conf import app_settings

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def connect_reads() -> ThreadPoolExecutor:
    """The process's pool for connect-time reads, made on first use."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=app_settings.CONNECT_THREADS, thread_name_prefix="connect-reads")
        return _pool


def connect_read(func: Callable[..., Any]) -> Any:
    """``database_sync_to_async(func)`` for a connect-time read: on the pool with PostgreSQL."""
    if adb.available():
        return database_sync_to_async(
            functools.partial(_closing, func), thread_sensitive=False, executor=connect_reads()
        )
    return database_sync_to_async(func)


def _closing(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func``, with connections past ``CONN_MAX_AGE`` closed before and after it, inside the call.

    ``database_sync_to_async`` closes them too, but around asgiref's context switch: there a pool
    thread did not see the connection its call had opened, and kept it open (PostgreSQL listed it
    idle after the test database's last test)."""
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()
