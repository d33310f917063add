"""A few asynchronous PostgreSQL connections per event loop, for the hot statements that must not wait
for a thread: a chat message (``chat.services.amessage_post``) and the reads of who a connecting
socket is (``charity.socket_auth``).

Django's ORM runs in threads (``database_sync_to_async``): every call is a hop to a thread and back,
a health-check ping and, with many threads, a fight for the GIL with the event loop. A chat message
is a single statement in autocommit, so it runs here instead, on psycopg's own async connections to
the same database (``DATABASES["default"]``), in the server's event loop. Each use has a pool of its own
per loop (``pool``: chat messages do not queue behind a reconnect storm's reads), of the size its
caller passes (``CHAT_MESSAGE_CONNECTIONS``, ``REALTIME_CONNECT_CONNECTIONS``); connections are
opened on first use and kept; a statement takes an idle one (or waits for one), so a statement
waiting on a row lock holds up only its own connection.

Only for PostgreSQL; ``available()`` says whether this process can use it. A connection that fails
is closed and replaced on the next use; the caller's statement is retried once on a fresh one (the
statements sent here are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend

__all__ = ["aclose", "available", "fetchall", "fetchone"]

# libpq's keywords among Django's connection parameters (not its cursor factory or adapters).
_SKIPPED = frozenset({"cursor_factory", "context", "server_side_binding"})


def available() -> bool:
    """Whether the default database is PostgreSQL.

    Read from the backend's class: ``connections["default"]`` on the event loop's thread is a
    context-local, so each socket's task that touched it would build and keep a wrapper of its own
    (about 4 KiB per socket)."""
    engine = connections.settings[DEFAULT_DB_ALIAS]["ENGINE"]
    return bool(load_backend(engine).DatabaseWrapper.vendor == "postgresql")


class _Pool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any] | None] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(None)  # a slot: connected on first use

    async def fetch(self, sql: str, params: Mapping[str, Any] | Sequence[Any], *, many: bool) -> Any:
        conn = await self.idle.get()
        try:
            for attempt in (1, 2):
                if conn is None or conn.closed:
                    conn = await _connect()
                try:
                    cursor = await conn.execute(sql, params)
                    return await (cursor.fetchall() if many else cursor.fetchone())
                except psycopg.OperationalError:
                    await conn.close()
                    conn = None
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        finally:
            self.idle.put_nowait(conn)


async def _connect() -> psycopg.AsyncConnection[Any]:
    wrapper = connections["default"]
    params = {key: value for key, value in wrapper.get_connection_params().items() if key not in _SKIPPED}
    # Client-side binding, as Django's cursors do: the same SQL and parameters work on both.
    conn = await psycopg.AsyncConnection.connect(autocommit=True, cursor_factory=psycopg.AsyncClientCursor, **params)
    # Django's time zone for the session, as its own connections set it: timestamps read here come
    # back in the zone the ORM's would.
    if conn.info.parameter_status("TimeZone") != wrapper.timezone_name:
        await conn.execute("SELECT set_config('TimeZone', %s, false)", [wrapper.timezone_name])
    return conn


# Per event loop, per use (``pool``): its pool, made on first use with the size then given.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Pool]] = weakref.WeakKeyDictionary()


def _pool(name: str, size: int) -> _Pool:
    loop = asyncio.get_running_loop()
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    pool = pools.get(name)
    if pool is None:
        pool = pools[name] = _Pool(size)
    return pool


async def fetchone(
    sql: str, params: Mapping[str, Any] | Sequence[Any], *, pool_size: int, pool: str = "messages"
) -> tuple[Any, ...] | None:
    """Run one statement in autocommit on this loop's pool named ``pool``; its first row."""
    row: tuple[Any, ...] | None = await _pool(pool, pool_size).fetch(sql, params, many=False)
    return row


async def fetchall(
    sql: str, params: Mapping[str, Any] | Sequence[Any], *, pool_size: int, pool: str = "messages"
) -> list[tuple[Any, ...]]:
    """Run one statement in autocommit on this loop's pool named ``pool``; all its rows."""
    rows: list[tuple[Any, ...]] = await _pool(pool, pool_size).fetch(sql, params, many=True)
    return rows


async def aclose() -> None:
    """Close this loop's connections, every pool's (the end of a test; the loop goes next). Never raises."""
    for pool in (_pools.pop(asyncio.get_running_loop(), None) or {}).values():
        while not pool.idle.empty():
            conn = pool.idle.get_nowait()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
