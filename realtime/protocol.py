"""What every socket and stream of the engine says the same way: close codes, error codes, the error
frame and the JSON encoding of frames (docs/protocol.md, "Common rules")."""

from __future__ import annotations

import json
from typing import Any


class CloseCode:
    """Application close codes; they mirror HTTP statuses (see docs/protocol.md)."""

    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    HEARTBEAT_TIMEOUT = 4408
    TOO_LARGE = 4413
    RATE_LIMITED = 4429
    #: The server cannot promise live delivery right now (Redis is away); the client retries with
    #: backoff. (1011 would say the same, but an application may only close with 1000 or 3000-4999.)
    UNAVAILABLE = 4503
    #: A normal close; the client reconnects (as after any 1000) and what it missed is replayed.
    RESUME = 1000


class ErrorCode:
    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    BINARY_UNSUPPORTED = "binary_unsupported"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    TOO_LARGE = "too_large"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"


def error_frame(code: str, detail: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
