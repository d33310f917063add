"""Deeply nested JSON is a 400 on every REST path (realtime.parsers), never a 500."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError

from notifications import api
from realtime.parsers import NESTED_TOO_DEEPLY, JSONParser
from tests.chat.conftest import open_help_request

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000


def test_the_parser_turns_recursion_into_a_parse_error() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        JSONParser().parse(io.BytesIO(DEEP.encode()))


def test_the_parser_still_parses() -> None:
    assert JSONParser().parse(io.BytesIO(b'{"a": [1, {"b": null}]}')) == {"a": [1, {"b": None}]}


def test_it_is_the_default_parser(settings: Any) -> None:
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"][0] == "realtime.parsers.JSONParser"


def test_creating_a_help_request_with_deep_nesting_is_a_400() -> None:
    response = Client().post("/api/help-requests/", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": NESTED_TOO_DEEPLY}


def test_posting_a_message_with_deep_nesting_is_a_400() -> None:
    visitor = open_help_request()
    response = visitor.client.post(
        f"/api/help-requests/{visitor.public_id}/messages/", DEEP, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": NESTED_TOO_DEEPLY}


@pytest.mark.parametrize("path", ["/api/notifications/ack/", "/api/notifications/read/"])
def test_notification_receipts_with_deep_nesting_are_a_400(make_user: Any, path: str) -> None:
    user = make_user()
    api.notify_user(user, kind="test.n", title="n")
    client = Client()
    client.force_login(user)
    response = client.post(path, DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": NESTED_TOO_DEEPLY}
