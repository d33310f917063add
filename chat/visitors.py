"""How an anonymous visitor proves a help request is theirs: their browser session, or its token.

* The browser session that created a request owns it (its public id is in the session).
* The token is an HMAC of the public id under ``SECRET_KEY`` (salted): unguessable without the key,
  checked in constant time. Opening the visitor page with a valid ``?token=`` makes that browser's
  session an owner too, so the visitor can come back from another device through the private link.

Tokens do not expire: the link is the visitor's only way back without an account. Rotating
``SECRET_KEY`` revokes every token at once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core import signing
from django.utils.crypto import constant_time_compare

SESSION_KEY = "chat.help_requests"
TOKEN_SALT = "chat.help_request.token"  # noqa: S105 (a namespace, not a secret)
# A session is a visitor's browser, not an archive; the oldest ownership goes first.
MAX_OWNED_PER_SESSION = 50


def _signer() -> signing.Signer:
    return signing.Signer(salt=TOKEN_SALT)


def help_request_token(public_id: UUID | str) -> str:
    return _signer().signature(UUID(str(public_id)).hex)


def token_is_valid(public_id: UUID | str, token: str | None) -> bool:
    if not token or not isinstance(token, str) or len(token) > 200:
        return False
    return constant_time_compare(token, help_request_token(public_id))


def session_owns(session: Any, public_id: UUID | str) -> bool:
    if session is None:
        return False
    owned = session.get(SESSION_KEY) or []
    return UUID(str(public_id)).hex in owned


def session_grant(session: Any, public_id: UUID | str) -> None:
    """Make ``session`` an owner of the request (saved by the session middleware)."""
    hex_id = UUID(str(public_id)).hex
    owned = [item for item in (session.get(SESSION_KEY) or []) if item != hex_id]
    owned.append(hex_id)
    session[SESSION_KEY] = owned[-MAX_OWNED_PER_SESSION:]


def session_prepare(request: Any) -> str:
    """Give the visitor's browser a fresh session key before it gains ownership; returns the key.

    Owning a request is a privilege, so the key is rotated as on login (a session id planted in the
    browser beforehand is worth nothing afterwards). The session's data is kept.
    """
    request.session.cycle_key()
    return str(request.session.session_key)
