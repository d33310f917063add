"""Frames and channel-layer events (notifications/events.py) against their schemas (docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_origin, get_type_hints

import pytest

from notifications import api, events
from notifications.consumers import NotificationConsumer
from notifications.models import Notification
from notifications.services import recipient_mark_all_read, recipient_mark_read
from tests.conftest import Sent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

# What clients see, field by field, as docs/protocol.md documents it.
NOTIFICATION_FRAME: dict[str, type] = {
    "type": str,
    "id": int,
    "kind": str,
    "title": str,
    "body": str,
    "data": dict,
    "priority": str,
    "created_at": str,
    "expires_at": str,
}
# Channel-layer events, by their ``type``.
EVENT_SCHEMAS: dict[str, type] = {
    events.NOTIFICATION_PUSH: events.NotificationPushEvent,
    events.UNREAD_CHANGED: events.UnreadChangedEvent,
    events.PREFERENCES_CHANGED: events.PreferencesChangedEvent,
}


def assert_shape(value: Mapping[str, Any], schema: Mapping[str, type]) -> None:
    assert set(value) == set(schema)
    for key, hint in schema.items():
        expected = get_origin(hint) or hint  # list[int] is checked as a list
        assert isinstance(value[key], expected), f"{key}: {value[key]!r} is not {expected.__name__}"
        assert not (expected is int and isinstance(value[key], bool)), f"{key} is a bool"


def assert_event(event: Mapping[str, Any]) -> None:
    """Check a channel-layer event against the TypedDict of its type (and a push's frame too)."""
    assert_shape(event, get_type_hints(EVENT_SCHEMAS[event["type"]]))
    if event["type"] == events.NOTIFICATION_PUSH:
        frame = json.loads(event["frame"])
        assert_shape(frame, NOTIFICATION_FRAME)
        assert (frame["id"], frame["kind"]) == (event["id"], event["kind"])


@pytest.fixture
def notification(make_user: Any) -> Notification:
    sent = api.notify_user(
        make_user(),
        kind="donation.confirmed",
        title="Merci ❤",
        body="Your £20 is confirmed.",
        data={"donation": 7, "tags": ["food", "é"]},
        priority=api.CRITICAL,
    )
    return Notification.objects.get(pk=sent.pk)


# -- the notification frame ------------------------------------------------------------------------


def test_notification_frame_has_exactly_the_documented_fields(notification: Notification) -> None:
    frame = events.notification_frame(notification)
    assert_shape(frame, NOTIFICATION_FRAME)
    assert frame == {
        "type": "notification",
        "id": notification.pk,
        "kind": "donation.confirmed",
        "title": "Merci ❤",
        "body": "Your £20 is confirmed.",
        "data": {"donation": 7, "tags": ["food", "é"]},
        "priority": "critical",
        "created_at": notification.created_at.isoformat(),
        "expires_at": notification.expires_at.isoformat(),
    }


def test_notification_frame_times_are_iso_8601_with_an_offset(notification: Notification) -> None:
    frame = events.notification_frame(notification)
    for field in ("created_at", "expires_at"):
        moment = datetime.fromisoformat(frame[field])
        assert moment.utcoffset() is not None
        assert moment == getattr(notification, field)


def test_pushed_and_replayed_frames_of_one_notification_are_identical(make_user: Any) -> None:
    # The push is built from the instance notify() made; the replay from the row read back.
    made = api.notify_user(make_user(), kind="test.same", title="Same", data={"nested": {"list": [1, 2.5, None]}})
    assert events.notification_frame(made) == events.notification_frame(Notification.objects.get(pk=made.pk))


# -- channel-layer events --------------------------------------------------------------------------


def test_push_event_carries_the_frame_encoded_as_json(notification: Notification) -> None:
    event = events.notification_push_event(notification)
    assert_event(event)
    assert (event["type"], event["id"], event["kind"]) == ("notification.push", notification.pk, "donation.confirmed")
    assert json.loads(event["frame"]) == events.notification_frame(notification)


def test_unread_changed_event() -> None:
    event = events.unread_changed_event(3)
    assert_event(event)
    assert event == {"type": "notification.unread", "unread": 3, "read": [], "all_read": False}
    assert events.unread_changed_event(2, read=[5, 6])["read"] == [5, 6]


@pytest.mark.parametrize("event_type", EVENT_SCHEMAS)
def test_every_event_type_has_a_consumer_handler(event_type: str) -> None:
    # Channels routes an event to the consumer method named after its type, dots made underscores.
    assert callable(getattr(NotificationConsumer, event_type.replace(".", "_"), None))


def test_every_action_sends_events_that_match_their_schema(
    make_user: Any, sent: Sent, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user(roles=("volunteer",))
    other = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        first = api.notify_user(user, kind="test.one", title="One")
        api.notify_users([user, other], kind="test.some", title="Some")
        api.notify_role("volunteer", kind="test.role", title="Role", data={"x": [1]})
        api.notify_all(kind="test.all", title="All", priority=api.CRITICAL)
        recipient_mark_read(user_id=user.pk, notification_ids=[first.pk])
        recipient_mark_all_read(user_id=user.pk)
    assert [event["type"] for _, event in sent] == [events.NOTIFICATION_PUSH] * 5 + [events.UNREAD_CHANGED] * 2
    for _, event in sent:
        assert_event(event)


# -- frames ----------------------------------------------------------------------------------------


def test_synced_frame() -> None:
    assert events.synced_frame(last_id=42, unread=3) == {"type": "synced", "last_id": 42, "unread": 3}


def test_unread_frame() -> None:
    assert events.unread_frame(2) == {"type": "unread", "unread": 2}
    assert events.unread_frame(1, read=[7]) == {"type": "unread", "unread": 1, "read": [7]}
    assert events.unread_frame(0, read=[], all_read=True) == {"type": "unread", "unread": 0, "read": "all"}


def test_acked_frame() -> None:
    assert events.acked_frame(up_to=42, count=5) == {"type": "acked", "up_to": 42, "count": 5}


def test_subscriptions_frame_lists_are_sorted_json_arrays() -> None:
    frame = events.subscriptions_frame(muted={"shift", "donation"}, topics={"dashboard"})
    assert frame == {"type": "subscriptions", "muted": ["donation", "shift"], "topics": ["dashboard"]}
    # Sorted, not in set order: with this many topics, set order is all but never sorted.
    many = {f"kind{index:02d}" for index in range(30)}
    frame = events.subscriptions_frame(muted=many, topics=many)
    assert frame["muted"] == frame["topics"] == sorted(many)
    assert events.subscriptions_frame(muted=set(), topics=set()) == {"type": "subscriptions", "muted": [], "topics": []}


@pytest.mark.parametrize(
    "frame",
    [
        events.synced_frame(last_id=1, unread=0),
        events.unread_frame(0),
        events.acked_frame(up_to=1, count=0),
        events.subscriptions_frame(muted={"a"}, topics=set()),
    ],
)
def test_frames_survive_a_json_round_trip(frame: dict[str, Any]) -> None:
    assert json.loads(events.encode_frame(frame)) == frame
