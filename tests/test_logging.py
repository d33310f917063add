"""Logs carry who, role and close code for connection events, never bodies, tokens or session ids."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async

import charity.asgi  # noqa: F401  (its django.setup() configures logging: do it before capturing)
from tests.chat.conftest import open_help_request
from tests.conftest import connect_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_connection_events_are_logged_without_secrets(make_user: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    visitor = await database_sync_to_async(open_help_request)()
    staff = await database_sync_to_async(make_user)("boss", roles=("staff",))
    secret_body = "my-address-is-42-secret-street"
    visitor_socket, _, _ = await connect_socket(visitor.path, cookie=visitor.cookie)
    staff_socket, _, _ = await connect_socket(visitor.path, user=staff)
    for socket in (visitor_socket, staff_socket):
        assert json.loads(await socket.receive_from())["type"] == "history"
    await visitor_socket.send_json_to({"type": "message", "body": secret_body, "client_id": "c1"})
    while json.loads(await staff_socket.receive_from())["type"] != "message":
        pass
    await visitor_socket.disconnect(code=1001)
    await staff_socket.disconnect()
    notes, _, _ = await connect_socket("/ws/notifications/", user=staff)
    assert json.loads(await notes.receive_from())["type"] == "synced"
    await notes.disconnect()

    text = caplog.text
    for secret in (secret_body, visitor.token, visitor.cookie.split("=", 1)[1]):
        assert secret not in text
    assert f"connection open endpoint=chat user={staff.pk} role=staff" in text
    assert "connection open endpoint=chat user=None role=visitor" in text
    assert "socket closed endpoint=chat user=None role=visitor code=1001" in text
    assert f"socket closed endpoint=notifications user={staff.pk} role=staff code=1000" in text


@pytest.mark.parametrize(("protocol", "action", "status"), [("http", "complete", 404), ("websocket", "rejected", 0)])
def test_the_development_server_logs_no_client_address(
    protocol: str, action: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    from daphne.management.commands.runserver import Command

    caplog.set_level(logging.DEBUG, logger="django.channels.server")
    details = {"method": "GET", "path": "/help/x/", "status": status, "time_taken": 0.01, "client": "203.0.113.7:53412"}
    Command().log_action(protocol, action, details)
    assert "/help/x/" in caplog.text
    assert "203.0.113.7" not in caplog.text
