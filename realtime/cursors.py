"""The one parser of resume cursors that clients send: ``?since=``, ``?after=`` and ``Last-Event-ID``.

Every socket and stream reads its cursor here, so they agree on what a cursor is: up to 18 ASCII
digits (below 2**63). ``str.isdigit()`` alone is not enough: it accepts superscripts such as ``²``
that ``int()`` refuses, and other scripts' digits (``٣``) that it turns into a number no id ever had.
"""

from __future__ import annotations

#: Longest cursor accepted: 18 digits always fit a signed 64-bit id.
MAX_DIGITS = 18


def parse_cursor(raw: str | None, *, name: str, fallback: str) -> tuple[int | None, str | None]:
    """``(value, None)`` for a valid cursor, ``(None, None)`` for none, ``(None, message)`` for a bad one.

    ``name`` is the parameter the client used and ``fallback`` says what the server does instead;
    the message goes to the client in an ``invalid`` error frame, and the connection carries on.
    """
    if raw is None or raw == "":
        return None, None
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_DIGITS:
        return None, f"{name} must be a non-negative integer id; {fallback}."
    return int(raw), None
