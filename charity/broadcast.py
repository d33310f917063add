"""Sending to channel-layer groups, after the current transaction commits.

The one way services push events to sockets. Sending waits for the commit so a rolled-back
transaction never reaches anyone; a failed send (channel layer down) is retried for about two
seconds (a Redis restart), then logged, never raised into the caller, because what it carried is
already persisted and comes back to clients by replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("charity.broadcast")


def group_send_on_commit(groups: Iterable[str], event: Mapping[str, Any]) -> None:
    transaction.on_commit(partial(group_send_now_unsafe, tuple(groups), dict(event)), robust=True)


def group_send_now_unsafe(groups: tuple[str, ...], event: dict[str, Any]) -> None:
    """Send immediately, whatever the transaction state. Only for use after commit."""
    async_to_sync(agroup_send_now_unsafe)(groups, event)


# A Redis restart takes a fraction of a second: retry a little before giving the push up.
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0)


async def agroup_send_now_unsafe(groups: tuple[str, ...], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    retrying = True  # once one group gave up, the layer is down: the others try once each
    for group in groups:
        delays = (0.0, *RETRY_DELAYS) if retrying else (0.0,)
        for attempt, delay in enumerate(delays):
            if delay:
                await asyncio.sleep(delay)
            try:
                await layer.group_send(group, event)
                break
            except Exception:
                if attempt == len(delays) - 1:
                    retrying = False
                    logger.exception("group_send failed group=%s type=%s", group, event.get("type"))
