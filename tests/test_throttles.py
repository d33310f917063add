"""charity/throttles.py: writes through the REST API, per person (or anonymous address) a minute."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from charity.throttles import WriteRateThrottle
from chat.models import Message
from tests.chat.conftest import Visitor, open_help_request
from tests.conftest import fresh_address

pytestmark = pytest.mark.django_db

ACK = "/api/notifications/ack/"


def ack(client: Client) -> Any:
    return client.post(ACK, data={"up_to": 0}, content_type="application/json")


def post_message(visitor: Visitor, body: str, **extra: Any) -> Any:
    """A visitor's message over HTTP (the SSE fallback's write side), vouched for by the token."""
    return Client().post(
        f"/api/help-requests/{visitor.public_id}/messages/",
        data={"body": body, "client_id": uuid.uuid4().hex},
        content_type="application/json",
        HTTP_X_HELP_REQUEST_TOKEN=visitor.token,
        **extra,
    )


def logged_in(user: Any) -> Client:
    """A client of ``user``, with no writes counted yet: ids come back in later tests (their rows are
    rolled back) and the counts live in the cache, which outlives a test."""
    WriteRateThrottle.cache.delete(WriteRateThrottle.cache_format % {"scope": "writes", "ident": f"user:{user.pk}"})
    client = Client()
    client.force_login(user)
    return client


def test_a_persons_writes_past_the_limit_get_429_and_reads_go_on(settings: Any, make_user: Any) -> None:
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 3
    client = logged_in(make_user())
    assert [ack(client).status_code for _ in range(3)] == [200, 200, 200]
    refused = ack(client)
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert "throttled" in body["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert client.get("/api/notifications/unread-count/").status_code == 200
    # Another person, from the same address, is not affected.
    assert ack(logged_in(make_user())).status_code == 200


def test_anonymous_writes_count_per_address_and_a_refused_one_writes_nothing(settings: Any) -> None:
    visitor = open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 2
    address = fresh_address()
    statuses = [post_message(visitor, f"m{n}", REMOTE_ADDR=address).status_code for n in range(3)]
    assert statuses == [201, 201, 429]
    assert list(Message.objects.filter(help_request__public_id=visitor.public_id).values_list("body", flat=True)) == [
        "m0",
        "m1",
    ]
    assert post_message(visitor, "elsewhere", REMOTE_ADDR=fresh_address()).status_code == 201


def test_a_forged_forwarded_for_does_not_escape_the_limit(settings: Any) -> None:
    visitor = open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 1
    address = fresh_address()
    assert post_message(visitor, "one", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=fresh_address()).status_code == 201
    assert post_message(visitor, "two", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=fresh_address()).status_code == 429


def test_behind_a_trusted_proxy_each_client_has_its_own_count(settings: Any) -> None:
    visitor = open_help_request()
    proxy = fresh_address()
    settings.REALTIME_TRUSTED_PROXIES = [proxy]
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 1
    first, second = fresh_address(), fresh_address()
    assert post_message(visitor, "a", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=first).status_code == 201
    assert post_message(visitor, "b", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=second).status_code == 201
    assert post_message(visitor, "c", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=first).status_code == 429
