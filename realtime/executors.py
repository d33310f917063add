"""The worker threads that read the database for connecting sockets.

A connect's reads (its session, user and roles; then its replay) do not depend on the thread they
run on, so on PostgreSQL they do not queue on asgiref's one thread-sensitive thread behind every
other socket's database work (in a reconnect storm, every other socket's). They get a small pool
of their own (``REALTIME_CONNECT_THREADS``) rather than the loop's default one: a few threads
overlap the round trips to PostgreSQL; more would contend for the GIL with the event loop, and each
holds a database connection of its own (closed past ``CONN_MAX_AGE``, ``_read``).
SQLite (the embedded mode) keeps asgiref's one thread: it has one writer, and readers on other
threads of its in-memory test database find whole tables locked.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, close_old_connections, connections

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


def connect_read(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """``database_sync_to_async(func)`` for a connect-time read: on the pool with PostgreSQL."""
    if not adb.available():
        return database_sync_to_async(func)  # type: ignore[no-any-return]

    async def read(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(connect_reads(), functools.partial(_read, func, *args, **kwargs))

    return read


#: Seconds between Django's request-boundary checks on a pool thread's connection.
CHECK_EVERY = 1.0
_checked = threading.local()


def _read(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func`` on this pool thread's connection.

    ``database_sync_to_async`` runs ``close_old_connections()`` around every call, as a request
    boundary: with ``CONN_HEALTH_CHECKS`` each call then starts with a ``SELECT 1``, a round trip as
    long as the read itself, for every socket of a reconnect storm. Here the checks (connections past
    ``CONN_MAX_AGE``, or broken, closed; the health check re-armed) run at most every ``CHECK_EVERY``
    seconds per thread, and a read that finds its connection gone (PostgreSQL restarted) runs once
    more on a new one; any other error is raised as it is. With ``CONN_MAX_AGE`` 0 the connection is
    closed after every read, as Django closes it after every request. What runs here reads, or (a
    session whose hash no longer matches) deletes a session: running it twice changes nothing more.
    """
    now = time.monotonic()
    if now - getattr(_checked, "at", -CHECK_EVERY) >= CHECK_EVERY:
        close_old_connections()
        _checked.at = now
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        try:
            return func(*args, **kwargs)
        except (InterfaceError, OperationalError):
            if connection.in_atomic_block or connection.is_usable():
                raise  # a failed statement, not a connection gone: not run twice
            connection.close()
            return func(*args, **kwargs)
    finally:
        if connection.settings_dict["CONN_MAX_AGE"] == 0:
            connection.close()
