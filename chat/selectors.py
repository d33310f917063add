"""Reads of help requests and their messages, and the one rule of who may join a room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Case, Max, Q, QuerySet, Value, When

from charity.roles import Role, roles_for
from chat import visitors
from chat.models import AuthorKind, HelpRequest, Message, Note, ReadCursor, Status
from chat.participants import Participant, user_participant, visitor_participant


def help_request_get(*, public_id: UUID | str) -> HelpRequest | None:
    """The request, or None when there is none with this id (a malformed id included)."""
    try:
        return HelpRequest.objects.select_related("assigned_to").get(public_id=public_id)
    except (HelpRequest.DoesNotExist, ValueError, ValidationError):
        return None


def help_request_participant(
    *, help_request: HelpRequest, user: Any, session: Any, token: str | None, ticket_redeemed: bool = False
) -> Participant | None:
    """Who ``user`` (with this browser ``session`` and maybe a ``token``) is in the room, or None.

    The one authorization rule for rooms, used by the socket, the pages and the API:

    * any active staff user;
    * the assigned user, while they are a volunteer (or staff);
    * the visitor: a session that owns the request, a holder of its token, or a connection that
      redeemed a connect ticket (``ticket_redeemed``, checked by ``visitors.ticket_redeem``). Each
      proof works only under the request's current secret and until the visitor's access ends
      (``chat.visitors``).

    An account that may join through its role joins as itself, even if its session also owns the
    request, so a staff member who opened a visitor's private link still speaks as staff.
    """
    if user is not None and user.is_authenticated:
        roles = roles_for(user)
        if Role.STAFF in roles:
            return user_participant(user)
        if Role.VOLUNTEER in roles and user.pk == help_request.assigned_to_id:
            return user_participant(user)
    if ticket_redeemed or visitors.session_owns(session, help_request) or visitors.token_is_valid(help_request, token):
        return visitor_participant(help_request)
    return None


def user_get_active(*, username: str) -> Any | None:
    """An active account by username, with its groups (for ``roles_for``), or None."""
    users = get_user_model().objects.filter(username=username, is_active=True).prefetch_related("groups")
    return users.first()


def queue_position(*, help_request: HelpRequest) -> int | None:
    """1-based place among waiting requests in creation order; None once it left the queue."""
    if help_request.status != Status.WAITING:
        return None
    return HelpRequest.objects.filter(status=Status.WAITING, id__lte=help_request.pk).count()


def waiting_positions(*, after_id: int = 0) -> list[tuple[UUID, int]]:
    """``(public_id, position)`` of every waiting request with an id over ``after_id``, in one query."""
    rows = HelpRequest.objects.filter(status=Status.WAITING).order_by("id").values_list("id", "public_id")
    return [(public_id, position) for position, (pk, public_id) in enumerate(rows, start=1) if pk > after_id]


def messages_latest(*, help_request_id: int, limit: int) -> tuple[list[Message], bool]:
    """The ``limit`` most recent messages, oldest first, and whether older ones exist."""
    newest_first = list(Message.objects.filter(help_request_id=help_request_id).order_by("-id")[: limit + 1])
    has_more = len(newest_first) > limit
    return newest_first[:limit][::-1], has_more


def messages_after(*, help_request_id: int, after: int, limit: int) -> tuple[list[Message], bool]:
    """Messages with an id over ``after``, oldest first, at most ``limit``, and whether more follow."""
    rows = list(Message.objects.filter(help_request_id=help_request_id, id__gt=after).order_by("id")[: limit + 1])
    return rows[:limit], len(rows) > limit


def read_cursors(*, help_request_id: int) -> list[ReadCursor]:
    return list(ReadCursor.objects.filter(help_request_id=help_request_id).order_by("id"))


def message_exists(*, help_request_id: int, message_id: int) -> bool:
    return Message.objects.filter(help_request_id=help_request_id, id=message_id).exists()


def queue_item_visible(*, status: str, assignee_id: int | None, user_id: int, is_staff: bool) -> bool:
    """Whether a queue entry shows in this user's queue: waiting ones for all, assigned ones for staff
    and for their assignee."""
    if status == Status.WAITING:
        return True
    if status == Status.ASSIGNED:
        return is_staff or assignee_id == user_id
    return False


def queue_for(*, user: Any) -> QuerySet[HelpRequest]:
    """The queue view of a volunteer or staff member, unevaluated so it can be paged: waiting
    requests first (in queue order), then the assigned ones they may see."""
    assigned = Q(status=Status.ASSIGNED)
    if not getattr(user, "is_staff", False):
        assigned &= Q(assigned_to_id=user.pk)
    return (
        HelpRequest.objects.filter(Q(status=Status.WAITING) | assigned)
        .select_related("assigned_to")
        .annotate(_assigned=Case(When(status=Status.WAITING, then=Value(0)), default=Value(1)))
        .order_by("_assigned", "id")
    )


def queue_positions(rows: Sequence[HelpRequest], *, offset: int) -> dict[int, int]:
    """Positions of the waiting requests in ``rows``, one page of ``queue_for`` starting at row
    ``offset``: waiting requests come first there, so a waiting row's position is its place. No query."""
    return {row.pk: offset + index for index, row in enumerate(rows, start=1) if row.status == Status.WAITING}


def waiting_count() -> int:
    return HelpRequest.objects.filter(status=Status.WAITING).count()


def waiting_at(*, position: int) -> HelpRequest | None:
    """The waiting request at ``position`` (1-based) in the queue, or None."""
    rows = HelpRequest.objects.filter(status=Status.WAITING).select_related("assigned_to").order_by("id")
    return next(iter(rows[position - 1 : position]), None)


#: Most internal notes a helper's connection gets on joining (the newest ones).
NOTES_LIMIT = 500


def notes_for(*, help_request_id: int, limit: int = NOTES_LIMIT) -> list[Note]:
    """The room's internal notes, oldest first (the newest ``limit``). Helpers and staff only: callers
    check ``Participant.is_helper``; nothing the visitor reads calls this."""
    newest_first = list(Note.objects.filter(help_request_id=help_request_id).order_by("-id")[:limit])
    return newest_first[::-1]


def live_conversations(*, limit: int) -> list[HelpRequest]:
    """Waiting and assigned requests for the control room (waiting first, in queue order), each with
    ``last_visitor_at`` and ``last_helper_at``: when the visitor and a helper last wrote (None: never)."""
    return list(
        HelpRequest.objects.filter(status__in=(Status.WAITING, Status.ASSIGNED))
        .select_related("assigned_to")
        .annotate(
            _assigned=Case(When(status=Status.WAITING, then=Value(0)), default=Value(1)),
            last_visitor_at=Max("messages__created_at", filter=Q(messages__author_kind=AuthorKind.VISITOR)),
            last_helper_at=Max(
                "messages__created_at",
                filter=Q(messages__author_kind__in=(AuthorKind.VOLUNTEER, AuthorKind.STAFF)),
            ),
        )
        .order_by("_assigned", "id")[:limit]
    )
