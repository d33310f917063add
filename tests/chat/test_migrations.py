"""``chat.0002``: the stored session ids are erased, and existing requests get an unknown secret."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)


def test_0002_erases_stored_session_ids_and_gives_every_request_an_unknown_secret() -> None:
    try:
        call_command("migrate", "chat", "0001", verbosity=0)
        with connection.cursor() as cursor:
            for name, key in (("Alice", "a" * 32), ("Bob", "")):
                cursor.execute(
                    "INSERT INTO chat_helprequest (public_id, name, contact, category, description, status,"
                    " visitor_session_key, created_at, updated_at)"
                    " VALUES (%s, %s, '', 'general', 'x', 'waiting', %s, %s, %s)",
                    [__import__("uuid").uuid4().hex, name, key, "2026-01-01 00:00:00", "2026-01-01 00:00:00"],
                )
        call_command("migrate", "chat", "0002", verbosity=0)
        with connection.cursor() as cursor:
            columns = {
                column.name for column in connection.introspection.get_table_description(cursor, "chat_helprequest")
            }
            cursor.execute("SELECT visitor_token_hash FROM chat_helprequest ORDER BY name")
            hashes = [row[0] for row in cursor.fetchall()]
        assert "visitor_session_key" not in columns
        assert len(hashes) == 2 and all(len(value) == 64 for value in hashes) and hashes[0] != hashes[1]
        # Going back restores the column, empty: the erased ids never come back.
        call_command("migrate", "chat", "0001", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT visitor_session_key FROM chat_helprequest")
            assert {row[0] for row in cursor.fetchall()} == {""}
    finally:
        call_command("migrate", "chat", verbosity=0)


def test_0002_ends_the_stored_sessions_that_log_someone_in(make_user: Any) -> None:
    """A staff member who used the form had their live session id shown in the admin."""
    staff = make_user(roles=("staff",))
    staff_client, visitor_client = Client(), Client()
    staff_client.force_login(staff)
    visitor_client.get("/help/new/")
    visitor_client.session.save()
    staff_key = str(staff_client.session.session_key)
    visitor_session = visitor_client.session
    visitor_session["x"] = 1
    visitor_session.save()
    visitor_key = str(visitor_session.session_key)
    try:
        call_command("migrate", "chat", "0001", verbosity=0)
        with connection.cursor() as cursor:
            for name, key in (("Staff", staff_key), ("Visitor", visitor_key)):
                cursor.execute(
                    "INSERT INTO chat_helprequest (public_id, name, contact, category, description, status,"
                    " visitor_session_key, created_at, updated_at)"
                    " VALUES (%s, %s, '', 'general', 'x', 'waiting', %s, %s, %s)",
                    [uuid.uuid4().hex, name, key, "2026-01-01 00:00:00", "2026-01-01 00:00:00"],
                )
        call_command("migrate", "chat", "0002", verbosity=0)
        store = SessionStore
        assert not store().exists(staff_key)
        assert store().exists(visitor_key)  # a visitor's: rebound to the secret on its first use
    finally:
        call_command("migrate", "chat", verbosity=0)
