"""ASGI entry point: HTTP through Django, WebSockets and Server-Sent Events streams through Channels.

Sockets and streams (``/sse/...``, the fallback for blocked WebSockets) go through one layer each,
``realtime.entry.Entry``: sockets are origin-checked against ALLOWED_HOSTS (a foreign ``Origin``, or
none, is refused at the handshake), and both are session-authenticated, with the person's roles read
in the same trip to the database, before their consumer is made.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "charity.settings")
# Initialise Django (apps, models) before importing consumers.
django_asgi_app = get_asgi_application()

from realtime import executors  # noqa: E402
from realtime.checks import refuse_to_start_on_errors  # noqa: E402

# A bad proxy list or /metrics allow-list stops the server before it listens (realtime/checks.py).
refuse_to_start_on_errors()

from channels.auth import get_user  # noqa: E402

from charity import socket_auth  # noqa: E402
from charity.roles import Role, roles_for  # noqa: E402
from charity.routing import sse_urlpatterns, websocket_urlpatterns  # noqa: E402
from notifications.push import PushSenderStart  # noqa: E402
from realtime.entry import Application, Entry  # noqa: E402

SSE_PREFIX = "/sse/"


async def authenticate(scope: Any) -> None:
    """``scope["user"]`` and ``scope["roles"]``: the roles as of the handshake. Sockets and streams
    read them here rather than ask the database again (``realtime.revocation`` tells open ones when
    they change)."""
    scope["user"], scope["roles"] = await _authenticate(scope)


def _load_user(scope: Any) -> tuple[Any, frozenset[Role]]:
    """The scope's user, by channels' own ``get_user`` (backend, session hash check, anonymous), and
    their roles (``charity.roles.roles_for``), read in the same trip to the database."""
    user = get_user.func(scope)
    return user, roles_for(user)


async def _authenticate(scope: Any) -> tuple[Any, frozenset[Role]]:
    """On PostgreSQL, read on the event loop (``charity.socket_auth``) where that path decides as
    ``_load_user`` would; else ``_load_user`` on the connect-time pool (``realtime.executors``), not
    asgiref's one shared thread: after a deploy every socket reconnects at once, and each would
    queue behind all the others."""
    if socket_auth.applies(scope["session"]):
        found = await socket_auth.aread(scope["session"])
        if found is not None:
            return found
    result: tuple[Any, frozenset[Role]] = await executors.connect_read(_load_user)(scope)
    return result


# The Web Push sender starts with the first connection, on the server's loop (notifications/push.py).
application = Application(
    http=django_asgi_app,
    websocket=Entry(websocket_urlpatterns, authenticate, check_origin=True),
    streams=Entry(sse_urlpatterns, authenticate, check_origin=False),
    stream_prefix=SSE_PREFIX,
    on_connection=PushSenderStart(),
)
