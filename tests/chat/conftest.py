"""Fixtures of the chat tests: visitors who opened a help request, helpers, frame helpers.

A visitor is a Django test ``Client`` that posted ``/api/help-requests/``: its session cookie owns
the request, exactly as a browser's would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from charity.roles import Role
from chat import services
from chat.events import AUTHOR_FIELDS, DESK_ITEM_FIELDS, FRAME_FIELDS, HELP_REQUEST_FIELDS, QUEUE_ITEM_FIELDS
from chat.models import HelpRequest
from tests.conftest import ORIGIN, connect_socket, socket_opener


@dataclass
class Visitor:
    client: Client
    public_id: str
    token: str
    data: dict[str, Any]

    @property
    def cookie(self) -> str:
        return f"{settings.SESSION_COOKIE_NAME}={self.client.cookies[settings.SESSION_COOKIE_NAME].value}"

    @property
    def path(self) -> str:
        return room(self.public_id)

    def help_request(self) -> HelpRequest:
        return HelpRequest.objects.get(public_id=self.public_id)


def room(public_id: str, **query: Any) -> str:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/ws/help-requests/{public_id}/" + (f"?{suffix}" if suffix else "")


def open_help_request(**fields: Any) -> Visitor:
    client = Client()
    body = {"name": "Alice", "description": "I need food for tonight.", **fields}
    response = client.post("/api/help-requests/", data=body, content_type="application/json")
    assert response.status_code == 201, response.content
    data = response.json()
    return Visitor(client=client, public_id=data["public_id"], token=data["token"], data=data)


avisit = database_sync_to_async(open_help_request)


async def connect_room(path: str, *, token: str | None = None, **kwargs: Any) -> tuple[Any, bool, int | None]:
    """``tests.conftest.connect_socket``, with the visitor's token in the ``X-Help-Request-Token``
    header (the only place a socket takes it from) when ``token`` is given."""
    if token is None:
        return await connect_socket(path, **kwargs)
    from channels.testing import WebsocketCommunicator

    from charity.asgi import application

    headers = [(b"host", b"localhost"), (b"origin", ORIGIN), (b"x-help-request-token", token.encode())]
    if kwargs.get("cookie"):
        headers.append((b"cookie", kwargs["cookie"].encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@pytest.fixture
async def token_sockets() -> AsyncIterator[Callable[..., Any]]:
    """``await token_sockets(path, token)``: a room socket opened with the token header; closed at the end."""

    async def connect(path: str, token: str, **kwargs: Any) -> Any:
        return await connect_room(path, token=token, **kwargs)

    async for open_socket in socket_opener(connect):
        yield open_socket


@pytest.fixture
def visit(db: None) -> Callable[..., Visitor]:
    return open_help_request


@pytest.fixture
def helpers(make_user: Callable[..., Any]) -> Callable[..., Any]:
    """``volunteer, staff = helpers()``: one active volunteer and one staff member."""

    def make() -> tuple[Any, Any]:
        return make_user("vera", roles=(Role.VOLUNTEER,)), make_user("sam", roles=(Role.STAFF,))

    return make


def check_frame(frame: dict[str, Any]) -> dict[str, Any]:
    """Every server frame matches its schema in chat.events.FRAME_FIELDS, nested parts included."""
    assert frame["type"] in FRAME_FIELDS, frame
    assert set(frame) == FRAME_FIELDS[frame["type"]], frame
    authors = [frame.get("author"), frame.get("assigned_to")]
    if frame["type"] == "history":
        assert set(frame["help_request"]) == HELP_REQUEST_FIELDS
        authors.append(frame["help_request"]["assigned_to"])
        for message in frame["messages"]:
            check_frame(message)
        for read in frame["read"]:
            check_frame(read)
    if frame["type"] == "presence":
        authors.extend(frame["participants"])
    if frame["type"] == "queue":
        check_frame(frame["capacity"])
        for item in frame["help_requests"]:
            assert set(item) == QUEUE_ITEM_FIELDS
    if frame["type"] == "queue.item":
        assert set(frame["help_request"]) == QUEUE_ITEM_FIELDS
    if frame["type"] == "desk":
        for item in frame["help_requests"]:
            assert set(item) == DESK_ITEM_FIELDS
            assert all(isinstance(i, int) for i in item["unread_ids"])
    for author in authors:
        if author is not None:
            assert set(author) == AUTHOR_FIELDS and author["kind"] in {"visitor", "volunteer", "staff", "system"}
    if frame["type"] == "message":
        assert isinstance(frame["id"], int) and isinstance(frame["body"], str)
        assert frame["client_id"] is None or isinstance(frame["client_id"], str)
    return frame


async def next_frame(socket: Any, timeout: float = 3) -> dict[str, Any]:
    return check_frame(json.loads(await socket.receive_from(timeout=timeout)))


async def receive_until(socket: Any, frame_type: str, timeout: float = 3) -> list[dict[str, Any]]:
    """Frames up to and including the first of ``frame_type``."""
    frames = []
    while True:
        frame = await next_frame(socket, timeout)
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


async def joined(socket: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The frames every join starts with: ``history``, for a helper or staff ``notes``, then
    ``presence`` (the notes are checked by tests/chat/test_supervise.py)."""
    history = await next_frame(socket)
    assert history["type"] == "history", history
    presence = await next_frame(socket)
    if presence["type"] == "notes":
        presence = await next_frame(socket)
    assert presence["type"] == "presence", presence
    return history, presence


async def queue_joined(socket: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two frames a queue socket starts with: the ``queue`` snapshot, then the person's ``desk``."""
    queue = await next_frame(socket)
    assert queue["type"] == "queue", queue
    desk = await next_frame(socket)
    assert desk["type"] == "desk", desk
    return queue, desk


async def say(socket: Any, body: str, client_id: str) -> None:
    await socket.send_json_to({"type": "message", "body": body, "client_id": client_id})


@database_sync_to_async
def claim(visitor: Visitor, user: Any) -> HelpRequest:
    return services.help_request_claim(help_request=visitor.help_request(), user=user)


@database_sync_to_async
def make(make_user: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return make_user(*args, **kwargs)


def post_as_visitor(visitor: Visitor, body: str, client_id: str | None = None) -> Any:
    """A message from the visitor, through the same service the socket uses."""
    import uuid

    from chat.participants import visitor_participant

    help_request = visitor.help_request()
    message, _ = services.message_post(
        help_request_id=help_request.pk,
        participant=visitor_participant(help_request),
        body=body,
        client_id=client_id or uuid.uuid4().hex,
    )
    return message


apost_as_visitor = database_sync_to_async(post_as_visitor)


def post_before_history_read(monkeypatch: pytest.MonkeyPatch, visitor: Visitor, body: str = "raced") -> None:
    """Commit a message after a joining room member joined its group but before it reads history."""
    from chat.rooms import RoomMember

    original = RoomMember.read_history

    async def racing_read(self: Any, after: int | None) -> Any:
        await apost_as_visitor(visitor, body)
        return await original(self, after)

    monkeypatch.setattr(RoomMember, "read_history", racing_read)
