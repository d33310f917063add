"""Help requests in the admin: the conversation, a link to join live, and the assign action."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from chat.models import HelpRequest, Status
from notifications.models import Recipient
from tests.chat.conftest import open_help_request

pytestmark = pytest.mark.django_db(transaction=True)


def admin_client(make_user: Any) -> Client:
    client = Client()
    client.force_login(make_user("boss", roles=("staff",), is_superuser=True))
    return client


def test_change_page_shows_the_conversation_and_a_live_link(make_user: Any) -> None:
    visitor = open_help_request(name="<b>Dora</b>")
    help_request = visitor.help_request()
    content = admin_client(make_user).get(f"/admin/chat/helprequest/{help_request.pk}/change/").content.decode()
    assert f'href="/help/{help_request.public_id}/"' in content and "Join the conversation live" in content
    assert "<b>Dora</b>" not in content and "&lt;b&gt;Dora&lt;/b&gt;" in content


def test_assign_action_asks_for_a_volunteer_then_assigns_and_notifies(make_user: Any) -> None:
    client = admin_client(make_user)
    vera = make_user("vera", roles=("volunteer",))
    first, second = open_help_request(), open_help_request()
    ids = [first.help_request().pk, second.help_request().pk]
    form = client.post("/admin/chat/helprequest/", {"action": "assign_to_volunteer", "_selected_action": ids})
    assert form.status_code == 200 and "Assign to" in form.content.decode()
    done = client.post(
        "/admin/chat/helprequest/",
        {"action": "assign_to_volunteer", "_selected_action": ids, "apply": "1", "assignee": vera.pk},
    )
    assert done.status_code == 302
    assert set(HelpRequest.objects.values_list("status", "assigned_to")) == {(Status.ASSIGNED, vera.pk)}
    assert Recipient.objects.filter(user=vera, notification__kind="help_request.assigned").count() == 2


async def test_assign_action_updates_the_visitor_live(make_user: Any, sockets: Any) -> None:
    visitor = await database_sync_to_async(open_help_request)()
    socket = await sockets(visitor.path, cookie=visitor.cookie)
    assert json.loads(await socket.receive_from())["type"] == "history"

    def assign() -> None:
        client = admin_client(make_user)
        vera = make_user("vera", roles=("volunteer",))
        client.post(
            "/admin/chat/helprequest/",
            {
                "action": "assign_to_volunteer",
                "_selected_action": [visitor.help_request().pk],
                "apply": "1",
                "assignee": vera.pk,
            },
        )

    await database_sync_to_async(assign)()
    frames: list[dict[str, Any]] = []
    while not any(frame.get("type") == "status" for frame in frames):
        frames.append(json.loads(await socket.receive_from(timeout=3)))
    status = next(frame for frame in frames if frame["type"] == "status")
    assert status["status"] == "assigned" and status["assigned_to"]["name"] == "vera"


def test_no_credential_in_the_admin(make_user: Any) -> None:
    """Neither the visitor's session id nor their token, nor its hash, is shown to admin users."""
    visitor = open_help_request(name="Dora")
    help_request = visitor.help_request()
    secrets = [str(visitor.client.session.session_key or ""), visitor.token, help_request.visitor_token_hash]
    assert all(secrets)
    client = admin_client(make_user)
    pages = [
        client.get("/admin/chat/helprequest/").content.decode(),
        client.get(f"/admin/chat/helprequest/{help_request.pk}/change/").content.decode(),
    ]
    assert "Dora" in pages[0] and "Dora" in pages[1]
    for content in pages:
        for secret in secrets:
            assert secret not in content
        assert "Visitor session key" not in content and "Visitor token hash" not in content
