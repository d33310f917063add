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
from typing import Any

from asgiref.sync import sync_to_async

from realtime import metrics, registry
from realtime.conf import app_settings
from realtime.limits import address_key, connection_allowed

logger = logging.getLogger("realtime.sockets")

PROCESS_FULL = "This server is full; try again shortly."
TOO_MANY_NEW = "Too many new connections; slow down."
TOO_MANY_OPEN = "Too many open connections for one person; close some tabs."


async def refusal(scope: dict[str, Any], *, user_id: int | None, rate_key: str) -> str | None:
    """Why a new connection is refused, or None: the per-process ceiling, the connection rate per
    person (``rate_key``) and per client address, and the per-person limit of open connections."""
    if registry.local_socket_count() >= app_settings.SOCKETS_PER_PROCESS:
        return PROCESS_FULL
    keys = [
        (rate_key, app_settings.CONNECTIONS_PER_KEY),
        (address_key(scope), app_settings.CONNECTIONS_PER_IP),
    ]
    if not await sync_to_async(connection_allowed, thread_sensitive=False)(keys):
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
    registry.count_open(+1)
    metrics.OPEN_SOCKETS.labels(endpoint, role or "none", metrics.PROCESS).inc()
    try:
        await registry.get_registry().aregister(entry)
    except Exception:  # the registry is bookkeeping: never refuse a connection because Redis blinked
        logger.warning("socket registry unavailable", exc_info=True)
    return entry


async def unregister(entry: registry.SocketEntry) -> None:
    """The connection is gone: the other half of ``register()``; never raises."""
    registry.count_open(-1)
    metrics.OPEN_SOCKETS.labels(entry.endpoint, entry.role or "none", metrics.PROCESS).dec()
    with contextlib.suppress(Exception):
        await registry.get_registry().aunregister(entry)
