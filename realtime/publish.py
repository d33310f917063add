"""Sending to groups, after the current transaction commits.

The one way services push events to sockets and streams. Sending waits for the commit so a
rolled-back transaction never reaches anyone; the event goes out once per group through
``realtime.fanout`` (one Redis round trip on a pooled connection). A send that fails (Redis down) is
retried for about two seconds (a restart), then logged, never raised into the caller, because what
it carried is already persisted and comes back to clients by replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.db import transaction

from realtime import fanout


def group_send_on_commit(groups: Iterable[str], event: Mapping[str, Any]) -> None:
    transaction.on_commit(partial(group_send_now_unsafe, tuple(groups), dict(event)), robust=True)


def group_send_now_unsafe(groups: tuple[str, ...], event: dict[str, Any]) -> None:
    """Send immediately, whatever the transaction state. Only for use after commit."""
    fanout.publish(groups, event)


async def agroup_send_now_unsafe(groups: tuple[str, ...], event: dict[str, Any]) -> None:
    """Send immediately from async code (typing, presence: nothing persisted to wait for)."""
    await fanout.apublish(groups, event)


async def agroup_sends_now_unsafe(sends: Sequence[tuple[tuple[str, ...], dict[str, Any]]]) -> None:
    """Several sends at once from async code, in order (one Redis round trip). Only for use after
    commit, or for what is never persisted."""
    await fanout.apublish_each(sends)
