"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSockets are session-authenticated (Django's auth middleware stack) and origin-checked against
ALLOWED_HOSTS: a foreign ``Origin`` (or none) is refused at the handshake. Server-Sent Events
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

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from charity.routing import sse_urlpatterns, websocket_urlpatterns  # noqa: E402

SSE_PREFIX = "/sse/"
sse_app = AuthMiddlewareStack(URLRouter(sse_urlpatterns))


async def http_app(scope: Any, receive: Any, send: Any) -> None:
    """Server-Sent Events streams go to their async consumers, everything else to Django."""
    if scope["path"].startswith(SSE_PREFIX):
        await sse_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
