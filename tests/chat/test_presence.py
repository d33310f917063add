"""Presence in the cache: tabs count once, dead processes' sockets drop out, versions only grow."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chat import presence
from chat.models import AuthorKind
from chat.participants import Participant

ALICE = Participant(kind=AuthorKind.VISITOR, name="Alice", key="visitor")
VERA = Participant(kind=AuthorKind.VOLUNTEER, name="Vera", key="user:1", user_id=1)


def test_tabs_count_once_and_leaving_the_last_one_changes_the_list() -> None:
    room = uuid.uuid4()
    snapshot, changed = presence.presence_join(public_id=room, channel_name="a", participant=ALICE)
    assert changed and [p["name"] for p in snapshot.participants] == ["Alice"]
    _, changed = presence.presence_join(public_id=room, channel_name="v1", participant=VERA)
    assert changed
    snapshot, changed = presence.presence_join(public_id=room, channel_name="v2", participant=VERA)
    assert not changed and [p["name"] for p in snapshot.participants] == ["Alice", "Vera"]
    _, changed = presence.presence_leave(public_id=room, channel_name="v1")
    assert not changed
    snapshot, changed = presence.presence_leave(public_id=room, channel_name="v2")
    assert changed and snapshot.keys() == {"visitor"}
    assert presence.presence_includes(public_id=room, participant_key="visitor")
    assert not presence.presence_includes(public_id=room, participant_key="user:1")


def test_versions_grow_with_every_change() -> None:
    room = uuid.uuid4()
    versions = [
        presence.presence_join(public_id=room, channel_name="a", participant=ALICE)[0].version,
        presence.presence_join(public_id=room, channel_name="v", participant=VERA)[0].version,
        presence.presence_leave(public_id=room, channel_name="v")[0].version,
    ]
    assert versions == sorted(set(versions))


def test_entries_nobody_refreshed_drop_out(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """A process that died never says goodbye; its sockets stop counting after CHAT_PRESENCE_TTL."""
    settings.CHAT_PRESENCE_TTL = 60
    room = uuid.uuid4()
    clock = [1_000_000.0]
    monkeypatch.setattr(presence.time, "time", lambda: clock[0])
    presence.presence_join(public_id=room, channel_name="dead", participant=VERA)
    presence.presence_join(public_id=room, channel_name="alive", participant=ALICE)
    clock[0] += 45
    presence.presence_refresh(public_id=room, channel_name="alive", participant=ALICE)
    clock[0] += 30  # the dead one was last seen 75 s ago, the live one 30 s ago
    assert presence.presence_snapshot(public_id=room).keys() == {"visitor"}
    snapshot, changed = presence.presence_refresh(public_id=room, channel_name="alive", participant=ALICE)
    assert changed and snapshot.keys() == {"visitor"}


def test_refresh_re_adds_an_entry_the_cache_lost() -> None:
    from django.core.cache import cache

    room = uuid.uuid4()
    presence.presence_join(public_id=room, channel_name="a", participant=ALICE)
    cache.delete(presence._room_key(room))
    snapshot, changed = presence.presence_refresh(public_id=room, channel_name="a", participant=ALICE)
    assert changed and snapshot.keys() == {"visitor"}
