"""realtime/throttles.py: writes through the REST API, per person, receipts apart, anonymous addresses
as a backstop; reads never counted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from chat.models import Message
from realtime.cache import shared_cache
from tests.chat.conftest import Visitor, open_help_request
from tests.conftest import fresh_address

pytestmark = pytest.mark.django_db

ACK = "/api/notifications/ack/"


def messages_url(visitor: Visitor) -> str:
    return f"/api/help-requests/{visitor.public_id}/messages/"


def post_message(visitor: Visitor, body: str, client: Client | None = None, **extra: Any) -> Any:
    """A message over HTTP (the SSE fallback's write side): the visitor's, by its token, unless
    ``client`` (a logged-in person) posts it."""
    if client is None:
        client = Client()
        extra.setdefault("HTTP_X_HELP_REQUEST_TOKEN", visitor.token)
    return client.post(
        messages_url(visitor),
        data={"body": body, "client_id": uuid.uuid4().hex},
        content_type="application/json",
        **extra,
    )


def ack(client: Client) -> Any:
    return client.post(ACK, data={"up_to": 0}, content_type="application/json")


def logged_in(user: Any) -> Client:
    """A client of ``user`` with nothing counted yet: ids come back in later tests (their rows are
    rolled back) and the counts live in the cache, which outlives a test."""
    for scope in ("writes", "receipts"):
        shared_cache().delete(f"throttle_{scope}_user:{user.pk}")
    client = Client()
    client.force_login(user)
    return client


def bodies(visitor: Visitor) -> list[str]:
    return list(Message.objects.filter(help_request__public_id=visitor.public_id).values_list("body", flat=True))


def test_a_persons_writes_past_the_limit_get_429_and_the_rest_goes_on(settings: Any, make_user: Any) -> None:
    visitor = open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 3
    staff = logged_in(make_user(roles=("staff",)))
    assert [post_message(visitor, f"m{n}", staff).status_code for n in range(3)] == [201, 201, 201]
    refused = post_message(visitor, "one too many", staff)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert "throttled" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert bodies(visitor) == ["m0", "m1", "m2"]
    # Reads are not counted; acknowledgements have their own count; other people theirs.
    assert staff.get(messages_url(visitor)).status_code == 200
    assert ack(staff).status_code == 200
    assert post_message(visitor, "colleague", logged_in(make_user(roles=("staff",)))).status_code == 201


def test_acks_and_read_marks_count_apart_with_their_own_limit(settings: Any, make_user: Any) -> None:
    settings.REALTIME_HTTP_RECEIPTS_PER_MINUTE = 2
    client = logged_in(make_user())
    read = client.post("/api/notifications/read/", data={"ids": [1]}, content_type="application/json")
    assert [read.status_code, ack(client).status_code, ack(client).status_code] == [200, 200, 429]


def test_each_visitor_counts_apart_even_from_one_address(settings: Any) -> None:
    first, second = open_help_request(), open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 2
    address = fresh_address()
    statuses = [post_message(first, f"m{n}", REMOTE_ADDR=address).status_code for n in range(3)]
    assert statuses == [201, 201, 429]
    assert bodies(first) == ["m0", "m1"], "a refused write wrote nothing"
    assert post_message(second, "same address, another visitor", REMOTE_ADDR=address).status_code == 201


def test_one_address_has_a_backstop_for_all_its_anonymous_writes(settings: Any) -> None:
    visitors = [open_help_request() for _ in range(3)]
    settings.REALTIME_HTTP_WRITES_PER_IP = 2
    address = fresh_address()
    statuses = [post_message(visitor, "hello", REMOTE_ADDR=address).status_code for visitor in visitors]
    assert statuses == [201, 201, 429]
    assert post_message(visitors[2], "from elsewhere", REMOTE_ADDR=fresh_address()).status_code == 201


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(settings: Any) -> None:
    first, second = open_help_request(), open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_IP = 1
    address = fresh_address()
    assert post_message(first, "one", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=fresh_address()).status_code == 201
    assert post_message(second, "two", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=fresh_address()).status_code == 429


def test_behind_a_trusted_proxy_each_client_address_counts_apart(settings: Any) -> None:
    visitors = [open_help_request() for _ in range(3)]
    proxy = fresh_address()
    settings.REALTIME_TRUSTED_PROXIES = [proxy]
    settings.REALTIME_HTTP_WRITES_PER_IP = 1
    first, second = fresh_address(), fresh_address()
    assert post_message(visitors[0], "a", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=first).status_code == 201
    assert post_message(visitors[1], "b", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=second).status_code == 201
    assert post_message(visitors[2], "c", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=first).status_code == 429


def test_reads_are_never_counted(settings: Any) -> None:
    visitor = open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 1
    settings.REALTIME_HTTP_WRITES_PER_IP = 1
    address = fresh_address()
    reader = Client()
    for _ in range(5):
        assert (
            reader.get(messages_url(visitor), HTTP_X_HELP_REQUEST_TOKEN=visitor.token, REMOTE_ADDR=address).status_code
            == 200
        )
    assert post_message(visitor, "still allowed", REMOTE_ADDR=address).status_code == 201
