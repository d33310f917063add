"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets are session-authenticated (Django's session and auth middleware) and origin-checked
against ALLOWED_HOSTS: a foreign ``Origin`` (or none) is refused at the handshake. Server-Sent Events
streams (``/sse/...``, the fallback for blocked WebSockets) are async consumers with the same
session authentication.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "charity.settings")
# Initialise Django (apps, models) before importing consumers.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddleware, AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware  # noqa: E402

from charity.routing import sse_urlpatterns, websocket_urlpatterns  # noqa: E402

SSE_PREFIX = "/sse/"
sse_app = AuthMiddlewareStack(URLRouter(sse_urlpatterns))


async def http_app(scope: Any, receive: Any, send: Any) -> None:
    """Server-Sent Events streams go to their async consumers, everything else to Django."""
    if scope["path"].startswith(SSE_PREFIX):
        await sse_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


class WebSocketSessionMiddleware(SessionMiddleware):
    """Channels' session middleware, without its wrapper around every frame sent.

    Channels wraps ``send`` to save the session on ``http.response.start``, which a WebSocket never
    sends; the wrapper still inspects the session on each frame (a sixth of a broadcast's server
    CPU). The sockets read the session and never write it, so the wrapper has nothing to do.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            CookieMiddleware(WebSocketSessionMiddleware(AuthMiddleware(URLRouter(websocket_urlpatterns))))
        ),
    }
)
