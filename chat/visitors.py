"""How an anonymous visitor proves a help request is theirs, and how that proof ends.

Three proofs, all bound to the request's current *visitor secret* (docs/security.md, "Visitor access"):

* **The token**: a random secret (``secrets.token_urlsafe(32)``) made per request. Only its keyed hash
  (HMAC-SHA256 under a key derived from ``SECRET_KEY``) is stored, in ``HelpRequest.visitor_token_hash``;
  the plain secret is shown once (the API's 201 answer, the visitor page right after creating or
  rotating it) and checked in constant time. It travels in the ``X-Help-Request-Token`` header or in
  the private link of the visitor page, never in a socket, stream or API URL.
* **The session**: a browser that created the request, or opened its private link, owns it. The
  session holds the request's public id and the hash current at that moment (its *grant*), so a
  rotated or revoked secret ends every session it vouched for.
* **A connect ticket**: short-lived (``CHAT_TICKET_TTL``), single-use, random, stored hashed in the
  shared cache. A client that has the token but no session asks for one and puts it in the socket's
  or stream's URL (``?ticket=``) instead of the token.

Visitor access ends: the secret is rotated on demand (old links, sessions and tickets stop working),
revoked when the visitor closes the request, and no proof works once ``CHAT_VISITOR_ACCESS_AFTER_END``
has passed since the request was resolved or closed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from chat.app_settings import app_settings
from chat.models import HelpRequest
from realtime.cache import shared_cache

SESSION_KEY = "chat.help_requests"
TOKEN_SALT = "chat.help_request.token"  # noqa: S105 (a namespace, not a secret)
# A session is a visitor's browser, not an archive; the oldest ownership goes first.
MAX_OWNED_PER_SESSION = 50
# Secrets are 43 characters (32 random bytes); anything much longer is not one, and is not hashed.
MAX_SECRET_CHARS = 200
# A session written before grants existed holds a list of ids: on its first use it is bound to the
# request's current secret, so the visitor's next "new private link" ends it like any other.
_LEGACY_GRANT = ""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """The keyed hash stored for a secret; nobody holding only the database can make a token."""
    return salted_hmac(TOKEN_SALT, secret, algorithm="sha256").hexdigest()


def access_ended(help_request: HelpRequest) -> bool:
    """Whether the visitor's access window is over: resolved or closed long enough ago."""
    if not help_request.is_read_only or help_request.resolved_at is None:
        return False
    return timezone.now() >= help_request.resolved_at + timedelta(seconds=app_settings.VISITOR_ACCESS_AFTER_END)


def _current_grant(help_request: HelpRequest) -> str | None:
    """The hash proofs must match now, or None when no visitor proof works (revoked or ended)."""
    if not help_request.visitor_token_hash or access_ended(help_request):
        return None
    return help_request.visitor_token_hash


def token_is_valid(help_request: HelpRequest, token: str | None) -> bool:
    grant = _current_grant(help_request)
    if grant is None or not token or not isinstance(token, str) or len(token) > MAX_SECRET_CHARS:
        return False
    return constant_time_compare(secret_hash(token), grant)


# -- the session ------------------------------------------------------------------------------------


def _owned(session: Any) -> dict[str, str]:
    owned = session.get(SESSION_KEY) if session is not None else None
    if isinstance(owned, list):
        return {str(item): _LEGACY_GRANT for item in owned}
    return dict(owned) if isinstance(owned, dict) else {}


def session_owns(session: Any, help_request: HelpRequest) -> bool:
    grant = _current_grant(help_request)
    owned = _owned(session)
    hex_id = UUID(str(help_request.public_id)).hex
    if grant is None or hex_id not in owned:
        return False
    if owned[hex_id] == _LEGACY_GRANT:
        session_grant(session, help_request)
        return True
    return constant_time_compare(owned[hex_id], grant)


def session_grants(session: Any, public_id: Any = None) -> list[str]:
    """The secret hashes this session holds (for one request with ``public_id``): what a block of
    a device matches (``chat.blocks``)."""
    owned = _owned(session)
    if public_id is not None:
        grant = owned.get(UUID(str(public_id)).hex)
        return [grant] if grant else []
    return [grant for grant in owned.values() if grant]


def session_grant(session: Any, help_request: HelpRequest) -> None:
    """Make ``session`` an owner under the request's current secret (saved by the middleware)."""
    hex_id = UUID(str(help_request.public_id)).hex
    owned = _owned(session)
    owned.pop(hex_id, None)
    owned[hex_id] = help_request.visitor_token_hash
    session[SESSION_KEY] = dict(list(owned.items())[-MAX_OWNED_PER_SESSION:])


def session_forget(session: Any, help_request: HelpRequest) -> None:
    owned = _owned(session)
    if owned.pop(UUID(str(help_request.public_id)).hex, None) is not None:
        session[SESSION_KEY] = owned


def session_forget_all(session: Any) -> None:
    """This browser no longer opens any help request through its session (quick exit)."""
    session.pop(SESSION_KEY, None)


def session_prepare(request: Any) -> str:
    """Give the visitor's browser a fresh session key before it gains ownership; returns the key.

    Owning a request is a privilege, so the key is rotated as on login (a session id planted in the
    browser beforehand is worth nothing afterwards). The session's data is kept. An anonymous
    visitor's session ends with the browser: no lasting cookie on a shared computer.
    """
    request.session.cycle_key()
    if not request.user.is_authenticated:
        request.session.set_expiry(0)
    return str(request.session.session_key)


# The plain secret, kept in the session only from the answer that made it to the page that shows it.
_NEW_LINK_KEY = "chat.new_link"


def new_link_remember(session: Any, help_request: HelpRequest, secret: str) -> None:
    session[_NEW_LINK_KEY] = {UUID(str(help_request.public_id)).hex: secret}


def new_link_pop(session: Any, help_request: HelpRequest) -> str | None:
    """The secret made for this request a moment ago, once; removed from the session either way."""
    pending = session.pop(_NEW_LINK_KEY, None)
    if not isinstance(pending, dict):
        return None
    secret = pending.get(UUID(str(help_request.public_id)).hex)
    return secret if isinstance(secret, str) and token_is_valid(help_request, secret) else None


# -- connect tickets ------------------------------------------------------------------------------


def _ticket_key(ticket: str) -> str:
    return "chat:ticket:" + hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def ticket_issue(help_request: HelpRequest) -> str:
    """A single-use ticket for one connection to this request's room as its visitor."""
    ticket = secrets.token_urlsafe(24)
    value = {"public_id": UUID(str(help_request.public_id)).hex, "grant": help_request.visitor_token_hash}
    shared_cache().set(_ticket_key(ticket), value, timeout=app_settings.TICKET_TTL)
    return ticket


def ticket_redeem(help_request: HelpRequest, ticket: str | None) -> bool:
    """Use a ticket up: True once, for the request it was made for, while that secret is current.

    The delete decides: of two connections racing with one ticket only one deletes it.
    """
    if not ticket or not isinstance(ticket, str) or len(ticket) > MAX_SECRET_CHARS:
        return False
    key = _ticket_key(ticket)
    value = shared_cache().get(key)
    if not isinstance(value, dict) or not shared_cache().delete(key):
        return False
    grant = _current_grant(help_request)
    return (
        grant is not None
        and value.get("public_id") == UUID(str(help_request.public_id)).hex
        and constant_time_compare(str(value.get("grant")), grant)
    )


def grant_is_current(help_request: HelpRequest, grant: str) -> bool:
    """Whether a connection admitted under ``grant`` may stay (not rotated, revoked or ended)."""
    current = _current_grant(help_request)
    return current is not None and constant_time_compare(grant, current)
