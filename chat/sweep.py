"""The periodic sweep of the limits that protect volunteers and visitors (docs/helpline.md).

One pass (``sweep(now=...)``) does, in order:

* **unanswered claims**: a request assigned ``CHAT_UNANSWERED_CLAIM_NUDGE`` seconds ago whose helper
  has not written since gets one nudge (a notification and a ``nudge`` frame to the helper in the
  room); at twice that it goes back to the queue where it was (its ``queued_at`` is kept, so usually
  the front), the visitor is told, and staff are notified;
* **idle conversations**: an active conversation whose visitor has not written for
  ``CHAT_IDLE_ASK`` seconds (after the helper spoke) gets a gentle "Are you still there?"; after
  ``CHAT_IDLE_PROMPT`` more, the helper is prompted (frame and notification) to close, with a
  suggested closing message;
* expired visitor blocks are deleted;
* the waiting rooms are told when the helpline opened or closed by the clock since the last pass
  (``services.wait_duty_changed``: nothing is sent when nothing they see changed).

Each step first reads candidate ids, then handles each in its own transaction with the row locked
(``skip_locked`` on PostgreSQL: two sweepers never handle one request at once, and neither waits for
the other) and re-checks the condition under the lock, so a pass is idempotent and any number of
sweepers may run: ``manage.py chat_sweep [--loop]`` from cron or beside the servers, or the
in-process loop of the embedded default (``CHAT_SWEEP_IN_PROCESS``, ``chat.sweep.ensure_running``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from charity.roles import Role
from chat import events, services
from chat.app_settings import app_settings
from chat.models import AuthorKind, HelpRequest, Message, Status, VisitorBlock
from chat.participants import display_name
from notifications import api as notifications
from realtime import activity, groups
from realtime.publish import group_send_on_commit

logger = logging.getLogger("chat.sweep")

STEPPED_AWAY = "Your helper had to step away; {place}."
STILL_THERE = "Are you still there? Take your time: write when you're ready."
UNANSWERED_DETAIL = (
    "You took this request but haven't replied yet. Say hello, or it goes back to the queue for someone else."
)
IDLE_DETAIL = "The visitor has been quiet for a while. Consider closing with a kind message (edit it first)."


@dataclass
class SweepResult:
    nudged: int = 0
    requeued: int = 0
    asked: int = 0
    prompted: int = 0
    blocks_expired: int = 0

    def __str__(self) -> str:
        return (
            f"nudged {self.nudged}, requeued {self.requeued}, asked {self.asked}, prompted {self.prompted}, "
            f"expired blocks {self.blocks_expired}"
        )


def _helper_replied() -> Exists:
    """Whether the assignee wrote in the room since they took it."""
    return Exists(
        Message.objects.filter(
            help_request=OuterRef("pk"), author_user=OuterRef("assigned_to"), created_at__gte=OuterRef("assigned_at")
        )
    )


def _unanswered(since: datetime) -> QuerySet[HelpRequest]:
    return HelpRequest.objects.filter(
        status=Status.ASSIGNED, assigned_to__isnull=False, assigned_at__lte=since
    ).exclude(_helper_replied())


def _locked(pk: int, candidates: QuerySet[HelpRequest]) -> HelpRequest | None:
    """The candidate row locked (None when another sweeper holds it or it no longer qualifies)."""
    rows = candidates.filter(pk=pk)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return rows.select_related("assigned_to").first()


def _each(candidates: QuerySet[HelpRequest], limit: int) -> list[int]:
    return list(candidates.order_by("pk").values_list("pk", flat=True)[:limit])


def _nudge(help_request: HelpRequest, *, reason: str, title: str, detail: str, suggestion: str | None) -> None:
    assignee_id = help_request.assigned_to_id
    assert assignee_id is not None
    # To the helpers-only group: a visitor's connection never even receives it.
    group_send_on_commit(
        [groups.help_request_helpers_group(help_request.public_id)],
        events.nudge_event(assignee_id=assignee_id, reason=reason, detail=detail, suggestion=suggestion),
    )
    notifications.notify_user(
        assignee_id,
        kind=f"help_request.{reason}",
        title=title,
        body=detail,
        data={"public_id": str(help_request.public_id), "url": help_request.get_absolute_url()},
    )


def claims_nudge(*, now: datetime, limit: int = 500) -> int:
    candidates = _unanswered(now - timedelta(seconds=app_settings.UNANSWERED_CLAIM_NUDGE)).filter(
        claim_nudged_at__isnull=True
    )
    done = 0
    for pk in _each(candidates, limit):
        with transaction.atomic():
            help_request = _locked(pk, candidates)
            if help_request is None:
                continue
            help_request.claim_nudged_at = now
            help_request.save(update_fields=["claim_nudged_at"])
            _nudge(
                help_request,
                reason=events.NUDGE_UNANSWERED,
                title=f"{help_request.name} is waiting for your reply",
                detail=UNANSWERED_DETAIL,
                suggestion=None,
            )
            done += 1
    return done


def claims_requeue(*, now: datetime, limit: int = 500) -> int:
    """Unanswered for twice the nudge time: back to the queue, at the place it had."""
    candidates = _unanswered(now - timedelta(seconds=2 * app_settings.UNANSWERED_CLAIM_NUDGE))
    done = 0
    for pk in _each(candidates, limit):
        with transaction.atomic():
            help_request = _locked(pk, candidates)
            if help_request is None:
                continue
            helper = services.help_request_requeue(help_request, notice=STEPPED_AWAY)
            notifications.notify_role(
                Role.STAFF,
                kind="help_request.requeued",
                title=f"{help_request.name}'s request went back to the queue",
                body=f"{display_name(helper) if helper else 'The helper'} did not reply in time.",
                data={"public_id": str(help_request.public_id), "url": help_request.get_absolute_url()},
            )
            activity.activity_report(kind="help_request.requeued", text="A request went back to the queue")
            done += 1
    return done


def _with_visitor_last_seen() -> QuerySet[HelpRequest]:
    """Active conversations with ``visitor_last`` (their visitor's latest message, else creation).
    Read from the messages, so posting a message writes nothing more for this rule."""
    latest = Message.objects.filter(help_request=OuterRef("pk"), author_kind=AuthorKind.VISITOR).order_by("-id")
    return HelpRequest.objects.filter(status=Status.ASSIGNED, assigned_to__isnull=False).annotate(
        visitor_last=Coalesce(Subquery(latest.values("created_at")[:1]), F("created_at"))
    )


def idle_ask(*, now: datetime, limit: int = 500) -> int:
    """Quiet since the helper spoke, and not asked since the visitor last wrote."""
    since = now - timedelta(seconds=app_settings.IDLE_ASK)
    quiet = Q(visitor_last__lte=since, assigned_at__lte=since)
    candidates = (
        _with_visitor_last_seen()
        .filter(quiet)
        .filter(_helper_replied())
        .filter(Q(idle_asked_at__isnull=True) | Q(idle_asked_at__lt=F("visitor_last")))
    )
    done = 0
    for pk in _each(candidates, limit):
        with transaction.atomic():
            help_request = _locked(pk, candidates)
            if help_request is None:
                continue
            help_request.idle_asked_at = now
            help_request.idle_prompted_at = None
            help_request.save(update_fields=["idle_asked_at", "idle_prompted_at"])
            services._system_message(help_request, STILL_THERE)
            done += 1
    return done


def idle_prompt(*, now: datetime, limit: int = 500) -> int:
    """Asked, and the visitor has not written since."""
    candidates = _with_visitor_last_seen().filter(
        idle_asked_at__lte=now - timedelta(seconds=app_settings.IDLE_PROMPT),
        idle_asked_at__gt=F("visitor_last"),
        idle_prompted_at__isnull=True,
    )
    done = 0
    for pk in _each(candidates, limit):
        with transaction.atomic():
            help_request = _locked(pk, candidates)
            if help_request is None:
                continue
            help_request.idle_prompted_at = now
            help_request.save(update_fields=["idle_prompted_at"])
            _nudge(
                help_request,
                reason=events.NUDGE_IDLE,
                title=f"{help_request.name} has gone quiet",
                detail=IDLE_DETAIL,
                suggestion=app_settings.IDLE_CLOSING_TEXT,
            )
            done += 1
    return done


def blocks_purge(*, now: datetime) -> int:
    return VisitorBlock.objects.filter(expires_at__lte=now).delete()[0]


def sweep(*, now: datetime | None = None) -> SweepResult:
    """One pass of every rule (see the module docstring)."""
    now = now or timezone.now()
    result = SweepResult()
    # Requeue before nudging: a request overdue for both goes back rather than nudging first.
    result.requeued = claims_requeue(now=now)
    result.nudged = claims_nudge(now=now)
    result.asked = idle_ask(now=now)
    result.prompted = idle_prompt(now=now)
    result.blocks_expired = blocks_purge(now=now)
    # The helpline opening or closing by the clock: waiting visitors are told within one sweep.
    services.wait_duty_changed()
    return result


# -- the in-process loop (embedded default) --------------------------------------------------------

_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


async def _run_forever() -> None:
    while True:
        await asyncio.sleep(app_settings.SWEEP_INTERVAL)
        try:
            await sync_to_async(sweep, thread_sensitive=False)()
        except Exception:  # a failed pass is tried again on the next tick
            logger.exception("chat sweep failed")


def ensure_running() -> None:
    """Start this event loop's sweep once (with ``CHAT_SWEEP_IN_PROCESS``): the embedded default runs
    one server process, so the first socket that connects starts it, as the heartbeat's sweeper."""
    if not app_settings.SWEEP_IN_PROCESS:
        return
    loop = asyncio.get_running_loop()
    task = _loops.get(loop)
    if task is None or task.done():
        _loops[loop] = loop.create_task(_run_forever())


__all__ = ["SweepResult", "claims_nudge", "claims_requeue", "ensure_running", "idle_ask", "idle_prompt", "sweep"]
