"""Sending to channel-layer groups, after the current transaction commits.

The one way services push events to sockets. Sending waits for the commit so a rolled-back
transaction never reaches anyone; a failed send (channel layer down) is logged, never raised into
the caller, because what it carried is already persisted and comes back to clients by replay.
"""

from __future__ import annotations

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


async def agroup_send_now_unsafe(groups: tuple[str, ...], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception:
            logger.exception("group_send failed group=%s type=%s", group, event.get("type"))
