"""Who a connecting socket is, read on the event loop: its session, user and roles without the ORM.

After a deploy every socket reconnects at once. Through the ORM, each connect's session, user and
groups are three queries on a worker thread (``channels.auth.get_user`` and
``charity.roles.roles_for``): a hop to the thread and back, three querysets built and compiled, and
the threads fighting the event loop for the GIL. On PostgreSQL the same answer takes two statements
on ``realtime.adb``'s asynchronous connections (pool ``"connect"``, ``REALTIME_CONNECT_CONNECTIONS``):

1. the session row, by key and unexpired, decoded by the session store's own ``decode``;
2. the user row with the names of its groups.

The decisions are channels' ``get_user`` (the backend must be listed in ``AUTHENTICATION_BACKENDS``,
the user must exist and ``user_can_authenticate``, the session's auth hash must match) and
``charity.roles.roles_from``. This path answers only where it reproduces them exactly; ``aread``
returns ``None`` and the caller takes the ORM path for the rest:

* a session engine other than the database one, a user model other than ``auth.User`` or a backend
  whose ``get_user`` is not ``ModelBackend``'s (``applies``, and ``aread`` on reading the backend);
* a session whose auth hash does not match: channels' ``get_user`` then flushes the session (deletes
  its row), which the ORM path does as it always has. Rare (a password changed), so not worth a copy.

The scope's session is left as a loaded store of that key: its data cached (a consumer reading the
session reads no row), its key ``None`` when no live row had it, as ``SessionStore.load`` leaves it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from channels import auth as channels_auth
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import AllowAllUsersModelBackend, ModelBackend
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.db import SessionStore
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from charity.roles import Role, roles_for, roles_from
from realtime import adb
from realtime.conf import app_settings

__all__ = ["applies", "aread"]

#: The ``adb`` pool these reads use (chat messages have their own).
POOL = "connect"

# ``user_can_authenticate`` of the backends whose ``get_user`` this module reproduces: each reads
# only the user instance it is given.
_USER_CAN_AUTHENTICATE = (ModelBackend.user_can_authenticate, AllowAllUsersModelBackend.user_can_authenticate)


def applies(session: Any) -> bool:
    """Whether ``aread`` can answer for a socket with this scope ``session``: PostgreSQL, the
    database session store, Django's own user model."""
    return type(session) is SessionStore and get_user_model() is User and adb.available()


async def aread(session: SessionStore) -> tuple[Any, frozenset[Role]] | None:
    """The user of ``session`` and their roles, as ``get_user`` and ``roles_for`` give them, or ``None``
    where the ORM path must decide (see the module's docstring). ``session`` is loaded on return."""
    data = await _asession_data(session)
    session._session_cache = data  # type: ignore[attr-defined]  # as ``SessionBase._get_session`` fills it
    session.accessed = True  # as reading it through ``get_user`` marks it
    try:
        user_id = channels_auth._get_user_session_key(session)
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return _anonymous()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return _anonymous()
    backend = load_backend(backend_path)
    if not _reproduced(type(backend)):
        return None
    assert isinstance(backend, ModelBackend)
    found = await _auser_and_groups(user_id)
    if found is None:
        return _anonymous()
    user, group_names = found
    if not backend.user_can_authenticate(user):
        return _anonymous()
    session_hash = session.get(HASH_SESSION_KEY)
    if not (session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())):
        return None  # channels flushes the session: the ORM path does
    return user, roles_from(is_active=user.is_active, is_staff=user.is_staff, group_names=group_names)


def _anonymous() -> tuple[AnonymousUser, frozenset[Role]]:
    return AnonymousUser(), roles_for(None)


def _reproduced(backend: type[Any]) -> bool:
    """Whether ``backend.get_user`` is ``ModelBackend``'s with a ``user_can_authenticate`` that reads
    only the user (``AxesBackend`` inherits both; ``AxesStandaloneBackend`` has no ``get_user``)."""
    return (
        getattr(backend, "get_user", None) is ModelBackend.get_user
        and getattr(backend, "user_can_authenticate", None) in _USER_CAN_AUTHENTICATE
    )


async def _asession_data(session: SessionStore) -> dict[str, Any]:
    """``session.load()``: the live row's decoded data, or ``{}`` and the key unset."""
    if session.session_key is None:
        return {}
    row = await adb.fetchone(_SESSION_SQL, [session.session_key, timezone.now()], **_pool())
    if row is None:
        session._session_key = None
        return {}
    data: dict[str, Any] = session.decode(row[0])
    return data


async def _auser_and_groups(user_id: Any) -> tuple[User, list[str]] | None:
    """``User._default_manager.get(pk=user_id)`` and the names of the user's groups, in one statement."""
    row = await adb.fetchone(_user_sql(), [user_id], **_pool())
    if row is None:
        return None
    fields = User._meta.concrete_fields
    user = User.from_db(DEFAULT_DB_ALIAS, [field.attname for field in fields], row[: len(fields)])
    return user, json.loads(row[-1])


def _pool() -> dict[str, Any]:
    return {"pool": POOL, "pool_size": app_settings.CONNECT_CONNECTIONS}


# ``django_session`` and ``auth_user`` with its groups: ``applies`` holds these paths to Django's own
# models. The user's columns are the model's, in its order, for ``User.from_db``. The group names come
# as JSON text, not an array: psycopg's array loader refers back to the statement's adapters, a
# reference cycle (some 50 objects) left for the garbage collector by every connecting socket.
_SESSION_SQL = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"


@functools.cache
def _user_sql() -> str:
    columns = ", ".join(f'u."{field.column}"' for field in User._meta.concrete_fields)
    return f"""
    SELECT {columns}, (
        SELECT COALESCE(json_agg(g.name), '[]')::text
        FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id WHERE ug.user_id = u.id
    )
    FROM auth_user u WHERE u.id = %s
    """  # noqa: S608 (the model's own columns, values as parameters)
