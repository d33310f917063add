"""Reads of help requests and their messages, and the one rule of who may join a room."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Avg, Case, Count, Q, QuerySet, Value, When

from charity.roles import Role, roles_for
from chat import visitors
from chat.app_settings import app_settings
from chat.models import Feedback, HelperLimit, HelpRequest, Message, ReadCursor, Status
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


#: The queue's order: the one place it is written. Every field is ascending; a request handed back
#: to the queue keeps its ``queued_at`` (so it goes back to where it was). An urgency flag slots in
#: here, first, as a descending field (``queue_ahead`` then compares it the other way).
QUEUE_ORDER: tuple[str, ...] = ("queued_at", "id")


def waiting_queue() -> QuerySet[HelpRequest]:
    """Waiting requests in queue order."""
    return HelpRequest.objects.filter(status=Status.WAITING).order_by(*QUEUE_ORDER)


def queue_ahead(help_request: HelpRequest, *, inclusive: bool = False) -> Q:
    """Requests before ``help_request`` in queue order (and itself with ``inclusive``)."""
    ahead = Q(pk__in=[]) if not inclusive else Q(pk=help_request.pk)
    equal = Q()
    for field in QUEUE_ORDER:
        name = "pk" if field == "id" else field
        value = getattr(help_request, name)
        descending = field.startswith("-")
        field = field.lstrip("-")
        ahead |= equal & Q(**{f"{field}__{'gt' if descending else 'lt'}": value})
        equal &= Q(**{field: value})
    return ahead


def queue_position(*, help_request: HelpRequest) -> int | None:
    """1-based place among waiting requests in queue order; None once it left the queue."""
    if help_request.status != Status.WAITING:
        return None
    return HelpRequest.objects.filter(Q(status=Status.WAITING) & queue_ahead(help_request, inclusive=True)).count()


def waiting_positions(*, behind: HelpRequest | None = None) -> list[tuple[UUID, int]]:
    """``(public_id, position)`` of every waiting request after ``behind`` in queue order (all of
    them without it; ``behind`` itself may have left the queue), in one query."""
    rows = waiting_queue()
    if behind is None:
        return [(public_id, position) for position, public_id in enumerate(rows.values_list("public_id", flat=True), 1)]
    marked = rows.annotate(
        _ahead=Case(When(queue_ahead(behind, inclusive=True), then=Value(True)), default=Value(False))
    ).values_list("public_id", "_ahead")
    return [(public_id, position) for position, (public_id, ahead) in enumerate(marked, start=1) if not ahead]


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
        .order_by("_assigned", *QUEUE_ORDER)
    )


def queue_positions(rows: Sequence[HelpRequest], *, offset: int) -> dict[int, int]:
    """Positions of the waiting requests in ``rows``, one page of ``queue_for`` starting at row
    ``offset``: waiting requests come first there, so a waiting row's position is its place. No query."""
    return {row.pk: offset + index for index, row in enumerate(rows, start=1) if row.status == Status.WAITING}


def waiting_count() -> int:
    return HelpRequest.objects.filter(status=Status.WAITING).count()


def waiting_at(*, position: int) -> HelpRequest | None:
    """The waiting request at ``position`` (1-based) in the queue, or None."""
    rows = waiting_queue().select_related("assigned_to")
    return next(iter(rows[position - 1 : position]), None)


# -- the limits (docs/helpline.md) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many active conversations a helper holds, and may hold (``CHAT_MAX_ACTIVE_PER_HELPER`` or
    their own ``HelperLimit``)."""

    active: int
    limit: int

    @property
    def at_capacity(self) -> bool:
        return self.active >= self.limit

    @property
    def reason(self) -> str:
        """Why Take is off, in words (the page, the API's 409 and the admin say the same)."""
        return (
            f"You have {self.active} active conversation{'s' if self.active != 1 else ''}, your limit of "
            f"{self.limit}: finish one before taking another."
        )


def helper_capacity(*, user_id: int) -> Capacity:
    own = HelperLimit.objects.filter(user_id=user_id).values_list("max_active", flat=True).first()
    active = HelpRequest.objects.filter(status=Status.ASSIGNED, assigned_to_id=user_id).count()
    return Capacity(active=active, limit=own if own is not None else app_settings.MAX_ACTIVE_PER_HELPER)


def helpers_at_capacity() -> int:
    """How many helpers hold as many active conversations as they may (the control room's figure)."""
    counts = (
        HelpRequest.objects.filter(status=Status.ASSIGNED, assigned_to__isnull=False)
        .values("assigned_to_id")
        .annotate(active=Count("pk"))
    )
    own = dict(HelperLimit.objects.values_list("user_id", "max_active"))
    default = app_settings.MAX_ACTIVE_PER_HELPER
    return sum(1 for row in counts if row["active"] >= own.get(row["assigned_to_id"], default))


def feedback_given(*, help_request: HelpRequest) -> bool:
    return Feedback.objects.filter(help_request=help_request).exists()


def feedback_visible(*, user: Any) -> bool:
    """Visitors' comments are for staff only (docs/helpline.md, "Feedback")."""
    return Role.STAFF in roles_for(user)


def feedback_week(*, now: datetime) -> dict[str, Any]:
    """The last seven days of visitors' ratings: count, average (None without any) and the comments,
    newest first. Staff only: callers check ``feedback_visible``."""
    rows = Feedback.objects.filter(created_at__gte=now - timedelta(days=7))
    figures = rows.aggregate(count=Count("pk"), average=Avg("rating"))
    average = figures["average"]
    comments = [
        {"rating": rating, "comment": comment, "created_at": created_at.isoformat()}
        for rating, comment, created_at in rows.exclude(comment="")
        .order_by("-created_at")
        .values_list("rating", "comment", "created_at")[:50]
    ]
    return {
        "count": figures["count"],
        "average": round(average, 2) if average is not None else None,
        "comments": comments,
    }
