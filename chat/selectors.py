"""Reads of help requests and their messages, the one rule of who may join a room, and the waiting
room's figures (who is on duty, opening hours, the wait estimate)."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Avg, Case, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from charity.roles import Role, roles_for
from chat import visitors
from chat.app_settings import app_settings
from chat.models import (
    READ_ONLY_STATUSES,
    Alternative,
    AuthorKind,
    CannedReply,
    Category,
    Feedback,
    HelperLimit,
    HelplineSettings,
    HelpRequest,
    Message,
    Note,
    OpeningHours,
    ReadCursor,
    Status,
)
from chat.participants import Participant, display_name, user_key, user_participant, visitor_participant
from realtime.registry import get_registry


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


#: The queue's order: the one place it is written. Urgent requests first (a descending field:
#: ``queue_ahead`` compares it the other way), then the oldest; a request handed back to the queue
#: keeps its ``queued_at`` (so it goes back to where it was).
QUEUE_ORDER: tuple[str, ...] = ("-urgent", "queued_at", "id")


def waiting_queue() -> QuerySet[HelpRequest]:
    """Waiting requests in queue order."""
    return HelpRequest.objects.filter(status=Status.WAITING).order_by(*QUEUE_ORDER)


def queue_ahead(help_request: HelpRequest, *, inclusive: bool = False) -> Q:
    """Requests before ``help_request`` in queue order (and itself with ``inclusive``)."""
    ahead = Q(pk__in=[]) if not inclusive else Q(pk=help_request.pk)
    equal = Q()
    for ordering in QUEUE_ORDER:
        descending = ordering.startswith("-")
        name = ordering.lstrip("-")
        value = getattr(help_request, "pk" if name == "id" else name)
        ahead |= equal & Q(**{f"{name}__{'gt' if descending else 'lt'}": value})
        equal &= Q(**{name: value})
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


def messages_redacted(*, help_request_id: int, up_to: int, limit: int) -> list[Message]:
    """Redacted messages with an id up to ``up_to``, oldest first, at most ``limit``: what a client
    resuming after ``up_to`` may still show with its old text."""
    rows = Message.objects.filter(help_request_id=help_request_id, id__lte=up_to, redacted_at__isnull=False)
    return list(rows.order_by("id")[:limit])


def read_cursors(*, help_request_id: int) -> list[ReadCursor]:
    return list(ReadCursor.objects.filter(help_request_id=help_request_id).order_by("id"))


def message_get(*, help_request_id: int, message_id: int | str) -> Message | None:
    """A message of this request by its id, or None (a malformed id included)."""
    if isinstance(message_id, str):
        if not (message_id.isascii() and message_id.isdigit() and len(message_id) < 19):
            return None
        message_id = int(message_id)
    return Message.objects.filter(help_request_id=help_request_id, id=message_id).first()


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


def canned_replies_for(*, help_request: HelpRequest, helper: Any) -> list[dict[str, str]]:
    """The active canned replies for a room, placeholders filled: those of the request's category
    first, then those for every category; each ``{"id", "title", "text", "category", "language"}``."""
    names = {"{visitor}": help_request.name, "{helper}": display_name(helper)}
    replies = CannedReply.objects.filter(Q(category="") | Q(category=help_request.category), active=True).order_by(
        Case(When(category="", then=Value(1)), default=Value(0)), "title", "id"
    )
    return [
        {
            "id": str(reply.pk),
            "title": reply.title,
            "text": _fill(reply.text, names),
            "category": reply.category,
            "language": reply.language,
        }
        for reply in replies
    ]


def _fill(text: str, names: dict[str, str]) -> str:
    # One pass, so a name that itself looks like a placeholder is left as typed.
    return re.sub("|".join(map(re.escape, names)), lambda hit: names[hit.group()], text)


def desk_for(*, user: Any) -> list[tuple[HelpRequest, list[int]]]:
    """A helper's desk: the conversations assigned to them and still open, the longest-held first
    (each annotated with ``last_message_at``), with the ids of the messages from others they have not
    read yet, oldest first, at most ``CHAT_DESK_UNREAD_IDS``."""
    rooms = list(
        HelpRequest.objects.filter(assigned_to=user, status=Status.ASSIGNED)
        .annotate(last_message_at=Max("messages__created_at"))
        .order_by("assigned_at", "id")
    )
    key = user_key(user.pk)
    read = dict(
        ReadCursor.objects.filter(help_request__in=rooms, participant=key).values_list("help_request_id", "up_to")
    )
    limit = app_settings.DESK_UNREAD_IDS
    items: list[tuple[HelpRequest, list[int]]] = []
    for room in rooms:
        unread = (
            Message.objects.filter(help_request=room, id__gt=read.get(room.pk, 0))
            .exclude(author_kind=AuthorKind.SYSTEM)
            .exclude(author_user=user)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        items.append((room, list(unread)))
    return items


# -- records (transcripts, retention) ----------------------------------------------------------------


def transcript_messages(*, help_request_id: int) -> QuerySet[Message]:
    """The messages a transcript carries, oldest first: the one place that decides what a visitor's
    copy of their conversation contains (anything staff-only, such as internal notes, is left out here)."""
    return Message.objects.filter(help_request_id=help_request_id).order_by("id")


def contact_email(help_request: HelpRequest) -> str | None:
    """The visitor's contact when it is an email address (where a transcript may be sent), else None."""
    contact = help_request.contact.strip()
    try:
        validate_email(contact)
    except ValidationError:
        return None
    return contact


def help_requests_past_retention(*, cutoff: datetime) -> QuerySet[HelpRequest]:
    """Requests whose conversation is kept no longer, oldest first: resolved or closed before
    ``cutoff``, or still waiting or assigned with no change and no message since (abandoned)."""
    recent_message = Message.objects.filter(help_request_id=OuterRef("pk"), created_at__gt=cutoff)
    ended = Q(status__in=READ_ONLY_STATUSES, resolved_at__lte=cutoff)
    abandoned = Q(status__in=(Status.WAITING, Status.ASSIGNED), updated_at__lte=cutoff) & ~Exists(recent_message)
    return HelpRequest.objects.filter(anonymised_at__isnull=True).filter(ended | abandoned).order_by("id")


# -- the waiting room ------------------------------------------------------------------------------

#: The registry endpoint of the helpers' queue socket: a helper with one open is "on duty".
QUEUE_ENDPOINT = "chat_queue"
HELPER_ROLES = frozenset({Role.STAFF.value, Role.VOLUNTEER.value})
HELPLINE_CACHE_KEY = "chat:helpline-config"
WAIT_CACHE_KEY = "chat:wait-snapshot"
# The configuration changes only in the admin, which clears it; the timeout is a safety net.
HELPLINE_CACHE_SECONDS = 600


@dataclass(frozen=True)
class OpeningRange:
    weekday: int
    weekday_label: str
    opens: time
    closes: time

    @property
    def overnight(self) -> bool:
        return self.closes <= self.opens


@dataclass(frozen=True)
class AlternativeEntry:
    name: str
    description: str
    kind: str
    kind_label: str
    phone: str
    url: str


@dataclass(frozen=True)
class HelplineConfig:
    emergency_text: str
    hours: tuple[OpeningRange, ...]
    alternatives: tuple[AlternativeEntry, ...]


def helpline_settings_get() -> HelplineSettings:
    """The one settings row, made with its defaults on first use."""
    row, _ = HelplineSettings.objects.get_or_create(pk=1)
    return row


def helpline_config() -> HelplineConfig:
    """The admin-edited texts, opening hours and active alternatives (cached; saving clears it)."""
    config = cache.get(HELPLINE_CACHE_KEY)
    if isinstance(config, HelplineConfig):
        return config
    config = HelplineConfig(
        emergency_text=helpline_settings_get().emergency_text,
        hours=tuple(
            OpeningRange(row.weekday, row.get_weekday_display(), row.opens, row.closes)
            for row in OpeningHours.objects.all()
        ),
        alternatives=tuple(
            AlternativeEntry(
                row.name,
                row.description,
                row.kind,
                row.get_kind_display(),
                row.phone,
                # Only web addresses become links (the admin checks; a script might not).
                row.url if row.url.lower().startswith(("https://", "http://")) else "",
            )
            for row in Alternative.objects.filter(active=True)
        ),
    )
    cache.set(HELPLINE_CACHE_KEY, config, HELPLINE_CACHE_SECONDS)
    return config


def helpline_config_clear() -> None:
    """Forget the cached configuration and the figures read from it (an admin edit)."""
    cache.delete_many([HELPLINE_CACHE_KEY, WAIT_CACHE_KEY])


def _openings_around(hours: Sequence[OpeningRange], local: datetime) -> list[tuple[datetime, datetime]]:
    """Every opening from the day before ``local`` to a week after, as aware ``(start, end)`` pairs."""
    zone = local.tzinfo
    spans = []
    for offset in range(-1, 8):
        day = local.date() + timedelta(days=offset)
        for opening in hours:
            if opening.weekday != day.weekday():
                continue
            end_day = day + timedelta(days=1) if opening.overnight else day
            spans.append(
                (
                    datetime.combine(day, opening.opens, tzinfo=zone),
                    datetime.combine(end_day, opening.closes, tzinfo=zone),
                )
            )
    return spans


def helpline_is_open(*, hours: Sequence[OpeningRange], now: datetime) -> bool:
    """Whether ``now`` falls in an opening, in the charity's time zone; no opening hours: always."""
    if not hours:
        return True
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    return any(start <= local < end for start, end in _openings_around(hours, local))


def helpline_next_opening(*, hours: Sequence[OpeningRange], now: datetime) -> datetime | None:
    """When the helpline next opens after ``now`` (charity time zone), None without opening hours."""
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    starts = [start for start, _ in _openings_around(hours, local) if start > local]
    return min(starts, default=None)


def helpers_online() -> int:
    """Volunteers and staff with the queue open right now, in any server process (the registry)."""
    entries = get_registry().entries()
    return len(
        {
            entry.user_id
            for entry in entries
            if entry.endpoint == QUEUE_ENDPOINT and entry.role in HELPER_ROLES and entry.user_id is not None
        }
    )


def wait_history(*, now: datetime) -> tuple[dict[str, list[float]], list[float]]:
    """Waits (seconds from creation to the first helper reply) of recently answered requests, newest
    first: per category at most ``CHAT_WAIT_ESTIMATE_SAMPLES``, and the same number over every category.
    One query. Messages left while nobody was on duty are not waits, so they do not count."""
    limit = app_settings.WAIT_ESTIMATE_SAMPLES
    since = now - timedelta(days=app_settings.WAIT_ESTIMATE_HISTORY_DAYS)
    query = (
        HelpRequest.objects.filter(first_reply_at__gte=since, left_offline=False)
        .annotate(rank=Window(RowNumber(), partition_by=[F("category")], order_by=F("first_reply_at").desc()))
        .filter(rank__lte=limit)
        .values_list("category", "created_at", "first_reply_at")
    )
    rows = [
        (category, replied, max(0.0, (replied - created).total_seconds()))
        for category, created, replied in query
        if replied is not None
    ]
    # The newest ``limit`` of all are among each category's newest ``limit``: no second query.
    rows.sort(key=lambda row: row[1], reverse=True)
    by_category: dict[str, list[float]] = {}
    for category, _, wait in rows:
        by_category.setdefault(category, []).append(wait)
    return by_category, [wait for _, _, wait in rows[:limit]]


def _minutes_step(minutes: float) -> int:
    return 1 if minutes < 10 else 5 if minutes < 60 else 15


def wait_range(waits: Sequence[float]) -> tuple[int, int] | None:
    """The middle half of ``waits`` (seconds) in whole minutes, rounded outwards to a sensible step
    (1 minute under 10, 5 under an hour, then 15): ``(low, high)``, ``high > low``; None with fewer
    than ``CHAT_WAIT_ESTIMATE_MIN_SAMPLES`` waits."""
    if len(waits) < max(2, app_settings.WAIT_ESTIMATE_MIN_SAMPLES):
        return None
    first, _, third = statistics.quantiles(waits, n=4, method="inclusive")
    low_minutes, high_minutes = first / 60, third / 60
    low_step, high_step = _minutes_step(low_minutes), _minutes_step(high_minutes)
    low = math.floor(low_minutes / low_step) * low_step
    high = max(1, math.ceil(high_minutes / high_step) * high_step)
    if high <= low:
        high = low + high_step
    return low, high


@dataclass(frozen=True)
class WaitSnapshot:
    """The waiting room's figures at one moment, shared by every waiting visitor."""

    is_open: bool
    helpers_online: int
    next_opening: datetime | None
    ranges: dict[str, tuple[int, int] | None] = field(default_factory=dict)

    @property
    def helpers_available(self) -> int:
        """Helpers on duty: online with the queue open, and within opening hours."""
        return self.helpers_online if self.is_open else 0

    @property
    def on_duty(self) -> bool:
        return self.helpers_available > 0

    def range_for(self, category: str) -> tuple[int, int] | None:
        """The estimate for a request of ``category``; None when there is none to give (too little
        history, or nobody on duty)."""
        return self.ranges.get(category) if self.on_duty else None


def wait_snapshot_compute(*, now: datetime | None = None) -> WaitSnapshot:
    now = now or timezone.now()
    hours = helpline_config().hours
    is_open = helpline_is_open(hours=hours, now=now)
    by_category, overall = wait_history(now=now)
    minimum = app_settings.WAIT_ESTIMATE_MIN_SAMPLES
    fallback = wait_range(overall)
    ranges = {
        category: wait_range(by_category[category]) if len(by_category.get(category, ())) >= minimum else fallback
        for category in Category.values
    }
    return WaitSnapshot(
        is_open=is_open,
        helpers_online=helpers_online(),
        next_opening=None if is_open else helpline_next_opening(hours=hours, now=now),
        ranges=ranges,
    )


def wait_snapshot() -> WaitSnapshot:
    """The current figures, read at most once per ``CHAT_WAIT_ESTIMATE_CACHE_SECONDS`` (shared cache)."""
    snapshot = cache.get(WAIT_CACHE_KEY)
    if isinstance(snapshot, WaitSnapshot):
        return snapshot
    snapshot = wait_snapshot_compute()
    cache.set(WAIT_CACHE_KEY, snapshot, app_settings.WAIT_ESTIMATE_CACHE_SECONDS)
    return snapshot


def wait_snapshot_clear() -> None:
    """Read the figures again on next use (a helper's queue socket opened or closed)."""
    cache.delete(WAIT_CACHE_KEY)


def waiting_rooms() -> list[tuple[int, UUID, str, int]]:
    """``(id, public_id, category, position)`` of every waiting request, in queue order; one query."""
    rows = waiting_queue().values_list("id", "public_id", "category")
    return [(pk, public_id, category, position) for position, (pk, public_id, category) in enumerate(rows, start=1)]


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


#: Most internal notes a helper's connection gets on joining (the newest ones).
NOTES_LIMIT = 500


def notes_for(*, help_request_id: int, limit: int = NOTES_LIMIT) -> list[Note]:
    """The room's internal notes, oldest first (the newest ``limit``). Helpers and staff only: callers
    check ``Participant.is_helper``; nothing the visitor reads calls this."""
    newest_first = list(Note.objects.filter(help_request_id=help_request_id).order_by("-id")[:limit])
    return newest_first[::-1]


def oldest_unanswered_at() -> datetime | None:
    """When the visitor who has waited longest for a reply wrote what they are waiting on: the
    earliest last visitor message, over assigned conversations where no helper wrote after it (None:
    every visitor has had one). One aggregate query, however many conversations are live."""
    return (
        HelpRequest.objects.filter(status=Status.ASSIGNED)
        .annotate(
            last_visitor_at=Max("messages__created_at", filter=Q(messages__author_kind=AuthorKind.VISITOR)),
            last_helper_at=Max(
                "messages__created_at",
                filter=Q(messages__author_kind__in=(AuthorKind.VOLUNTEER, AuthorKind.STAFF)),
            ),
        )
        .filter(last_visitor_at__isnull=False)
        .filter(Q(last_helper_at__isnull=True) | Q(last_helper_at__lt=F("last_visitor_at")))
        .aggregate(oldest=Min("last_visitor_at"))["oldest"]
    )


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
        .order_by("_assigned", *QUEUE_ORDER)[:limit]
    )
