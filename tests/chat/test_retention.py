"""The retention purge (chat.retention, ``manage.py purge_help_requests``)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from charity.roles import Role
from chat import retention, services
from chat.models import HelpRequest, Message, ReadCursor, Status
from chat.participants import user_participant
from tests.chat.conftest import Visitor, open_help_request, post_as_visitor

pytestmark = pytest.mark.django_db

DAYS = 90


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_help_requests", *args, stdout=out)
    return out.getvalue()


def age(visitor: Visitor, days: float) -> None:
    """Make everything of the request ``days`` old: its changes, its end if it ended, its messages."""
    then = timezone.now() - timedelta(days=days)
    help_request = visitor.help_request()
    HelpRequest.objects.filter(pk=help_request.pk).update(
        created_at=then, updated_at=then, resolved_at=then if help_request.resolved_at else None
    )
    Message.objects.filter(help_request=help_request).update(created_at=then)


def resolved_conversation(make_user: Any, *, name: str = "Alice", days: float = DAYS + 1) -> Visitor:
    visitor = open_help_request(name=name, contact="alice@example.org", category="housing")
    vera = make_user(roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    message = post_as_visitor(visitor, "Thank you.")
    services.read_mark(help_request_id=message.help_request_id, participant=user_participant(vera), up_to=message.pk)
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    age(visitor, days)
    return visitor


def is_anonymised(visitor: Visitor) -> bool:
    help_request = visitor.help_request()
    return help_request.anonymised_at is not None and help_request.name == ""


def test_an_old_resolved_request_keeps_only_its_statistic(make_user: Any) -> None:
    visitor = resolved_conversation(make_user)
    before = visitor.help_request()

    output = purge()

    after = visitor.help_request()
    assert not Message.objects.filter(help_request=after).exists()
    assert not ReadCursor.objects.filter(help_request=after).exists()
    assert (after.name, after.contact, after.description, after.visitor_token_hash) == ("", "", "", "")
    assert after.anonymised_at is not None and after.erased_at is None
    kept = ("category", "status", "created_at", "assigned_at", "resolved_at", "assigned_to_id")
    assert [getattr(after, field) for field in kept] == [getattr(before, field) for field in kept]
    assert after.category == "housing" and after.status == Status.RESOLVED
    assert "conversations: deleted 1 help requests, 3 messages, 1 read cursors" in output
    assert visitor.public_id in output


def test_a_dry_run_changes_nothing_and_says_what_would_go(make_user: Any) -> None:
    old = resolved_conversation(make_user)
    recent = resolved_conversation(make_user, name="Bob", days=DAYS - 1)

    output = purge("--dry-run")

    assert not is_anonymised(old) and Message.objects.filter(help_request=old.help_request()).count() == 3
    assert "conversations: would delete 1 help requests, 3 messages, 1 read cursors" in output
    assert old.public_id in output and recent.public_id not in output
    assert output.strip().endswith("Dry run, nothing changed: 1 record(s) past retention across 2 data type(s).")


def test_recent_and_open_requests_are_left_alone(make_user: Any) -> None:
    recent = resolved_conversation(make_user, days=DAYS - 1)
    waiting = open_help_request(name="Carol")
    talking = open_help_request(name="Dan")
    services.help_request_claim(help_request=talking.help_request(), user=make_user(roles=(Role.VOLUNTEER,)))
    # Nothing about this assigned request changed for long, but a message came in recently.
    age(talking, DAYS + 5)
    post_as_visitor(talking, "Still there?")

    purge()

    for visitor in (recent, waiting, talking):
        assert not is_anonymised(visitor)
        assert visitor.help_request().name
    assert talking.help_request().status == Status.ASSIGNED


def test_an_abandoned_waiting_request_is_closed_and_anonymised(make_user: Any) -> None:
    abandoned = open_help_request(name="Erin")
    post_as_visitor(abandoned, "Hello?")
    age(abandoned, DAYS + 1)

    purge()

    help_request = abandoned.help_request()
    assert is_anonymised(abandoned) and help_request.status == Status.CLOSED and help_request.resolved_at
    assert not Message.objects.filter(help_request=help_request).exists()


def test_the_purge_is_idempotent(make_user: Any) -> None:
    visitor = resolved_conversation(make_user)
    purge()
    first = visitor.help_request().anonymised_at

    output = purge()

    assert "conversations: deleted 0 help requests, 0 messages, 0 read cursors" in output
    assert visitor.help_request().anonymised_at == first


def test_it_works_in_batches_each_its_own_transaction(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    visitors = [resolved_conversation(make_user, name=f"V{index}") for index in range(5)]
    batches: list[int] = []
    original = services.help_requests_anonymise

    def recording(**kwargs: Any) -> Any:
        done = original(**kwargs)
        batches.append(len(done))
        return done

    monkeypatch.setattr(services, "help_requests_anonymise", recording)

    purge("--batch-size", "2")

    assert batches == [2, 2, 1]
    assert all(is_anonymised(visitor) for visitor in visitors)


def test_a_batch_holds_at_most_its_size(make_user: Any) -> None:
    for index in range(3):
        resolved_conversation(make_user, name=f"V{index}")
    cutoff = retention.conversations_cutoff(timezone.now())
    assert len(services.help_requests_anonymise(cutoff=cutoff, limit=2)) == 2
    assert len(services.help_requests_anonymise(cutoff=cutoff, limit=2)) == 1
    assert services.help_requests_anonymise(cutoff=cutoff, limit=2) == []


def test_the_retention_period_is_a_setting(make_user: Any, settings: Any) -> None:
    visitor = resolved_conversation(make_user, days=10)
    purge()
    assert not is_anonymised(visitor)
    settings.CHAT_RETAIN_CONVERSATIONS_DAYS = 7
    purge()
    assert is_anonymised(visitor)


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(CommandError, match="at least 1"):
        purge("--batch-size", "0")


@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_skip_the_rows_the_other_holds(make_user: Any, require_scaleout: None) -> None:
    """PostgreSQL: a request another run has locked is skipped, not waited for nor done twice."""
    import threading

    from django.db import connection, transaction

    held, other = resolved_conversation(make_user, name="Held"), resolved_conversation(make_user, name="Free")
    locked, release = threading.Event(), threading.Event()

    def other_run() -> None:
        try:
            with transaction.atomic():
                HelpRequest.objects.select_for_update().get(public_id=held.public_id)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert locked.wait(timeout=10)
        done = services.help_requests_anonymise(cutoff=retention.conversations_cutoff(timezone.now()), limit=10)
    finally:
        release.set()
        thread.join()
    assert [public_id for public_id, _, _ in done] == [other.public_id]
    assert not is_anonymised(held) and is_anonymised(other)


def test_audit_entries_past_their_year_go_and_the_rest_stay(make_user: Any, settings: Any) -> None:
    from chat.audit import access_record
    from chat.models import AccessChannel, AccessRecord

    settings.CHAT_RETAIN_AUDIT_DAYS = 365
    visitor = open_help_request()
    sam = make_user("sam", roles=(Role.STAFF,))
    help_request_id = visitor.help_request().pk
    old = access_record(help_request_id=help_request_id, user=sam, channel=AccessChannel.PAGE)
    recent = access_record(help_request_id=help_request_id, user=sam, channel=AccessChannel.API)
    AccessRecord.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=366))

    assert "audit entries: would delete 1 audit entries" in purge("--dry-run")
    assert AccessRecord.objects.count() == 2
    assert "audit entries: deleted 1 audit entries" in purge()
    assert list(AccessRecord.objects.values_list("pk", flat=True)) == [recent.pk]
