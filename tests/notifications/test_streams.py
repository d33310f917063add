"""notifications/streams.py: what sockets and SSE streams share when a person (re)connects."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from notifications import api, selectors, streams

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.mark.scaleout  # another thread's connection: SQLite's in-memory test database has only one
@pytest.mark.django_db(transaction=True)
def test_the_replay_and_the_unread_count_see_the_same_moment(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notification committed between the two reads is in neither: it then arrives live, once."""
    user = make_user()
    earlier = api.notify_user(user, kind="test.n", title="earlier")
    read_replay = selectors.notifications_for_replay

    def then_another_commits(**kwargs: Any) -> Any:
        replay = read_replay(**kwargs)

        def notify() -> None:
            try:
                api.notify_user(user, kind="test.n", title="in between")
            finally:
                connection.close()

        thread = threading.Thread(target=notify)
        thread.start()
        thread.join()
        return replay

    monkeypatch.setattr(selectors, "notifications_for_replay", then_another_commits)
    replay = streams.replay_read(user_id=user.pk, since=None)
    assert [notification.pk for notification in replay.notifications] == [earlier.pk]
    assert (replay.unread, replay.last_id) == (1, earlier.pk)
    monkeypatch.undo()
    after = streams.replay_read(user_id=user.pk, since=None)
    assert len(after.notifications) == 2
    assert after.unread == 2


def test_inside_a_callers_transaction_the_replay_reads_in_it(make_user: Any, db: None) -> None:
    user = make_user()
    sent = api.notify_user(user, kind="test.n", title="mine")  # uncommitted: the test's transaction
    replay = streams.replay_read(user_id=user.pk, since=None)
    assert [notification.pk for notification in replay.notifications] == [sent.pk]
    assert (replay.unread, replay.last_id) == (1, sent.pk)
