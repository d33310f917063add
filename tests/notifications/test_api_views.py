"""The notifications REST API: each endpoint's permissions and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from notifications import api
from notifications.models import Recipient

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(make_user: Any) -> Any:
    return make_user()


@pytest.fixture
def logged_in(person: Any) -> Client:
    client = Client()
    client.force_login(person)
    return client


ENDPOINTS = [
    ("get", "/api/notifications/"),
    ("get", "/api/notifications/unread-count/"),
    ("post", "/api/notifications/read/"),
    ("post", "/api/notifications/read-all/"),
    ("post", "/api/notifications/ack/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_is_refused(method: str, url: str) -> None:
    response = getattr(Client(), method)(url)
    assert response.status_code == 403


def test_list_is_own_unexpired_newest_first_and_paginated(logged_in: Client, person: Any, make_user: Any) -> None:
    other = make_user()
    older = api.notify_user(person, kind="test.api", title="older")
    newer = api.notify_user(person, kind="test.api", title="newer")
    api.notify_user(other, kind="test.api", title="not mine")
    expired = api.notify_user(person, kind="test.api", title="expired")
    type(expired).objects.filter(pk=expired.pk).update(expires_at="2000-01-01T00:00Z")
    body = logged_in.get("/api/notifications/").json()
    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [newer.pk, older.pk]
    assert body["results"][0]["read"] is False and body["results"][0]["title"] == "newer"


def test_unread_filter_and_count(logged_in: Client, person: Any) -> None:
    read = api.notify_user(person, kind="test.api", title="read")
    unread = api.notify_user(person, kind="test.api", title="unread")
    Recipient.objects.filter(notification=read).update(read_at="2026-01-01T00:00Z")
    body = logged_in.get("/api/notifications/?unread=true").json()
    assert [item["id"] for item in body["results"]] == [unread.pk]
    assert logged_in.get("/api/notifications/unread-count/").json() == {"unread": 1}


def test_read_marks_only_own(logged_in: Client, person: Any, make_user: Any) -> None:
    mine = api.notify_user(person, kind="test.api", title="mine")
    theirs = api.notify_user(make_user(), kind="test.api", title="theirs")
    response = logged_in.post(
        "/api/notifications/read/", {"ids": [mine.pk, theirs.pk]}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json() == {"count": 1}
    assert Recipient.objects.get(notification=theirs).read_at is None


def test_read_all(logged_in: Client, person: Any) -> None:
    for index in range(3):
        api.notify_user(person, kind="test.api", title=f"n{index}")
    assert logged_in.post("/api/notifications/read-all/").json() == {"count": 3}
    assert logged_in.get("/api/notifications/unread-count/").json() == {"unread": 0}


def test_ack_up_to_marks_delivered(logged_in: Client, person: Any) -> None:
    first = api.notify_user(person, kind="test.api", title="a")
    second = api.notify_user(person, kind="test.api", title="b")
    assert logged_in.post("/api/notifications/ack/", {"up_to": first.pk}, content_type="application/json").json() == {
        "count": 1
    }
    delivered = dict(Recipient.objects.values_list("notification_id", "delivered_at"))
    assert delivered[first.pk] is not None and delivered[second.pk] is None


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("/api/notifications/read/", {}, "ids"),
        ("/api/notifications/read/", {"ids": "1"}, "ids"),
        ("/api/notifications/read/", {"ids": []}, "ids"),
        ("/api/notifications/read/", {"ids": ["x"]}, "ids"),
        ("/api/notifications/read/", {"ids": [0]}, "ids"),
        ("/api/notifications/ack/", {}, "up_to"),
        ("/api/notifications/ack/", {"up_to": "3"}, "up_to"),
        ("/api/notifications/ack/", {"up_to": -1}, "up_to"),
        ("/api/notifications/ack/", {"up_to": 10**30}, "up_to"),
    ],
)
def test_bad_input_is_a_400_with_field_errors(logged_in: Client, url: str, payload: Any, field: str) -> None:
    response = logged_in.post(url, payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()


def test_malformed_json_is_a_400(logged_in: Client) -> None:
    response = logged_in.post("/api/notifications/read/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_post_without_csrf_token_is_refused_for_session_auth(person: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    response = client.post("/api/notifications/read-all/")
    assert response.status_code == 403
