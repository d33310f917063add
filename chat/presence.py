"""Who is in a room right now, shared by every server process through the Django cache.

The cache is Redis in scale-out and local memory embedded, so presence works the same across
several daphne processes and in one. Each room is one cache value::

    {"version": 7, "entries": {channel_name: {"key", "kind", "name", "seen"}}, "participants": [...]}

One entry per socket, so several tabs of one person are several entries but one participant (they
share a key). Writes take a short lock made with ``cache.add`` (atomic on both backends) so two
processes never lose each other's update; ``version`` grows with every change of the participant
list, and sockets drop a presence event older than the last one they saw, so events that cross in
flight never leave a stale list on screen.

Trade-offs, chosen for simplicity: a room's entries are rewritten as a whole (rooms are small);
the lock is a spin with a timeout (a process that dies holding it delays others by at most
``_LOCK_TTL`` seconds, and a writer that cannot get it proceeds rather than stalls). A socket's
entry carries a wall-clock timestamp its heartbeat refreshes; entries of a crashed process stop
counting after ``CHAT_PRESENCE_TTL`` and are pruned by the next refresh of any live socket.

These functions do no database work; call them with ``sync_to_async(..., thread_sensitive=False)``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chat.app_settings import app_settings
from chat.participants import Participant
from realtime.cache import shared_cache

logger = logging.getLogger("chat.presence")

_LOCK_TTL = 5  # seconds; a write takes milliseconds
_LOCK_WAIT = 5.0
_ROOM_TTL = 24 * 3600  # an empty room's version is kept this long
_KIND_ORDER = {"visitor": 0, "volunteer": 1, "staff": 2}


@dataclass(frozen=True)
class PresenceSnapshot:
    version: int
    #: One dict per person: ``kind``, ``name`` and ``key``, visitor first, then by name.
    participants: list[dict[str, str]] = field(default_factory=list)

    def keys(self) -> set[str]:
        return {participant["key"] for participant in self.participants}


def _room_key(public_id: UUID | str) -> str:
    return f"chat:presence:{UUID(str(public_id)).hex}"


@contextmanager
def _locked(public_id: UUID | str) -> Iterator[None]:
    lock_key = _room_key(public_id) + ":lock"
    token = secrets.token_hex(8)
    deadline = time.monotonic() + _LOCK_WAIT
    acquired = False
    while not (acquired := bool(shared_cache().add(lock_key, token, timeout=_LOCK_TTL))):
        if time.monotonic() > deadline:
            logger.warning("presence lock not acquired room=%s; writing anyway", public_id)
            break
        time.sleep(0.005)
    try:
        yield
    finally:
        # Only the holder releases (a lock that expired under a slow holder may be someone else's).
        if acquired and shared_cache().get(lock_key) == token:
            shared_cache().delete(lock_key)


def _load(public_id: UUID | str) -> dict[str, Any]:
    room = shared_cache().get(_room_key(public_id))
    if not isinstance(room, dict):
        return {"version": 0, "entries": {}}
    return room


def _save(public_id: UUID | str, room: dict[str, Any]) -> None:
    shared_cache().set(_room_key(public_id), room, timeout=_ROOM_TTL)


def _prune(entries: dict[str, dict[str, Any]], now: float) -> dict[str, dict[str, Any]]:
    oldest = now - app_settings.PRESENCE_TTL
    return {channel: entry for channel, entry in entries.items() if entry["seen"] >= oldest}


def _participants(entries: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    people: dict[str, dict[str, str]] = {}
    for entry in entries.values():
        people.setdefault(entry["key"], {"kind": entry["kind"], "name": entry["name"], "key": entry["key"]})
    return sorted(people.values(), key=lambda p: (_KIND_ORDER.get(p["kind"], 9), p["name"], p["key"]))


def _entry(participant: Participant, now: float) -> dict[str, Any]:
    return {"key": participant.key, "kind": participant.kind.value, "name": participant.name, "seen": now}


def _write(public_id: UUID | str, change: Any) -> tuple[PresenceSnapshot, bool]:
    """Apply ``change(entries)`` under the lock; returns the snapshot and whether the list changed."""
    now = time.time()
    with _locked(public_id):
        room = _load(public_id)
        entries = _prune(change(dict(room["entries"]), now), now)
        after = _participants(entries)
        # Compared with the list last written, so entries that went stale (their process died)
        # count as a change too, and the refresh that notices them announces it.
        changed = after != room.get("participants", [])
        version = int(room["version"]) + (1 if changed else 0)
        _save(public_id, {"version": version, "entries": entries, "participants": after})
    return PresenceSnapshot(version=version, participants=after), changed


def presence_join(
    *, public_id: UUID | str, channel_name: str, participant: Participant
) -> tuple[PresenceSnapshot, bool]:
    def add(entries: dict[str, Any], now: float) -> dict[str, Any]:
        entries[channel_name] = _entry(participant, now)
        return entries

    return _write(public_id, add)


def presence_leave(*, public_id: UUID | str, channel_name: str) -> tuple[PresenceSnapshot, bool]:
    def remove(entries: dict[str, Any], now: float) -> dict[str, Any]:
        entries.pop(channel_name, None)
        return entries

    return _write(public_id, remove)


def presence_refresh(
    *, public_id: UUID | str, channel_name: str, participant: Participant
) -> tuple[PresenceSnapshot, bool]:
    """Renew this socket's entry (re-adding it if the cache lost it) and prune dead ones."""
    return presence_join(public_id=public_id, channel_name=channel_name, participant=participant)


def presence_snapshot(*, public_id: UUID | str) -> PresenceSnapshot:
    """Read-only view, without the lock."""
    room = _load(public_id)
    return PresenceSnapshot(
        version=int(room["version"]), participants=_participants(_prune(room["entries"], time.time()))
    )


def presence_connections(*, public_id: UUID | str, participant_key: str) -> int:
    """How many live connections (sockets and streams, every process) one participant has in the room."""
    entries = _prune(_load(public_id)["entries"], time.time())
    return sum(1 for entry in entries.values() if entry["key"] == participant_key)


def presence_includes(*, public_id: UUID | str, participant_key: str) -> bool:
    return participant_key in presence_snapshot(public_id=public_id).keys()
