"""The REST API of one help request (chat/api_views.py): who may call what, bad input, and the same effects
as the socket (docs/chat-protocol.md, "HTTP endpoints")."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from charity.roles import Role
from chat import services
from chat.events import message_frame
from chat.models import CannedReply, HelpRequest, Message, ReadCursor, Status
from notifications.models import Notification
from tests.chat.conftest import (
    Visitor,
    avisit,
    check_frame,
    joined,
    make,
    next_frame,
    open_help_request,
    post_as_visitor,
    receive_until,
)

API = "/api/help-requests/"


def url(public_id: str, suffix: str = "") -> str:
    return f"{API}{public_id}/{suffix}"


# -- the cast --------------------------------------------------------------------------------------

# Who calls, and how they prove who they are.
ANONYMOUS = "anonymous"
OWNER = "owner"  # the session that opened the request
OTHER_VISITOR = "other visitor"  # the session that opened another request
TOKEN_QUERY = "token in ?token= (not believed: URLs reach logs)"
TOKEN_HEADER = "token in X-Help-Request-Token"
WRONG_TOKEN = "another request's token"
ASSIGNED_VOLUNTEER = "assigned volunteer"
OTHER_VOLUNTEER = "other volunteer"
DONOR = "donor"
STAFF = "staff"
STAFF_API_TOKEN = "staff with a DRF token"
BAD_API_TOKEN = "an unknown DRF token"
ACTORS = [
    ANONYMOUS,
    OWNER,
    OTHER_VISITOR,
    TOKEN_QUERY,
    TOKEN_HEADER,
    WRONG_TOKEN,
    ASSIGNED_VOLUNTEER,
    OTHER_VOLUNTEER,
    DONOR,
    STAFF,
    STAFF_API_TOKEN,
    BAD_API_TOKEN,
]
IN_THE_ROOM = {OWNER, TOKEN_HEADER, ASSIGNED_VOLUNTEER, STAFF, STAFF_API_TOKEN}


@dataclass
class World:
    alice: Visitor  # her request is the one under test
    bob: Visitor
    users: dict[str, Any]
    api_token: str
    clients: dict[str, Client] = field(default_factory=dict)

    def help_request(self) -> HelpRequest:
        return self.alice.help_request()

    def assign_to_vera(self) -> None:
        services.help_request_claim(help_request=self.help_request(), user=self.users["vera"])

    def client(self, actor: str) -> Client:
        if actor not in self.clients:
            self.clients[actor] = self._make_client(actor)
        return self.clients[actor]

    def _make_client(self, actor: str) -> Client:
        logins = {ASSIGNED_VOLUNTEER: "vera", OTHER_VOLUNTEER: "victor", DONOR: "dana", STAFF: "sam"}
        if actor in logins:
            client = Client()
            client.force_login(self.users[logins[actor]])
            return client
        return {
            OWNER: lambda: self.alice.client,
            OTHER_VISITOR: lambda: self.bob.client,
            TOKEN_HEADER: lambda: Client(HTTP_X_HELP_REQUEST_TOKEN=self.alice.token),
            WRONG_TOKEN: lambda: Client(HTTP_X_HELP_REQUEST_TOKEN=self.bob.token),
            STAFF_API_TOKEN: lambda: Client(HTTP_AUTHORIZATION=f"Token {self.api_token}"),
            BAD_API_TOKEN: lambda: Client(HTTP_AUTHORIZATION="Token " + "0" * 40),
        }.get(actor, Client)()

    def call(self, actor: str, method: str, path: str, body: Any = None) -> Any:
        if actor == TOKEN_QUERY:
            path += ("&" if "?" in path else "?") + f"token={self.alice.token}"
        client = self.client(actor)
        if method == "get":
            return client.get(path)
        return client.post(path, data=body, content_type="application/json")


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Every test makes several users; the cheapest hasher keeps the matrix quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: None, make_user: Callable[..., Any]) -> World:
    users = {
        "vera": make_user("vera", roles=(Role.VOLUNTEER,)),
        "victor": make_user("victor", roles=(Role.VOLUNTEER,)),
        "dana": make_user("dana", roles=(Role.DONOR,)),
        "sam": make_user("sam", roles=(Role.STAFF,), first_name="Sam"),
        "tess": make_user("tess", roles=(Role.STAFF,), first_name="Tess"),
    }
    token = Token.objects.create(user=users["tess"])
    return World(
        alice=open_help_request(name="Alice", category="food"),
        bob=open_help_request(name="Bob"),
        users=users,
        api_token=token.key,
    )


# -- who may call what -----------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_reading_the_request_follows_the_room_rule(world: World, actor: str) -> None:
    world.assign_to_vera()
    response = world.call(actor, "get", url(world.alice.public_id))
    if actor not in IN_THE_ROOM:
        assert response.status_code == 403, response.content
        assert set(response.json()) >= {"detail"}
        return
    assert response.status_code == 200, response.content
    data = response.json()
    created_at = world.help_request().created_at.isoformat()
    assert data == {
        "public_id": world.alice.public_id,
        "url": f"/help/{world.alice.public_id}/",
        "status": "assigned",
        "queue_position": None,
        "assigned_to": {"kind": "volunteer", "name": "vera"},
        "name": "Alice",
        "category": "food",
        "description": "I need food for tonight.",
        "created_at": created_at,
    }


@pytest.mark.parametrize("actor", ACTORS)
def test_only_the_rooms_helpers_get_its_canned_replies(world: World, actor: str) -> None:
    CannedReply.objects.create(title="Hello", text="Hi {visitor}, I am {helper}.")
    world.assign_to_vera()
    response = world.call(actor, "get", url(world.alice.public_id, "canned-replies/"))
    if actor not in IN_THE_ROOM - {OWNER, TOKEN_HEADER}:
        assert response.status_code in (401, 403), response.content
        assert "Hi Alice" not in response.content.decode()
        return
    assert response.status_code == 200, response.content
    helper = {ASSIGNED_VOLUNTEER: "vera", STAFF: "Sam", STAFF_API_TOKEN: "Tess"}[actor]
    [reply] = response.json()
    assert reply["text"] == f"Hi Alice, I am {helper}."


@pytest.mark.parametrize("actor", ACTORS)
def test_listing_messages_follows_the_room_rule(world: World, actor: str) -> None:
    world.assign_to_vera()
    response = world.call(actor, "get", url(world.alice.public_id, "messages/"))
    if actor not in IN_THE_ROOM:
        assert response.status_code == 403, response.content
        assert "messages" not in response.json()
        return
    assert response.status_code == 200, response.content
    [system] = response.json()["messages"]
    assert system["author"]["kind"] == "system" and "vera" in system["body"]


@pytest.mark.parametrize("actor", ACTORS)
def test_posting_a_message_follows_the_room_rule(world: World, actor: str) -> None:
    world.assign_to_vera()
    response = world.call(actor, "post", url(world.alice.public_id, "messages/"), {"body": "Hi", "client_id": "c-1"})
    messages = Message.objects.filter(client_id="c-1")
    if actor not in IN_THE_ROOM:
        assert response.status_code == 403, response.content
        assert not messages.exists()
        return
    assert response.status_code == 201, response.content
    [message] = messages
    assert message.help_request.public_id == uuid.UUID(world.alice.public_id)
    expected_kind = {ASSIGNED_VOLUNTEER: "volunteer", STAFF: "staff", STAFF_API_TOKEN: "staff"}.get(actor, "visitor")
    assert response.json()["author"]["kind"] == message.author_kind == expected_kind


@pytest.mark.parametrize("actor", ACTORS)
def test_marking_read_follows_the_room_rule(world: World, actor: str) -> None:
    world.assign_to_vera()
    message = post_as_visitor(world.alice, "hello")
    response = world.call(actor, "post", url(world.alice.public_id, "read/"), {"up_to": message.pk})
    if actor not in IN_THE_ROOM:
        assert response.status_code == 403, response.content
        assert not ReadCursor.objects.exists()
        return
    assert response.status_code == 200, response.content
    assert response.json() == {"up_to": message.pk, "moved": True}
    assert ReadCursor.objects.get().up_to == message.pk


CLAIMERS = {ASSIGNED_VOLUNTEER: "vera", OTHER_VOLUNTEER: "victor", STAFF: "sam", STAFF_API_TOKEN: "tess"}


@pytest.mark.parametrize("actor", ACTORS)
def test_volunteers_and_staff_may_claim_a_waiting_request(world: World, actor: str) -> None:
    response = world.call(actor, "post", url(world.alice.public_id, "claim/"))
    help_request = world.help_request()
    if actor not in CLAIMERS:
        assert response.status_code == 403, response.content
        assert help_request.status == Status.WAITING
        return
    assert response.status_code == 200, response.content
    assert help_request.assigned_to == world.users[CLAIMERS[actor]]
    assert response.json()["status"] == "assigned"
    assert response.json()["assigned_to"]["name"] in {"vera", "victor", "Sam", "Tess"}


@pytest.mark.parametrize("actor", ACTORS)
def test_only_staff_may_assign(world: World, actor: str) -> None:
    response = world.call(actor, "post", url(world.alice.public_id, "assign/"), {"user": "victor"})
    help_request = world.help_request()
    if actor not in {STAFF, STAFF_API_TOKEN}:
        assert response.status_code == 403, response.content
        assert help_request.assigned_to is None
        return
    assert response.status_code == 200, response.content
    assert help_request.assigned_to == world.users["victor"]
    assert response.json()["assigned_to"] == {"kind": "volunteer", "name": "victor"}


@pytest.mark.parametrize("actor", ACTORS)
def test_only_the_assignee_and_staff_may_resolve(world: World, actor: str) -> None:
    world.assign_to_vera()
    response = world.call(actor, "post", url(world.alice.public_id, "resolve/"))
    if actor not in {ASSIGNED_VOLUNTEER, STAFF, STAFF_API_TOKEN}:
        assert response.status_code == 403, response.content
        assert world.help_request().status == Status.ASSIGNED
        return
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved" == world.help_request().status


@pytest.mark.parametrize("actor", ACTORS)
def test_everyone_in_the_room_may_close(world: World, actor: str) -> None:
    world.assign_to_vera()
    response = world.call(actor, "post", url(world.alice.public_id, "close/"))
    if actor not in IN_THE_ROOM:
        assert response.status_code == 403, response.content
        assert world.help_request().status == Status.ASSIGNED
        return
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "closed" == world.help_request().status


def test_a_visitor_refused_by_the_service_gets_its_code(world: World) -> None:
    world.assign_to_vera()
    response = world.call(OWNER, "post", url(world.alice.public_id, "resolve/"))
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "detail": "Only the assignee or staff can resolve this request."}


def test_a_volunteer_no_longer_assigned_is_shown_out(world: World) -> None:
    world.assign_to_vera()
    assert world.call(ASSIGNED_VOLUNTEER, "get", url(world.alice.public_id)).status_code == 200
    services.help_request_assign(
        help_request=world.help_request(), assignee=world.users["victor"], by=world.users["sam"]
    )
    body = {"body": "still here?", "client_id": "v-1"}
    assert world.call(ASSIGNED_VOLUNTEER, "post", url(world.alice.public_id, "messages/"), body).status_code == 403
    assert world.call(OTHER_VOLUNTEER, "get", url(world.alice.public_id)).status_code == 200


def test_a_request_token_opens_only_its_own_request(world: World) -> None:
    assert world.call(TOKEN_HEADER, "get", url(world.bob.public_id)).status_code == 403
    mangled = world.alice.token[:-1] + ("A" if world.alice.token[-1] != "A" else "B")
    for token in (mangled, "", "x" * 500):
        assert Client(HTTP_X_HELP_REQUEST_TOKEN=token).get(url(world.alice.public_id)).status_code == 403
        assert Client().get(url(world.alice.public_id) + f"?token={token}").status_code == 403


def test_an_inactive_staff_token_opens_nothing(world: World) -> None:
    tess = world.users["tess"]
    tess.is_active = False
    tess.save()
    assert world.call(STAFF_API_TOKEN, "get", url(world.alice.public_id)).status_code == 403


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("get", "messages/", None),
        ("post", "messages/", {"body": "x", "client_id": "c"}),
        ("post", "read/", {"up_to": 1}),
        ("post", "claim/", None),
        ("post", "assign/", {"user": "vera"}),
        ("post", "resolve/", None),
        ("post", "close/", None),
    ],
)
@pytest.mark.parametrize("public_id", ["not-a-uuid", "12", str(uuid.uuid4()), "5b0c" * 20])
def test_unknown_and_malformed_ids_are_404(world: World, method: str, suffix: str, body: Any, public_id: str) -> None:
    for actor in (STAFF, STAFF_API_TOKEN):
        response = world.call(actor, method, url(public_id, suffix), body)
        assert response.status_code == 404, response.content
        assert response.json() == {"detail": "No such help request."}


# -- CSRF and content types ------------------------------------------------------------------------


@pytest.fixture
def strict_visitor(db: None) -> tuple[Client, str]:
    """A visitor whose browser client checks CSRF as a real browser request would be checked."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(API, data={"name": "Alice", "description": "x"}, content_type="application/json")
    assert response.status_code == 201
    public_id = response.json()["public_id"]
    assert client.get(f"/help/{public_id}/").status_code == 200  # the page sets the CSRF cookie
    return client, public_id


def test_a_visitor_session_alone_must_send_the_csrf_token(strict_visitor: tuple[Client, str]) -> None:
    client, public_id = strict_visitor
    body = {"body": "Hi", "client_id": "c-1"}
    refused = client.post(url(public_id, "messages/"), data=body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.post(url(public_id, "close/"), content_type="application/json").status_code == 403
    assert HelpRequest.objects.get().status == Status.WAITING and not Message.objects.exists()
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    accepted = client.post(
        url(public_id, "messages/"), data=body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert accepted.status_code == 201
    # Reading needs no CSRF token.
    assert client.get(url(public_id, "messages/")).status_code == 200


def test_a_visitor_with_the_token_needs_no_csrf_token(strict_visitor: tuple[Client, str]) -> None:
    _, public_id = strict_visitor
    # A new token, as a client that rotated it would hold (the creation answer's was not kept).
    token = services.help_request_token_rotate(help_request=HelpRequest.objects.get(public_id=public_id))
    client = Client(enforce_csrf_checks=True, HTTP_X_HELP_REQUEST_TOKEN=token)
    body = {"body": "Hi", "client_id": "c-1"}
    assert client.post(url(public_id, "messages/"), data=body, content_type="application/json").status_code == 201


def test_logged_in_people_must_send_the_csrf_token_and_api_tokens_need_none(world: World) -> None:
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(world.users["sam"])
    body = {"body": "Hello", "client_id": "s-1"}
    refused = staff.post(url(world.alice.public_id, "messages/"), data=body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    api = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {world.api_token}")
    assert (
        api.post(url(world.alice.public_id, "messages/"), data=body, content_type="application/json").status_code == 201
    )


@pytest.mark.parametrize("suffix", ["messages/", "read/", "assign/"])
def test_only_json_bodies_are_accepted(world: World, suffix: str) -> None:
    client = world.client(STAFF)
    form = client.post(url(world.alice.public_id, suffix), data={"body": "x", "client_id": "c", "up_to": 1})
    assert form.status_code == 415
    text = client.post(url(world.alice.public_id, suffix), data='{"body": "x"}', content_type="text/plain")
    assert text.status_code == 415
    assert not Message.objects.filter(client_id="c").exists()


# -- messages: bad input, idempotency, pages -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_id": "c-1"}, "body"),
        ({"body": "", "client_id": "c-1"}, "body"),
        ({"body": "   ", "client_id": "c-1"}, "body"),
        ({"body": "x" * 4001, "client_id": "c-1"}, "body"),
        ({"body": 5, "client_id": "c-1"}, "body"),
        ({"body": ["Hi"], "client_id": "c-1"}, "body"),
        ({"body": None, "client_id": "c-1"}, "body"),
        ({"body": {"text": "Hi"}, "client_id": "c-1"}, "body"),
        ({"body": "Hi\u0000", "client_id": "c-1"}, "body"),
        ({"body": "lone \ud800", "client_id": "c-1"}, "body"),
        ({"body": "Hi"}, "client_id"),
        ({"body": "Hi", "client_id": ""}, "client_id"),
        ({"body": "Hi", "client_id": 7}, "client_id"),
        ({"body": "Hi", "client_id": None}, "client_id"),
        ({"body": "Hi", "client_id": "has space"}, "client_id"),
        ({"body": "Hi", "client_id": "é"}, "client_id"),
        ({"body": "Hi", "client_id": "c" * 65}, "client_id"),
    ],
)
def test_bad_messages_are_400_with_field_errors(world: World, body: Any, field: str) -> None:
    response = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), body)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors and all(isinstance(text, str) for text in errors[field])
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "raw", ["{not json", '{"body": "Hi", "client_id": "c-1"', "[1, 2]", '"Hi"', "null", "1e999999"]
)
def test_bodies_that_are_not_a_json_object_are_400(world: World, raw: str) -> None:
    response = world.client(OWNER).post(
        url(world.alice.public_id, "messages/"), data=raw, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert isinstance(response.json(), dict)
    assert not Message.objects.exists()


def test_body_is_trimmed_and_may_be_exactly_4000_characters(world: World) -> None:
    response = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), {"body": " a ", "client_id": "c-1"})
    assert response.json()["body"] == "a"
    response = world.call(
        OWNER, "post", url(world.alice.public_id, "messages/"), {"body": "x" * 4000, "client_id": "2"}
    )
    assert response.status_code == 201


def test_a_posted_message_is_the_socket_message_frame(world: World) -> None:
    response = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), {"body": "Hi", "client_id": "c-1"})
    assert response.status_code == 201
    data = check_frame(response.json())
    message = Message.objects.get()
    assert data == json.loads(json.dumps(message_frame(message)))
    assert data["author"] == {"kind": "visitor", "name": "Alice"} and data["client_id"] == "c-1"


def test_posting_the_same_client_id_twice_returns_the_original(world: World) -> None:
    first = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), {"body": "first", "client_id": "same"})
    again = world.call(
        TOKEN_HEADER, "post", url(world.alice.public_id, "messages/"), {"body": "other", "client_id": "same"}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json() and again.json()["body"] == "first"
    assert Message.objects.count() == 1


def test_a_client_id_is_per_request(world: World) -> None:
    body = {"body": "Hi", "client_id": "same"}
    assert world.call(OWNER, "post", url(world.alice.public_id, "messages/"), body).status_code == 201
    assert world.call(OTHER_VISITOR, "post", url(world.bob.public_id, "messages/"), body).status_code == 201
    assert Message.objects.count() == 2


@pytest.mark.parametrize("final", ["resolve/", "close/"])
def test_a_resolved_or_closed_room_is_read_only_but_resends_still_answer(world: World, final: str) -> None:
    world.assign_to_vera()
    sent = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), {"body": "Hi", "client_id": "c-1"})
    assert world.call(STAFF, "post", url(world.alice.public_id, final)).status_code == 200
    refused = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), {"body": "More", "client_id": "c-2"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "read_only" and "read-only" in refused.json()["detail"]
    resent = world.call(OWNER, "post", url(world.alice.public_id, "messages/"), {"body": "Hi", "client_id": "c-1"})
    assert resent.status_code == 200 and resent.json() == sent.json()
    assert not Message.objects.filter(client_id="c-2").exists()


def test_changes_that_the_status_forbids_are_409(world: World) -> None:
    world.assign_to_vera()
    claimed = world.call(OTHER_VOLUNTEER, "post", url(world.alice.public_id, "claim/"))
    assert claimed.status_code == 409 and claimed.json()["code"] == "conflict"
    assert world.call(STAFF, "post", url(world.alice.public_id, "resolve/")).status_code == 200
    again = world.call(STAFF, "post", url(world.alice.public_id, "resolve/"))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assigned = world.call(STAFF, "post", url(world.alice.public_id, "assign/"), {"user": "victor"})
    assert assigned.status_code == 409
    assert world.help_request().assigned_to == world.users["vera"]


def test_messages_come_a_page_at_a_time_oldest_first(world: World) -> None:
    sent = [post_as_visitor(world.alice, f"m{i}").pk for i in range(5)]
    post_as_visitor(world.bob, "not alice's")
    page = world.call(TOKEN_HEADER, "get", url(world.alice.public_id, "messages/") + "?limit=2").json()
    seen = [m["id"] for m in page["messages"]]
    assert seen == sent[:2] and page["has_more"] is True
    while page["next"]:
        assert "token" not in page["next"]  # the proof stays in the header
        page = world.client(TOKEN_HEADER).get(page["next"]).json()
        seen += [m["id"] for m in page["messages"]]
    assert seen == sent and page["has_more"] is False
    for message in page["messages"]:
        check_frame(message)
    after = world.call(OWNER, "get", url(world.alice.public_id, "messages/") + f"?after={sent[3]}").json()
    assert [m["id"] for m in after["messages"]] == [sent[4]]
    assert after == {"messages": after["messages"], "has_more": False, "next": None}


def test_a_page_holds_at_most_one_hundred_messages(world: World) -> None:
    help_request = world.help_request()
    Message.objects.bulk_create(
        Message(help_request=help_request, author_kind="visitor", author_name="Alice", body=str(i)) for i in range(101)
    )
    page = world.call(OWNER, "get", url(world.alice.public_id, "messages/")).json()
    assert len(page["messages"]) == 100 and page["has_more"] is True
    assert page["next"].endswith(f"after={page['messages'][-1]['id']}")


def test_listing_messages_costs_a_fixed_number_of_queries(
    world: World, django_assert_num_queries: Callable[..., Any]
) -> None:
    for i in range(20):
        post_as_visitor(world.alice, f"m{i}")
    client = world.client(TOKEN_HEADER)
    # The request (with its assignee), then the page: no query per message.
    with django_assert_num_queries(2):
        response = client.get(url(world.alice.public_id, "messages/"))
    assert len(response.json()["messages"]) == 20


@pytest.mark.parametrize(
    ("query", "field"),
    [("after=abc", "after"), ("after=-1", "after"), ("after=" + "9" * 30, "after"), ("limit=0", "limit"),
     ("limit=101", "limit"), ("limit=x", "limit")],
)  # fmt: skip
def test_bad_page_parameters_are_400_with_field_errors(world: World, query: str, field: str) -> None:
    response = world.call(OWNER, "get", url(world.alice.public_id, "messages/") + f"?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()


# -- read ------------------------------------------------------------------------------------------


def test_read_moves_the_cursor_forward_only(world: World) -> None:
    first, second = post_as_visitor(world.alice, "a"), post_as_visitor(world.alice, "b")
    read = world.call(STAFF, "post", url(world.alice.public_id, "read/"), {"up_to": second.pk})
    assert read.json() == {"up_to": second.pk, "moved": True}
    back = world.call(STAFF, "post", url(world.alice.public_id, "read/"), {"up_to": first.pk})
    assert back.status_code == 200 and back.json() == {"up_to": first.pk, "moved": False}
    cursor = ReadCursor.objects.get()
    assert (cursor.participant, cursor.up_to) == (f"user:{world.users['sam'].pk}", second.pk)


@pytest.mark.parametrize("body", [{}, {"up_to": "5"}, {"up_to": 0}, {"up_to": -1}, {"up_to": 1.5}, {"up_to": True},
                                  {"up_to": None}, {"up_to": 2**63}])  # fmt: skip
def test_bad_read_bodies_are_400_with_field_errors(world: World, body: dict[str, Any]) -> None:
    response = world.call(OWNER, "post", url(world.alice.public_id, "read/"), body)
    assert response.status_code == 400, response.content
    assert "up_to" in response.json()
    assert not ReadCursor.objects.exists()


def test_reading_an_id_that_is_not_a_message_of_this_request_is_400(world: World) -> None:
    bobs = post_as_visitor(world.bob, "bob's")
    for up_to in (bobs.pk, bobs.pk + 1000):
        response = world.call(OWNER, "post", url(world.alice.public_id, "read/"), {"up_to": up_to})
        assert response.status_code == 400
        assert response.json() == {"up_to": ["No such message in this help request."]}
    assert not ReadCursor.objects.exists()


# -- assign ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user": "nobody"}, "No active user with this username."),
        ({"user": "dana"}, "Help requests can only be assigned to volunteers and staff."),
        ({"user": "gone"}, "No active user with this username."),
        ({"user": 5}, "Must be a string."),
        ({"user": ""}, "This field may not be blank."),
        ({"user": None}, "This field may not be null."),
        ({}, "This field is required."),
    ],
)
def test_assigning_to_someone_who_cannot_help_is_400(
    world: World, make_user: Callable[..., Any], body: dict[str, Any], message: str
) -> None:
    make_user("gone", roles=(Role.STAFF,), is_active=False)
    response = world.call(STAFF, "post", url(world.alice.public_id, "assign/"), body)
    assert response.status_code == 400, response.content
    assert response.json() == {"user": [message]}
    assert world.help_request().assigned_to is None


def test_staff_may_assign_to_staff_and_reassign(world: World) -> None:
    assert world.call(STAFF, "post", url(world.alice.public_id, "assign/"), {"user": "tess"}).status_code == 200
    response = world.call(STAFF_API_TOKEN, "post", url(world.alice.public_id, "assign/"), {"user": "vera"})
    assert response.json()["assigned_to"] == {"kind": "volunteer", "name": "vera"}
    assert world.help_request().assigned_to == world.users["vera"]


# -- the same effects as the socket ----------------------------------------------------------------


@database_sync_to_async
def http(client: Client, method: str, path: str, body: Any = None) -> Any:
    if method == "get":
        return client.get(path)
    return client.post(path, data=body, content_type="application/json")


@database_sync_to_async
def logged_in(user: Any, **extra: Any) -> Client:
    client = Client(**extra)
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
async def test_a_posted_message_reaches_the_room_exactly_like_a_socket_message(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    staff_user = await make(make_user, "sam", roles=(Role.STAFF,))
    staff = await sockets(visitor.path, user=staff_user)
    await joined(staff)
    response = await http(visitor.client, "post", url(visitor.public_id, "messages/"), {"body": "Hi", "client_id": "h"})
    assert response.status_code == 201
    assert await next_frame(staff) == response.json()
    # The same message typed on a socket looks the same, field for field.
    mine = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(mine)
    await next_frame(staff)  # presence: the visitor came
    await mine.send_json_to({"type": "message", "body": "Hi again", "client_id": "s"})
    over_socket = await next_frame(staff)
    assert set(over_socket) == set(response.json())
    assert over_socket["author"] == response.json()["author"] == {"kind": "visitor", "name": "Alice"}
    # A re-post of a known client_id answers the caller only: the room hears nothing.
    again = await http(visitor.client, "post", url(visitor.public_id, "messages/"), {"body": "Hi", "client_id": "h"})
    assert again.status_code == 200 and again.json() == response.json()
    assert await staff.receive_nothing(timeout=0.3)


@pytest.mark.django_db(transaction=True)
async def test_claim_over_http_notifies_the_assignee_and_tells_the_visitors_socket(
    make_user: Any, sockets: Any
) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    response = await http(await logged_in(vera), "post", url(visitor.public_id, "claim/"))
    assert response.status_code == 200
    frames = await receive_until(socket, "status")
    assert [frame["type"] for frame in frames] == ["message", "status"]
    assert frames[0]["author"]["kind"] == "system" and "vera" in frames[0]["body"]
    assert frames[1] == {
        "type": "status",
        "status": "assigned",
        "queue_position": None,
        "assigned_to": {"kind": "volunteer", "name": "vera"},
    }
    notifications = await database_sync_to_async(
        lambda: list(Notification.objects.filter(recipients__user=vera, kind="help_request.assigned"))
    )()
    assert [n.data["public_id"] for n in notifications] == [visitor.public_id]


@pytest.mark.django_db(transaction=True)
async def test_reassigning_over_http_shows_the_previous_volunteer_out(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    vera = await make(make_user, "vera", roles=(Role.VOLUNTEER,))
    await make(make_user, "victor", roles=(Role.VOLUNTEER,))
    tess = await make(make_user, "tess", roles=(Role.STAFF,))
    token = await database_sync_to_async(lambda: Token.objects.create(user=tess).key)()
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert (await http(api, "post", url(visitor.public_id, "assign/"), {"user": "vera"})).status_code == 200
    vera_socket = await sockets(visitor.path, user=vera)
    await joined(vera_socket)
    assert (await http(api, "post", url(visitor.public_id, "assign/"), {"user": "victor"})).status_code == 200
    frames = await receive_until(vera_socket, "status")
    assert frames[-1]["assigned_to"] == {"kind": "volunteer", "name": "victor"}
    assert await vera_socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


@pytest.mark.django_db(transaction=True)
async def test_read_over_http_reaches_the_others(make_user: Any, sockets: Any) -> None:
    visitor = await avisit(name="Alice")
    message = await database_sync_to_async(post_as_visitor)(visitor, "hello")
    staff = await sockets(visitor.path, user=await make(make_user, roles=(Role.STAFF,)))
    await joined(staff)
    response = await http(visitor.client, "post", url(visitor.public_id, "read/"), {"up_to": message.pk})
    assert response.status_code == 200
    assert await next_frame(staff) == {
        "type": "read",
        "author": {"kind": "visitor", "name": "Alice"},
        "up_to": message.pk,
    }


@pytest.mark.django_db(transaction=True)
async def test_resolve_over_http_makes_the_socket_read_only(make_user: Any, sockets: Any) -> None:
    visitor = await avisit()
    staff_user = await make(make_user, roles=(Role.STAFF,))
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    assert (await http(await logged_in(staff_user), "post", url(visitor.public_id, "resolve/"))).status_code == 200
    assert (await receive_until(socket, "status"))[-1]["status"] == "resolved"
    await socket.send_json_to({"type": "message", "body": "More", "client_id": "late"})
    assert (await next_frame(socket))["code"] == "read_only"


# -- the schema ------------------------------------------------------------------------------------


def test_the_openapi_schema_describes_every_endpoint(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    operations = {
        (path, method)
        for path, item in schema["paths"].items()
        if path.startswith("/api/help-requests/")
        for method in item
    }
    base = "/api/help-requests/{public_id}/"
    assert operations == {
        ("/api/help-requests/", "post"),
        (base, "get"),
        (base + "messages/", "get"),
        (base + "messages/", "post"),
        (base + "messages/{message_id}/redact/", "post"),
        (base + "read/", "post"),
        (base + "canned-replies/", "get"),
        (base + "claim/", "post"),
        (base + "assign/", "post"),
        (base + "resolve/", "post"),
        (base + "close/", "post"),
        (base + "token/", "post"),
        (base + "ticket/", "post"),
        (base + "erase/", "post"),
        (base + "transcript/", "get"),
        (base + "transcript-email/", "post"),
        (base + "feedback/", "post"),
        (base + "notes/", "get"),
        (base + "notes/", "post"),
        (base + "transfer/", "post"),
        (base + "support/", "post"),
        (base + "join/", "post"),
        (base + "urgent/", "post"),
    }
    assert "text/plain" in schema["paths"][base + "transcript/"]["get"]["responses"]["200"]["content"]
    assert {"204", "403", "404", "409"} <= set(schema["paths"][base + "erase/"]["post"]["responses"])
    transfer = schema["paths"][base + "transfer/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(transfer["responses"])
    assert {"201", "400", "403", "404", "429"} <= set(schema["paths"][base + "notes/"]["post"]["responses"])
    post = schema["paths"][base + "messages/"]["post"]
    assert {"200", "201", "400", "403", "404", "409"} <= set(post["responses"])
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatMessageIn"
    }
    assert set(schema["components"]["schemas"]["ChatMessageOut"]["properties"]) == {
        "type", "id", "client_id", "author", "body", "created_at", "redacted"
    }  # fmt: skip
    redact = schema["paths"][base + "messages/{message_id}/redact/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(redact["responses"])
    assert {} not in redact["security"]
    listing = schema["paths"][base + "messages/"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "public_id",
        "X-Help-Request-Token",
        "after",
        "limit",
    }
    # Visitors have no account: their operations are open to anonymous callers, the others are not.
    assert {} in schema["paths"][base]["get"]["security"]
    assert {} not in schema["paths"][base + "claim/"]["post"]["security"]
    assert {"tokenAuth": []} in schema["paths"][base + "assign/"]["post"]["security"]


# -- limits: the room's message rate, and whose write count a post is ---------------------------


def ipv4() -> str:
    """A client address no other test counted against (IPv4: never grouped with its neighbours)."""
    import secrets

    return "10." + ".".join(str(secrets.randbelow(256)) for _ in range(3))


@pytest.fixture
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fixed-window count of ``realtime.limits`` falls in one window (no minute boundary mid-test)."""
    import time
    from types import SimpleNamespace

    from realtime import limits

    frozen = time.time()
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: frozen, monotonic=time.monotonic))


def post_with(client: Client, public_id: str, client_id: str, **extra: Any) -> Any:
    body = {"body": f"hello {client_id}", "client_id": client_id}
    return client.post(url(public_id, "messages/"), data=body, content_type="application/json", **extra)


@pytest.mark.django_db
def test_a_rooms_message_rate_holds_for_every_sender_together(settings: Any, make_user: Any, one_window: None) -> None:
    settings.CHAT_ROOM_MESSAGES_PER_MINUTE = 2
    visitor = open_help_request()
    staff = Client()
    staff.force_login(make_user("sam", roles=(Role.STAFF,)))
    assert post_with(visitor.client, visitor.public_id, "v-1").status_code == 201
    assert post_with(staff, visitor.public_id, "s-1").status_code == 201
    refused = post_with(visitor.client, visitor.public_id, "v-2")
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert list(Message.objects.values_list("client_id", flat=True)) == ["v-1", "s-1"]  # nothing persisted
    # A re-send is not a new message: it is answered, and not counted.
    assert post_with(visitor.client, visitor.public_id, "v-1").status_code == 200
    # Another room has its own count.
    other = open_help_request()
    assert post_with(other.client, other.public_id, "o-1").status_code == 201


@pytest.mark.django_db(transaction=True)
async def test_a_rooms_message_rate_is_an_error_frame_on_the_socket(
    settings: Any, sockets: Any, one_window: None
) -> None:
    settings.CHAT_ROOM_MESSAGES_PER_MINUTE = 1
    visitor = await avisit()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    await joined(socket)
    await socket.send_json_to({"type": "message", "body": "one", "client_id": "c-1"})
    assert (await receive_until(socket, "message"))[-1]["body"] == "one"
    await socket.send_json_to({"type": "message", "body": "two", "client_id": "c-2"})
    error = await next_frame(socket)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    bodies = await database_sync_to_async(lambda: list(Message.objects.values_list("body", flat=True)))()
    assert bodies == ["one"]


@pytest.mark.django_db
def test_made_up_tokens_buy_no_write_count_of_their_own(settings: Any) -> None:
    """Each invalid token used to be a person of its own for the write limit; now they are the address."""
    visitor = open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 2
    address = ipv4()
    statuses = [
        post_with(
            Client(), visitor.public_id, f"x-{n}", HTTP_X_HELP_REQUEST_TOKEN=f"made-up-{n}", REMOTE_ADDR=address
        ).status_code
        for n in range(3)
    ]
    assert statuses == [403, 403, 429]


@pytest.mark.django_db
def test_the_visitors_writes_count_once_whether_by_session_or_by_token(settings: Any) -> None:
    visitor = open_help_request()
    settings.REALTIME_HTTP_WRITES_PER_MINUTE = 2
    assert post_with(visitor.client, visitor.public_id, "a", REMOTE_ADDR=ipv4()).status_code == 201
    by_token = Client(HTTP_X_HELP_REQUEST_TOKEN=visitor.token)
    assert post_with(by_token, visitor.public_id, "b", REMOTE_ADDR=ipv4()).status_code == 201
    assert post_with(by_token, visitor.public_id, "c", REMOTE_ADDR=ipv4()).status_code == 429
