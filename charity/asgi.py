"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets are session-authenticated (Django's session and auth middleware) and origin-checked
against ALLOWED_HOSTS: a foreign ``Origin`` (or none) is refused at the handshake. Server-Sent Events
streams (``/sse/...``, the fallback for blocked WebSockets) are async consumers with the same
session authentication.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "charity.settings")
# Initialise Django (apps, models) before importing consumers.
django_asgi_app = get_asgi_application()

from realtime import executors  # noqa: E402
from realtime.checks import refuse_to_start_on_errors  # noqa: E402

# A bad proxy list or /metrics allow-list stops the server before it listens (realtime/checks.py).
refuse_to_start_on_errors()

from channels.auth import AuthMiddlewareStack, get_user  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.cookie import parse_cookie  # noqa: E402

from charity import socket_auth  # noqa: E402
from charity.roles import Role, roles_for  # noqa: E402
from charity.routing import sse_urlpatterns, websocket_urlpatterns  # noqa: E402

SSE_PREFIX = "/sse/"
sse_app = AuthMiddlewareStack(URLRouter(sse_urlpatterns))


async def http_app(scope: Any, receive: Any, send: Any) -> None:
    """Server-Sent Events streams go to their async consumers, everything else to Django."""
    if scope["path"].startswith(SSE_PREFIX):
        await sse_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


class WebSocketAuthMiddleware:
    """A socket's cookies, session and user, as Channels' ``AuthMiddlewareStack`` gives them.

    Two differences, both for sockets that stay open for hours by the thousand:

    * ``send`` is passed on as it is. Channels' session middleware wraps it to save the session on
      ``http.response.start``, which a WebSocket never sends, and the wrapper still read the session
      on every frame: a sixth of a broadcast's server CPU. The sockets never write the session.
    * one step instead of three (cookies, session, user), so one copy of the scope and one
      coroutine frame stay alive per socket instead of three of each.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        cookies: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        store = import_module(settings.SESSION_ENGINE).SessionStore
        scope = dict(scope, cookies=cookies, session=store(cookies.get(settings.SESSION_COOKIE_NAME)))
        # The roles as of the handshake: sockets read them here rather than ask the database again
        # (realtime.revocation tells open sockets when they change).
        scope["user"], scope["roles"] = await _authenticate(scope)
        return await self.inner(scope, receive, send)


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


from notifications.push import PushSenderMiddleware  # noqa: E402

# The Web Push sender starts with the first connection, on the server's loop (notifications/push.py).
application = PushSenderMiddleware(
    ProtocolTypeRouter(
        {
            "http": http_app,
            "websocket": AllowedHostsOriginValidator(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
        }
    )
)
