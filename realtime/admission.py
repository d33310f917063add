"""Who may open one more live connection, and the registry entry of one that was let in.

Sockets (``realtime.sockets.JsonSocketConsumer.admit``) and SSE streams (``realtime.sse.SseStream``)
are both long-lived connections that hold a slot in a server process and a person's attention:
the same limits apply to both, and both are listed in the cross-process registry (who is online,
and the per-person count).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Protocol

from realtime import groups, metrics, registry
from realtime.conf import app_settings
from realtime.limits import aconnection_allowed, address_key, redis_connection_counters
from realtime.protocol import CloseCode, ErrorCode

logger = logging.getLogger("realtime.sockets")

PROCESS_FULL = "This server is full; try again shortly."
TOO_MANY_NEW = "Too many new connections; slow down."
TOO_MANY_OPEN = "Too many open connections for one person; close some tabs."


class Connection(Protocol):
    """What admission needs of a socket or a stream (both transports provide it)."""

    scope: dict[str, Any]
    channel_name: str
    endpoint: str

    async def send_error(self, code: str, detail: Any) -> None: ...

    async def close_with(self, code: int) -> None: ...

    async def join_groups(self, groups: list[str]) -> None: ...


async def admit(
    connection: Connection, *, user_id: int | None, username: str, role: str, rate_key: str
) -> registry.SocketEntry | None:
    """Let one more socket or stream in, or refuse it: the one admission of both transports.

    Refused (``refusal``): an error frame (``rate_limited``) and close 4429, after which the client
    waits and tries again; returns None. Admitted: counted and listed in the registry, and a
    logged-in person's connection joins their control group (logout, deactivation, a new password
    or new roles reach it); returns the registry entry.
    """
    entry: registry.SocketEntry | None
    reason, entry = await _admit_in_redis(
        connection.scope,
        channel=connection.channel_name,
        endpoint=connection.endpoint,
        role=role,
        user_id=user_id,
        username=username,
        rate_key=rate_key,
    )
    if reason is None and entry is None:
        reason = await refusal(connection.scope, user_id=user_id, rate_key=rate_key)
    if reason is not None:
        metrics.REFUSALS.labels(connection.endpoint, "connection").inc()
        logger.warning("connection refused endpoint=%s user=%s role=%s code=4429", connection.endpoint, user_id, role)
        await connection.send_error(ErrorCode.RATE_LIMITED, reason)
        await connection.close_with(CloseCode.RATE_LIMITED)
        return None
    if entry is None:
        entry = await register(
            channel=connection.channel_name, endpoint=connection.endpoint, role=role, user_id=user_id, username=username
        )
    if user_id is not None:
        await connection.join_groups([groups.control_group(user_id)])
    logger.info("connection open endpoint=%s user=%s role=%s", connection.endpoint, user_id, role)
    return entry


async def _admit_in_redis(
    scope: dict[str, Any], *, channel: str, endpoint: str, role: str, user_id: int | None, username: str, rate_key: str
) -> tuple[str | None, registry.SocketEntry | None]:
    """``refusal()`` and ``register()`` in one round trip, when the rate counters and the registry are
    in the same Redis (``RedisRegistry.aadmit``): ``(reason, None)`` refused, ``(None, entry)`` admitted
    and registered, ``(None, None)`` not possible here (the caller takes the two steps)."""
    if registry.local_socket_count() >= app_settings.SOCKETS_PER_PROCESS:
        return PROCESS_FULL, None
    sockets = registry.get_registry()
    if not isinstance(sockets, registry.RedisRegistry):
        return None, None
    counters = redis_connection_counters(_rate_keys(scope, rate_key), url=sockets.url)
    if counters is None:
        return None, None
    entry = registry.SocketEntry(
        channel=channel, endpoint=endpoint, role=role, user_id=user_id, username=username, since=time.time()
    )
    outcome = await sockets.aadmit(
        entry, counters=counters, window=app_settings.CONNECTION_WINDOW, per_user=app_settings.SOCKETS_PER_USER
    )
    if outcome == registry.TOO_MANY_NEW:
        return TOO_MANY_NEW, None
    if outcome == registry.TOO_MANY_OPEN:
        return TOO_MANY_OPEN, None
    _count(entry)
    return None, entry


def _rate_keys(scope: dict[str, Any], rate_key: str) -> list[tuple[str, int]]:
    return [(rate_key, app_settings.CONNECTIONS_PER_KEY), (address_key(scope), app_settings.CONNECTIONS_PER_IP)]


async def refusal(scope: dict[str, Any], *, user_id: int | None, rate_key: str) -> str | None:
    """Why a new connection is refused, or None: the per-process ceiling, the connection rate per
    person (``rate_key``) and per client address, and the per-person limit of open connections."""
    if registry.local_socket_count() >= app_settings.SOCKETS_PER_PROCESS:
        return PROCESS_FULL
    if not await aconnection_allowed(_rate_keys(scope, rate_key)):
        return TOO_MANY_NEW
    if (
        user_id is not None
        and await registry.get_registry().auser_socket_count(user_id) >= app_settings.SOCKETS_PER_USER
    ):
        return TOO_MANY_OPEN
    return None


async def register(
    *, channel: str, endpoint: str, role: str, user_id: int | None, username: str
) -> registry.SocketEntry:
    """Count an admitted connection here and list it in the registry (which never refuses one)."""
    entry = registry.SocketEntry(
        channel=channel, endpoint=endpoint, role=role, user_id=user_id, username=username, since=time.time()
    )
    _count(entry)
    try:
        await registry.get_registry().aregister(entry)
    except Exception:  # the registry is bookkeeping: never refuse a connection because Redis blinked
        logger.warning("socket registry unavailable", exc_info=True)
    return entry


def _count(entry: registry.SocketEntry) -> None:
    """This process's count and gauge of open connections (``unregister`` takes it back)."""
    registry.count_open(+1)
    metrics.OPEN_SOCKETS.labels(entry.endpoint, entry.role or "none", metrics.PROCESS).inc()


async def unregister(entry: registry.SocketEntry) -> None:
    """The connection is gone: the other half of ``register()``; never raises."""
    registry.count_open(-1)
    metrics.OPEN_SOCKETS.labels(entry.endpoint, entry.role or "none", metrics.PROCESS).dec()
    with contextlib.suppress(Exception):
        await registry.get_registry().aunregister(entry)
