"""``POST /api/help-requests/``: an anonymous visitor opens a help request."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from chat import visitors
from chat.api_views import RATE_LIMITED
from chat.models import HelpRequest
from tests.conftest import fresh_address

pytestmark = pytest.mark.django_db
URL = "/api/help-requests/"


def post(client: Client, body: Any, **kwargs: Any) -> Any:
    return client.post(URL, data=body, content_type="application/json", **kwargs)


def test_anonymous_visitor_creates_a_request_and_owns_it() -> None:
    client = Client()
    response = post(
        client, {"name": "Alice", "description": "Need food", "contact": "07700 900000", "category": "food"}
    )
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"public_id", "url", "status", "queue_position", "token"}
    help_request = HelpRequest.objects.get(public_id=data["public_id"])
    assert (help_request.name, help_request.contact, help_request.category) == ("Alice", "07700 900000", "food")
    assert data["url"] == f"http://testserver/help/{data['public_id']}/"
    assert data["status"] == "waiting" and data["queue_position"] == 1
    assert visitors.token_is_valid(help_request, data["token"])
    # Only a keyed hash of the token is stored, and no session id at all.
    assert data["token"] not in str(HelpRequest.objects.filter(pk=help_request.pk).values().get())
    session_key = client.session.session_key
    assert session_key and session_key not in str(HelpRequest.objects.filter(pk=help_request.pk).values().get())
    # The creating session owns it: its page opens without the token.
    assert client.get(f"/help/{data['public_id']}/").status_code == 200
    assert Client().get(f"/help/{data['public_id']}/").status_code == 403


def test_never_exposes_the_database_id() -> None:
    data = post(Client(), {"name": "Alice", "description": "Need food"}).json()
    assert "id" not in data and "pk" not in data
    assert data["url"].endswith(f"/help/{data['public_id']}/")


def test_queue_positions_follow_creation_order() -> None:
    positions = [post(Client(), {"name": f"v{i}", "description": "x"}).json()["queue_position"] for i in range(3)]
    assert positions == [1, 2, 3]


def test_defaults_and_trimming() -> None:
    data = post(Client(), {"name": "  Alice  ", "description": "  help  "}).json()
    help_request = HelpRequest.objects.get(public_id=data["public_id"])
    assert (help_request.name, help_request.description, help_request.contact, help_request.category) == (
        "Alice",
        "help",
        "",
        "general",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Alice"}, "description"),
        ({"name": "A" * 101, "description": "x"}, "name"),
        ({"name": "Alice", "description": "x" * 4001}, "description"),
        ({"name": 5, "description": "x"}, "name"),
        ({"name": ["Alice"], "description": "x"}, "name"),
        ({"name": "Alice", "description": "x", "contact": "c" * 201}, "contact"),
        ({"name": "Alice", "description": "x", "contact": None}, "contact"),
        ({"name": "Alice", "description": "x", "category": "weapons"}, "category"),
        ({"name": "Al\u0000ice", "description": "x"}, "name"),
        ({"name": "Alice", "description": "lone \ud800"}, "description"),
    ],
)
def test_bad_input_is_400_with_field_errors(body: dict[str, Any], field: str) -> None:
    response = post(Client(), body)
    assert response.status_code == 400
    assert field in response.json()
    assert not HelpRequest.objects.exists()


@pytest.mark.parametrize(
    "body", [{"description": "x"}, {"name": "", "description": "x"}, {"name": "  ", "description": "x"}]
)
def test_a_name_is_never_required(body: dict[str, Any]) -> None:
    assert post(Client(), body).status_code == 201
    assert HelpRequest.objects.get().name == "Visitor"


def test_non_object_json_is_400() -> None:
    assert post(Client(), [1, 2]).status_code == 400
    assert Client().post(URL, data="not json", content_type="application/json").status_code == 400
    assert not HelpRequest.objects.exists()


def test_only_json_is_accepted() -> None:
    # A form post could come from any site; JSON needs a same-origin script (CORS preflight).
    response = Client().post(URL, data={"name": "Alice", "description": "x"})
    assert response.status_code == 415
    response = Client().post(URL, data='{"name": "Alice", "description": "x"}', content_type="text/plain")
    assert response.status_code == 415
    assert not HelpRequest.objects.exists()


def test_only_post() -> None:
    assert Client().get(URL).status_code == 405


def test_visitor_text_comes_back_as_json_text() -> None:
    client = Client()
    data = post(client, {"name": "<script>alert(1)</script>", "description": "<img src=x onerror=alert(1)>"}).json()
    response = client.get(f"/help/{data['public_id']}/")
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content
    assert HelpRequest.objects.get(public_id=data["public_id"]).name == "<script>alert(1)</script>"


# -- rate limit ------------------------------------------------------------------------------------

BODY = {"name": "Alice", "description": "Need food", "category": "food"}


def test_too_many_requests_from_one_address_are_refused_with_429(settings: Any) -> None:
    settings.REALTIME_HELP_REQUESTS_PER_IP = 2
    address = fresh_address()
    assert [post(Client(), BODY, REMOTE_ADDR=address).status_code for _ in range(2)] == [201, 201]
    refused = post(Client(), BODY, REMOTE_ADDR=address)
    assert refused.status_code == 429
    assert refused.json() == {"code": "rate_limited", "detail": RATE_LIMITED}
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert HelpRequest.objects.count() == 2
    # Another address is not affected.
    assert post(Client(), BODY, REMOTE_ADDR=fresh_address()).status_code == 201


def test_refused_bodies_do_not_count(settings: Any) -> None:
    settings.REALTIME_HELP_REQUESTS_PER_IP = 1
    address = fresh_address()
    assert [post(Client(), {"name": ""}, REMOTE_ADDR=address).status_code for _ in range(3)] == [400, 400, 400]
    assert post(Client(), BODY, REMOTE_ADDR=address).status_code == 201
