"""DRF permissions of the chat API, over the same rules the sockets use.

``IsHelpRequestParticipant`` is ``selectors.help_request_participant`` (the one room rule) as a DRF
object permission: the API never re-implements who may see a room. A visitor proves ownership with
their browser session or with the request's token in the ``X-Help-Request-Token`` header (never in
the URL, which reaches access logs and browser history).

CSRF: DRF's ``SessionAuthentication`` checks CSRF only for logged-in users, and a visitor has no
account. When the session alone (no token) is what makes an unsafe request the visitor's, this
permission runs the same CSRF check, so another site cannot make the visitor's browser post, read
or close for them. The endpoints also accept JSON bodies only (a cross-site form cannot send JSON
without a CORS preflight), as ``POST /api/help-requests/`` does.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from charity.roles import Role, is_helper, roles_for
from chat import selectors, visitors
from chat.models import AuthorKind, HelpRequest
from chat.participants import Participant

TOKEN_HEADER = "X-Help-Request-Token"  # noqa: S105 (a header name, not a secret)


def request_token(request: Request) -> str | None:
    """The help request token a request carries (the header only)."""
    return request.headers.get(TOKEN_HEADER) or None


def request_participant(request: Request, help_request: HelpRequest) -> Participant | None:
    """Who the person making ``request`` is in the room of ``help_request``, or None (memoised)."""
    cache: dict[int, Participant | None] = request.__dict__.setdefault("_chat_participants", {})
    if help_request.pk not in cache:
        cache[help_request.pk] = selectors.help_request_participant(
            help_request=help_request,
            user=request.user,
            session=getattr(request, "session", None),
            token=request_token(request),
        )
    return cache[help_request.pk]


class IsHelpRequestParticipant(BasePermission):
    """The person may be in the room of the help request (the view's object)."""

    message = "You are not allowed in this help request's room."

    def has_object_permission(self, request: Request, view: Any, obj: HelpRequest) -> bool:
        participant = request_participant(request, obj)
        if participant is None:
            return False
        if (
            request.method not in SAFE_METHODS
            and participant.kind == AuthorKind.VISITOR
            and not visitors.token_is_valid(obj, request_token(request))
        ):
            # Only the session cookie vouches for this visitor: refuse cross-site requests (403).
            SessionAuthentication().enforce_csrf(request)
        return True


class IsVisitor(BasePermission):
    """The visitor of the request (the view's object): only they have a secret and tickets."""

    message = "Only the visitor of this help request can do this."

    def has_object_permission(self, request: Request, view: Any, obj: HelpRequest) -> bool:
        participant = request_participant(request, obj)
        return participant is not None and participant.kind == AuthorKind.VISITOR


class IsRoomHelper(BasePermission):
    """A helper or staff member of the request's room (the view's object), never its visitor: who
    may read and write internal notes, ask for support and hand the request over."""

    message = "Only the room's helpers and staff can do this."

    def has_object_permission(self, request: Request, view: Any, obj: HelpRequest) -> bool:
        participant = request_participant(request, obj)
        return participant is not None and participant.is_helper


class IsHelper(BasePermission):
    """A volunteer or a staff member (who may take requests from the queue)."""

    message = "Only volunteers and staff can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        roles = roles_for(request.user)  # type: ignore[arg-type]
        return is_helper(roles)


class IsStaff(BasePermission):
    """A staff member (who may assign requests to others)."""

    message = "Only staff can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return Role.STAFF in roles_for(request.user)  # type: ignore[arg-type]
