"""Services and selectors of the chat: state changes, idempotent posting, read cursors, positions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from charity.roles import Role
from chat import selectors, services
from chat.models import HelpRequest, Message, ReadCursor, Status
from chat.participants import user_participant, visitor_participant
from realtime import groups

pytestmark = pytest.mark.django_db(transaction=True)


def create(name: str = "Alice", **kwargs: Any) -> HelpRequest:
    return services.help_request_create(name=name, description="Need help", **kwargs)


def post(help_request: HelpRequest, body: str, client_id: str, participant: Any = None) -> tuple[Message, bool]:
    return services.message_post(
        help_request_id=help_request.pk,
        public_id=help_request.public_id,
        participant=participant or visitor_participant(help_request),
        body=body,
        client_id=client_id,
    )


# -- creating ------------------------------------------------------------------------------------------


def test_create_validates_and_trims() -> None:
    help_request = create(name="  Alice ", contact=" 0123 ", category="housing")
    assert (help_request.name, help_request.contact, help_request.category) == ("Alice", "0123", "housing")
    for bad in ({"name": "x" * 101}, {"category": "nope"}, {"contact": "c" * 201}, {"name": "a\x00"}):
        with pytest.raises(services.ChatError):
            services.help_request_create(**{"name": "Alice", "description": "x", **bad})
    assert HelpRequest.objects.count() == 1


def test_create_without_a_name_is_visitor() -> None:
    assert services.help_request_create(description="x").name == "Visitor"
    assert services.help_request_create(name="   ", description="x").name == "Visitor"


def test_create_tells_the_queue(sent: Any) -> None:
    help_request = create()
    # (The waiting rooms' wait_estimate events are tests/chat/test_waiting_room.py's.)
    [(group, event)] = [(group, event) for group, event in sent if event["type"] != "chat.wait"]
    assert group == groups.help_request_queue_group()
    assert event["type"] == "chat.queue" and event["public_id"] == str(help_request.public_id)
    assert event["item"]["queue_position"] == 1


# -- positions -----------------------------------------------------------------------------------------


def test_queue_position_counts_waiting_requests_in_creation_order(make_user: Any) -> None:
    first, second, third = create(), create(), create()
    assert [selectors.queue_position(help_request=r) for r in (first, second, third)] == [1, 2, 3]
    services.help_request_claim(help_request=first, user=make_user(roles=(Role.VOLUNTEER,)))
    first.refresh_from_db()
    assert selectors.queue_position(help_request=first) is None
    assert [selectors.queue_position(help_request=r) for r in (second, third)] == [1, 2]


def test_waiting_positions_is_one_query(django_assert_num_queries: Any) -> None:
    requests = [create() for _ in range(20)]
    with django_assert_num_queries(1):
        positions = selectors.waiting_positions(behind=requests[9])
    assert positions == [(r.public_id, i) for i, r in enumerate(requests[10:], start=11)]


def test_claim_costs_the_same_however_long_the_queue(make_user: Any, django_assert_max_num_queries: Any) -> None:
    """Positions of everyone behind are read in one query, not one per waiting request."""
    vera = make_user(roles=(Role.VOLUNTEER,))

    def claim_cost(waiting_behind: int) -> int:
        head = create()
        for _ in range(waiting_behind):
            create()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            services.help_request_claim(help_request=head, user=vera)
        HelpRequest.objects.filter(status=Status.WAITING).update(status=Status.CLOSED)
        return len(queries)

    assert claim_cost(1) == claim_cost(30)


def test_leaving_the_queue_moves_only_those_behind(make_user: Any, sent: Any) -> None:
    first, second, third = create(), create(), create()
    sent.clear()
    services.help_request_claim(help_request=second, user=make_user(roles=(Role.VOLUNTEER,)))
    status_groups = [group for group, event in sent if event["type"] == "chat.status"]
    assert status_groups == [groups.help_request_group(second.public_id), groups.help_request_group(third.public_id)]
    third_event = next(e for g, e in sent if g == groups.help_request_group(third.public_id))
    assert third_event["frame"]["queue_position"] == 2
    assert first.public_id


def queue_events(sent: Any) -> list[dict[str, Any]]:
    return [event for group, event in sent if group == groups.help_request_queue_group()]


def test_a_claim_tells_the_queue_one_small_change_not_the_whole_queue(make_user: Any, sent: Any) -> None:
    waiting = [services.help_request_create(name=f"v{i}", description="d" * 4000) for i in range(10)]
    sent.clear()
    services.help_request_claim(help_request=waiting[3], user=make_user(roles=(Role.VOLUNTEER,)))
    [event] = queue_events(sent)
    assert event["public_id"] == str(waiting[3].public_id) and event["status"] == "assigned"
    assert event["waiting"] == 9
    assert event["item"]["description"] == "d" * 280 and event["item"]["description_truncated"] is True
    assert len(json.dumps(event)) < 1000  # one short item, however long the queue and its descriptions


def test_leaving_the_first_page_sends_the_request_that_moves_onto_it(make_user: Any, sent: Any, settings: Any) -> None:
    settings.CHAT_QUEUE_PAGE_SIZE = 3
    waiting = [create(name=f"v{i}") for i in range(5)]
    vera = make_user(roles=(Role.VOLUNTEER,))
    sent.clear()
    services.help_request_claim(help_request=waiting[0], user=vera)
    claimed, moved_up = queue_events(sent)
    assert claimed["public_id"] == str(waiting[0].public_id)
    # v3 was 4th; it is now 3rd, the last place of the first page that queue clients hold.
    assert moved_up["public_id"] == str(waiting[3].public_id) and moved_up["status"] == "waiting"
    assert moved_up["item"]["queue_position"] == 3 and moved_up["waiting"] == 4
    sent.clear()
    services.help_request_claim(help_request=waiting[4], user=vera)  # beyond the first page
    assert [event["public_id"] for event in queue_events(sent)] == [str(waiting[4].public_id)]


def test_a_short_description_is_not_flagged(sent: Any) -> None:
    create()
    [event] = queue_events(sent)
    assert event["item"]["description"] == "Need help" and event["item"]["description_truncated"] is False


# -- state changes -------------------------------------------------------------------------------------


def test_claim_rules(make_user: Any) -> None:
    help_request = create()
    with pytest.raises(services.ChatError) as donor_error:
        services.help_request_claim(help_request=help_request, user=make_user(roles=(Role.DONOR,)))
    assert donor_error.value.code == "forbidden"
    services.help_request_claim(help_request=help_request, user=make_user(roles=(Role.VOLUNTEER,)))
    with pytest.raises(services.ChatError) as again:
        services.help_request_claim(help_request=help_request, user=make_user(roles=(Role.STAFF,)))
    assert again.value.code == "conflict"


def test_assign_rules(make_user: Any) -> None:
    help_request = create()
    vera = make_user(roles=(Role.VOLUNTEER,))
    staff = make_user(roles=(Role.STAFF,))
    with pytest.raises(services.ChatError):
        services.help_request_assign(help_request=help_request, assignee=vera, by=vera)
    with pytest.raises(services.ChatError):
        services.help_request_assign(help_request=help_request, assignee=make_user(roles=(Role.DONOR,)), by=staff)
    services.help_request_assign(help_request=help_request, assignee=vera, by=staff)
    # The same assignee again is a no-op: no second system message, no second notification.
    services.help_request_assign(help_request=help_request, assignee=vera, by=staff)
    assert Message.objects.filter(help_request=help_request, author_kind="system").count() == 1
    services.help_request_resolve(help_request=help_request, by=user_participant(vera))
    with pytest.raises(services.ChatError) as closed:
        services.help_request_assign(help_request=help_request, assignee=vera, by=staff)
    assert closed.value.code == "conflict"


def test_resolve_and_close_rules(make_user: Any) -> None:
    help_request = create()
    vera = make_user(roles=(Role.VOLUNTEER,))
    victor = make_user(roles=(Role.VOLUNTEER,))
    services.help_request_claim(help_request=help_request, user=vera)
    for by in (visitor_participant(help_request), user_participant(victor)):
        with pytest.raises(services.ChatError):
            services.help_request_resolve(help_request=help_request, by=by)
    with pytest.raises(services.ChatError):
        services.help_request_close(help_request=help_request, by=user_participant(victor))
    services.help_request_resolve(help_request=help_request, by=user_participant(vera))
    help_request.refresh_from_db()
    assert help_request.status == Status.RESOLVED and help_request.resolved_at is not None
    services.help_request_close(help_request=help_request, by=visitor_participant(help_request))
    help_request.refresh_from_db()
    assert help_request.status == Status.CLOSED
    with pytest.raises(services.ChatError):
        services.help_request_close(help_request=help_request, by=visitor_participant(help_request))


# -- messages ------------------------------------------------------------------------------------------


def test_post_is_idempotent_on_client_id(sent: Any) -> None:
    help_request = create()
    sent.clear()
    first, created = post(help_request, "hello", "c1")
    again, created_again = post(help_request, "other", "c1")
    assert created and not created_again and again.pk == first.pk and again.body == "hello"
    assert [event["type"] for _, event in sent] == ["chat.message"]


def test_post_survives_the_race_with_a_concurrent_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin commits between the lookup and the insert: the unique constraint catches it inside a
    savepoint and the original is returned, the transaction intact."""
    help_request = create()
    twin, _ = post(help_request, "from the other process", "race")
    monkeypatch.setattr(services, "_message_by_client_id", lambda *args: None)
    message, created = post(help_request, "from this process", "race")
    assert not created and message.pk == twin.pk
    assert Message.objects.filter(help_request=help_request).count() == 1


def test_read_only_room_refuses_new_messages(make_user: Any) -> None:
    help_request = create()
    post(help_request, "before", "b")
    services.help_request_close(help_request=help_request, by=visitor_participant(help_request))
    with pytest.raises(services.ChatError) as error:
        post(help_request, "after", "a")
    assert error.value.code == "read_only"
    assert post(help_request, "before", "b")[0].body == "before"


def test_post_costs_one_statement_on_postgresql_and_three_elsewhere() -> None:
    """However long the conversation. On PostgreSQL outside a transaction: one statement (lock, checks,
    insert and the first reply together); elsewhere: lock the request, look the client id up, insert."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    help_request = create()
    for i in range(20):
        post(help_request, "earlier", f"e{i}")
    with CaptureQueriesContext(connection) as queries:
        post(help_request, "hello", "c1")
    statements = [q["sql"].split()[0] for q in queries if q["sql"].split()[0] in {"WITH", "SELECT", "INSERT", "UPDATE"}]
    if connection.vendor == "postgresql":
        assert statements == ["WITH"]
        assert not any(q["sql"].startswith("SAVEPOINT") for q in queries)
    else:
        assert statements == ["SELECT", "SELECT", "INSERT"]


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
def test_a_message_leaves_nothing_for_the_garbage_collector() -> None:
    """Every chat message runs the statement: objects in reference cycles pile up until the
    collector runs, which a server tuned for broadcasts seldom does (``realtime.server.tune_gc``)."""
    import gc

    help_request = create()
    post(help_request, "first", "c0")  # the connection opens, its types load
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        message, created = post(help_request, "second", "c1")
        gc.collect()
        cyclic = sorted({type(thing).__qualname__ for thing in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert created and message.body == "second"
    assert cyclic == []


def test_a_helpers_first_reply_is_recorded_once_in_the_same_statement(make_user: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    helper = make_user(roles=(Role.VOLUNTEER,))
    help_request = create()
    services.help_request_claim(help_request=help_request, user=helper)
    post(help_request, "hello?", "v1")
    help_request.refresh_from_db()
    assert help_request.first_reply_at is None
    with CaptureQueriesContext(connection) as queries:
        first, _ = post(help_request, "I am here", "h1", participant=user_participant(helper))
    help_request.refresh_from_db()
    assert help_request.first_reply_at == first.created_at
    if connection.vendor == "postgresql":
        # Django logs the follow-up block's BEGIN and COMMIT; with nothing written in it, psycopg sends
        # neither (the connection is idle: no transaction was opened).
        assert [q["sql"] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")] == [queries[0]["sql"]]
        assert queries[0]["sql"].split()[0] == "WITH"
    post(help_request, "still here", "h2", participant=user_participant(helper))
    help_request.refresh_from_db()
    assert help_request.first_reply_at == first.created_at


def test_a_resend_does_not_spend_the_rooms_message_rate(settings: Any) -> None:
    settings.CHAT_ROOM_MESSAGES_PER_MINUTE = 2
    help_request = create()
    post(help_request, "one", "c1")
    for _ in range(5):
        assert post(help_request, "one", "c1")[1] is False
    assert post(help_request, "two", "c2")[1] is True
    with pytest.raises(services.ChatError) as error:
        post(help_request, "three", "c3")
    assert error.value.code == "rate_limited"
    # Past the limit, a re-send still gets its original back.
    assert post(help_request, "two", "c2")[0].body == "two"


def test_a_visitor_message_reads_presence_only_when_the_caller_did_not_see_the_assignee(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat import presence
    from chat.participants import user_key

    vera = make_user(roles=(Role.VOLUNTEER,))
    help_request = create()
    services.help_request_claim(help_request=help_request, user=vera)
    reads: list[str] = []
    original = presence.presence_includes

    def counting(**kwargs: Any) -> bool:
        reads.append(kwargs["participant_key"])
        return original(**kwargs)

    monkeypatch.setattr(presence, "presence_includes", counting)
    services.message_post(
        help_request_id=help_request.pk,
        public_id=help_request.public_id,
        participant=visitor_participant(help_request),
        body="hello",
        client_id="c1",
        present={"visitor", user_key(vera.pk)},
    )
    assert reads == []
    services.message_post(
        help_request_id=help_request.pk,
        public_id=help_request.public_id,
        participant=visitor_participant(help_request),
        body="anyone?",
        client_id="c2",
        present={"visitor"},
    )
    assert reads == [user_key(vera.pk)]


# -- read cursors --------------------------------------------------------------------------------------


def test_read_cursor_moves_forward_only(sent: Any) -> None:
    help_request = create()
    first, _ = post(help_request, "one", "1")
    second, _ = post(help_request, "two", "2")
    visitor = visitor_participant(help_request)
    sent.clear()
    assert services.read_mark(help_request_id=help_request.pk, participant=visitor, up_to=second.pk)
    assert not services.read_mark(help_request_id=help_request.pk, participant=visitor, up_to=first.pk)
    assert not services.read_mark(help_request_id=help_request.pk, participant=visitor, up_to=second.pk)
    assert ReadCursor.objects.get().up_to == second.pk
    assert [event["type"] for _, event in sent] == ["chat.read"]


def test_read_of_a_message_of_another_request_is_refused() -> None:
    mine, theirs = create(), create()
    message, _ = post(theirs, "theirs", "t")
    with pytest.raises(services.ChatError):
        services.read_mark(help_request_id=mine.pk, participant=visitor_participant(mine), up_to=message.pk)
