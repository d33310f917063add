"""charity.socket_auth: who a connecting socket is, read on the event loop, decides as channels'
``get_user`` and ``roles_for`` do through the ORM (``charity.asgi._load_user``), case by case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from charity import socket_auth
from charity.asgi import _authenticate, _load_user
from charity.roles import Role
from realtime import adb

pytestmark = pytest.mark.django_db(transaction=True)


def postgresql(test: Any) -> Any:
    """The event-loop path is PostgreSQL's: a scale-out test, which fails without it (never skips)."""
    return pytest.mark.scaleout(pytest.mark.usefixtures("require_scaleout")(test))


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class OwnGetUser(ModelBackend):
    """A backend with a ``get_user`` of its own: the event-loop path cannot know what it does."""

    def get_user(self, user_id: Any) -> Any:
        return super().get_user(user_id)


def login(user: Any, backend: str = MODEL_BACKEND) -> str:
    client = Client()
    client.force_login(user, backend=backend)
    return str(client.cookies["sessionid"].value)


def orm(key: str | None) -> tuple[Any, frozenset[Role]]:
    """The ORM path's answer, on a store of its own (``_load_user`` as the middleware runs it)."""
    return _load_user({"session": SessionStore(key)})  # type: ignore[no-any-return]


async def on_the_loop(key: str | None) -> tuple[tuple[Any, frozenset[Role]] | None, SessionStore]:
    session = SessionStore(key)
    assert socket_auth.applies(session)
    return await socket_auth.aread(session), session


def who(found: tuple[Any, frozenset[Role]]) -> tuple[Any, frozenset[Role]]:
    user, roles = found
    return (user.pk if user.is_authenticated else None), roles


@postgresql
@pytest.mark.parametrize(
    "roles",
    [(Role.VOLUNTEER,), (Role.STAFF,), (Role.DONOR,), (Role.STAFF, Role.VOLUNTEER, Role.DONOR), ()],
)
async def test_a_logged_in_person_is_the_same_user_with_the_same_roles(
    make_user: Callable[..., Any], roles: tuple[Role, ...]
) -> None:
    user = await database_sync_to_async(make_user)(roles=roles)
    key = await database_sync_to_async(login)(user)
    found, session = await on_the_loop(key)
    assert found is not None
    assert who(found) == who(await database_sync_to_async(orm)(key)) == (user.pk, frozenset(roles))
    loaded = found[0]
    assert (loaded.username, loaded.password, loaded.is_staff, loaded.date_joined) == (
        user.username,
        user.password,
        user.is_staff,
        user.date_joined,
    )
    assert loaded._state.adding is False and loaded._state.db == "default"
    assert session.session_key == key


@postgresql
@pytest.mark.parametrize("case", ["no cookie", "unknown key", "expired", "inactive", "deleted", "unlisted backend"])
async def test_who_is_anonymous_through_the_orm_is_anonymous_here(
    make_user: Callable[..., Any], settings: Any, case: str
) -> None:
    user = await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER,))
    key: str | None = await database_sync_to_async(login)(user)

    def arrange() -> None:
        nonlocal key
        if case == "no cookie":
            key = None
        elif case == "unknown key":
            key = "x" * 32
        elif case == "expired":
            Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
        elif case == "inactive":
            user.is_active = False
            user.save()
        elif case == "deleted":
            user.delete()
        elif case == "unlisted backend":
            settings.AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend"]

    await database_sync_to_async(arrange)()
    expected = await database_sync_to_async(orm)(key)
    found, session = await on_the_loop(key)
    assert found is not None
    assert who(found) == who(expected) == (None, frozenset({Role.VISITOR}))
    assert not found[0].is_authenticated
    if case in ("unknown key", "expired"):
        assert session.session_key is None  # as ``SessionStore.load`` leaves a key with no live row


@postgresql
async def test_a_changed_password_goes_to_the_orm_which_flushes_the_session(make_user: Callable[..., Any]) -> None:
    user = await database_sync_to_async(make_user)(roles=(Role.STAFF,))
    key = await database_sync_to_async(login)(user)

    def change_password() -> None:
        user.set_password("another-pw-for-tests-2")
        user.save()

    await database_sync_to_async(change_password)()
    found, _ = await on_the_loop(key)
    assert found is None
    scope = {"session": SessionStore(key)}
    assert who(await _authenticate(scope)) == (None, frozenset({Role.VISITOR}))
    # channels' get_user flushed it: the row is gone, as through the ORM alone.
    assert not await database_sync_to_async(Session.objects.filter(session_key=key).exists)()


@postgresql
async def test_a_backend_with_its_own_get_user_goes_to_the_orm(make_user: Callable[..., Any], settings: Any) -> None:
    backend = f"{__name__}.OwnGetUser"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, backend]
    user = await database_sync_to_async(make_user)(roles=(Role.DONOR,))
    key = await database_sync_to_async(login)(user, backend)
    found, _ = await on_the_loop(key)
    assert found is None
    assert who(await _authenticate({"session": SessionStore(key)})) == (user.pk, frozenset({Role.DONOR}))


@postgresql
async def test_the_scopes_session_is_loaded_and_keeps_working(make_user: Callable[..., Any]) -> None:
    user = await database_sync_to_async(make_user)()
    key = await database_sync_to_async(login)(user)

    def remember() -> None:
        session = SessionStore(key)
        session["visitor_note"] = {"a": "b"}
        session.save()

    await database_sync_to_async(remember)()
    found, session = await on_the_loop(key)
    assert found is not None

    def read_and_write() -> None:
        # Read from the cache (no statement), then written as a loaded store is.
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert session["visitor_note"] == {"a": "b"}
            assert session.get("_auth_user_id") == str(user.pk)
        assert len(queries) == 0
        session["visitor_note"] = {"c": "d"}
        session.save()
        assert SessionStore(key).load()["visitor_note"] == {"c": "d"}

    await database_sync_to_async(read_and_write)()
    assert session.accessed


async def test_only_postgresql_takes_the_event_loop_path() -> None:
    """SQLite (the embedded mode) keeps the ORM path on asgiref's one thread."""
    assert socket_auth.applies(SessionStore(None)) is adb.available()
    assert not socket_auth.applies(object())


async def test_a_socket_connects_as_its_user_in_either_mode(
    make_user: Callable[..., Any], sockets: Callable[..., Any]
) -> None:
    import json

    user = await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER,))
    socket = await sockets("/ws/notifications/", user=user)
    frame = json.loads(await socket.receive_from(timeout=5))
    assert frame["type"] == "synced"


@postgresql
async def test_reading_who_connects_leaves_nothing_for_the_garbage_collector(make_user: Callable[..., Any]) -> None:
    """Every connecting socket reads it: objects in reference cycles pile up until the collector runs,
    which a server tuned for broadcasts seldom does (``realtime.server.tune_gc``)."""
    import gc

    user = await database_sync_to_async(make_user)(roles=(Role.VOLUNTEER, Role.DONOR))
    key = await database_sync_to_async(login)(user)
    await on_the_loop(key)  # the connections open, their types load
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found, _ = await on_the_loop(key)
        gc.collect()
        cyclic = sorted({type(thing).__qualname__ for thing in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found is not None and found[1] == frozenset({Role.VOLUNTEER, Role.DONOR})
    assert cyclic == []
