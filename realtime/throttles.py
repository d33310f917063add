"""How often one person may write through the REST API, and the shape of its refusal.

Sockets have a frame budget each (``REALTIME_MESSAGE_RATE``); the HTTP side of the same actions (the
SSE fallback's message posts, acks and read marks, claims, announcements) had none: one script could
post chat messages as fast as the server answered. These are DRF's own throttles (a sliding window
of timestamps in the cache, Redis in scale-out so every process counts together), for unsafe
methods only; reads are never counted:

* ``WriteRateThrottle`` (the default): ``REALTIME_HTTP_WRITES_PER_MINUTE`` per person. A person is
  the user, or for anonymous callers what the view says identifies them (``anonymous_identity``: the
  help request's room, once its access rule let the caller in, so a made-up token or a fresh session
  buys nothing), else their client address;
* ``ReceiptRateThrottle``: acknowledgements and read marks, which the fallback client sends on its
  own as frames arrive (as often as every 200 ms per tab), count separately against the looser
  ``REALTIME_HTTP_RECEIPTS_PER_MINUTE``;
* ``AddressRateThrottle``: every anonymous write of one client address, ``REALTIME_HTTP_WRITES_PER_IP``
  a minute, a loose backstop (shelters and libraries share an address; a new session or a made-up
  token is a new person, a new address is not free). The address follows the trusted-proxy rule of
  every other limit, and is counted as ``realtime.limits.address_key`` gives it (IPv6 per /64, a
  keyed hash, never the address itself).

Past a limit: ``429`` with ``Retry-After`` and ``{"code": "rate_limited", "detail": ...}``, the
API's error shape; the browser client waits that long and sends again.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import BaseCache
from rest_framework.exceptions import Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from realtime.cache import shared_cache
from realtime.conf import app_settings
from realtime.limits import address_key


class _UnsafeMethodThrottle(SimpleRateThrottle):
    """Counts writes only, in the process's shared cache client (``realtime.cache``): Django's
    ``cache`` would make a client, and a Redis connection, per request context."""

    @property  # type: ignore[override]
    def cache(self) -> BaseCache:
        return shared_cache()

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        ident = self.identity(request, view)
        return None if ident is None else self.cache_format % {"scope": self.scope, "ident": ident}

    def identity(self, request: Request, view: Any) -> str | None:
        raise NotImplementedError


class WriteRateThrottle(_UnsafeMethodThrottle):
    """``REALTIME_HTTP_WRITES_PER_MINUTE`` writes a minute per person."""

    scope = "writes"

    def get_rate(self) -> str:
        return f"{app_settings.HTTP_WRITES_PER_MINUTE}/min"

    def identity(self, request: Request, view: Any) -> str | None:
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        identify = getattr(view, "anonymous_identity", None)
        known = identify(request) if identify is not None else None
        return known or address_key(request)


class ReceiptRateThrottle(WriteRateThrottle):
    """Acknowledgements and read marks: ``REALTIME_HTTP_RECEIPTS_PER_MINUTE`` a minute per person."""

    scope = "receipts"

    def get_rate(self) -> str:
        return f"{app_settings.HTTP_RECEIPTS_PER_MINUTE}/min"


class AddressRateThrottle(_UnsafeMethodThrottle):
    """Every anonymous write from one client address: ``REALTIME_HTTP_WRITES_PER_IP`` a minute."""

    scope = "writes_ip"

    def get_rate(self) -> str:
        return f"{app_settings.HTTP_WRITES_PER_IP}/min"

    def identity(self, request: Request, view: Any) -> str | None:
        user = request.user
        if user is not None and user.is_authenticated:
            return None
        return address_key(request)


#: What a view that acknowledges or marks read uses instead of the default.
RECEIPT_THROTTLES = [ReceiptRateThrottle, AddressRateThrottle]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; a throttled request's body carries the API's ``rate_limited`` code."""
    # Imported here: rest_framework.views reads DEFAULT_THROTTLE_CLASSES, i.e. this module, on import.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if isinstance(exc, Throttled) and response is not None:
        response.data = {"code": "rate_limited", "detail": str(exc.detail)}
    return response
