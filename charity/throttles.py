"""How often one person may write through the REST API, and the shape of its refusal.

Sockets have a frame budget each (``REALTIME_MESSAGE_RATE``); the HTTP side of the same actions (the
SSE fallback's message posts, acks and read marks, claims, announcements) had none: one script could
post chat messages as fast as the server answered. ``WriteRateThrottle`` is DRF's own throttle
(a sliding window of timestamps in the cache, Redis in scale-out so every process counts together)
for unsafe methods only, keyed by the user, or for anonymous callers by the client address under the
same trusted-proxy rule as every other limit (``charity.limits.request_client_ip``). Reads are not
counted. Past the limit: ``429`` with ``Retry-After`` and ``{"code": "rate_limited", "detail": ...}``,
the API's error shape.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from charity.app_settings import app_settings
from charity.limits import request_client_ip

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteRateThrottle(SimpleRateThrottle):
    """``REALTIME_HTTP_WRITES_PER_MINUTE`` unsafe requests a minute per person (or anonymous address)."""

    scope = "writes"

    def get_rate(self) -> str:
        return f"{app_settings.HTTP_WRITES_PER_MINUTE}/min"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        user = request.user
        if user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{request_client_ip(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; a throttled request's body carries the API's ``rate_limited`` code."""
    # Imported here: rest_framework.views reads DEFAULT_THROTTLE_CLASSES, i.e. this module, on import.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if isinstance(exc, Throttled) and response is not None:
        response.data = {"code": "rate_limited", "detail": str(exc.detail)}
    return response
