"""notifications/streams.py: what sockets and SSE streams share when a person (re)connects."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import api, selectors, streams
from notifications.kinds import Channel, register_kind, unregister_kind
from notifications.models import NotificationPreference

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.mark.scaleout  # another thread's connection: SQLite's in-memory test database has only one
@pytest.mark.django_db(transaction=True)
def test_the_replay_and_the_unread_count_see_the_same_moment(make_user: Any) -> None:
    """On PostgreSQL both are one statement, which sees one snapshot: nothing can commit between them
    (a notification committed after it arrives live, once). The preferences follow only when some exist."""
    user = make_user()
    earlier = api.notify_user(user, kind="test.n", title="earlier")
    with CaptureQueriesContext(connection) as queries:
        replay = streams.replay_read(user_id=user.pk, since=None)
    assert len(queries) == 1
    assert [notification.pk for notification in replay.notifications] == [earlier.pk]
    assert (replay.unread, replay.last_id) == (1, earlier.pk)
    register_kind("test.quiet", label="Quiet", defaults={Channel.IN_APP})
    try:
        NotificationPreference.objects.create(user=user, kind="test.quiet", channel="in_app", enabled=False)
        with CaptureQueriesContext(connection) as queries:
            replay = streams.replay_read(user_id=user.pk, since=None)
    finally:
        unregister_kind("test.quiet")
    assert len(queries) == 2
    assert replay.in_app_off == {"test.quiet"}


@pytest.mark.django_db(transaction=True)
def test_elsewhere_the_replay_and_the_unread_count_read_in_one_transaction(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    api.notify_user(user, kind="test.n", title="earlier")
    monkeypatch.setattr(connection, "vendor", "sqlite")  # the other path, whatever the test database
    read_state = selectors.notification_sync_state
    in_transaction = []

    def state(**kwargs: Any) -> Any:
        in_transaction.append(connection.in_atomic_block)
        return read_state(**kwargs)

    monkeypatch.setattr(selectors, "notification_sync_state", state)
    replay = streams.replay_read(user_id=user.pk, since=None)
    assert in_transaction == [True]
    assert (len(replay.notifications), replay.unread) == (1, 1)


def test_inside_a_callers_transaction_the_replay_reads_in_it(make_user: Any, db: None) -> None:
    user = make_user()
    sent = api.notify_user(user, kind="test.n", title="mine")  # uncommitted: the test's transaction
    replay = streams.replay_read(user_id=user.pk, since=None)
    assert [notification.pk for notification in replay.notifications] == [sent.pk]
    assert (replay.unread, replay.last_id) == (1, sent.pk)
