"""Every frame and group event of the chat and queue sockets, built by pure functions.

Wire frames are what clients see (docs/chat-protocol.md); group events are what services send
to groups and consumers turn into frames. ``FRAME_FIELDS`` is the schema of every server frame: the
exact keys each type carries (tests check every frame a conversation produces against it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from chat.app_settings import app_settings
from chat.models import HelpRequest, Message, Note, ReadCursor
from chat.participants import display_name
from chat.selectors import Capacity
from realtime.protocol import encode

if TYPE_CHECKING:
    from chat.selectors import WaitSnapshot

# Group event types (routed to consumer methods chat_message, chat_status, ...).
MESSAGE = "chat.message"
STATUS = "chat.status"
TYPING = "chat.typing"
READ = "chat.read"
PRESENCE = "chat.presence"
REDACTED = "chat.redacted"
QUEUE = "chat.queue"
DESK = "chat.desk"
DESK_MESSAGE = "chat.desk_message"
DESK_READ = "chat.desk_read"
ERASED = "chat.erased"
WAIT = "chat.wait"
URGENT = "chat.urgent"
CAPACITY = "chat.capacity"
NUDGE = "chat.nudge"
# Sent to the room's helpers-only group (realtime.groups.help_request_helpers_group), never the room's.
NOTE = "chat.note"

AUTHOR_FIELDS = frozenset({"kind", "name"})
HELP_REQUEST_FIELDS = frozenset({"public_id", "status", "queue_position", "assigned_to", "urgent"})
QUEUE_ITEM_FIELDS = frozenset(
    {
        "public_id",
        "url",
        "name",
        "category",
        "description",
        "description_truncated",
        "status",
        "queue_position",
        "assigned_to",
        "created_at",
        "left_offline",
        "queued_at",
        "urgent",
        "urgent_reason",
    }
)
FRAME_FIELDS: dict[str, frozenset[str]] = {
    "history": frozenset({"type", "help_request", "messages", "has_more", "read", "wait_estimate"}),
    "message": frozenset({"type", "id", "client_id", "author", "body", "created_at", "redacted"}),
    "redacted": frozenset({"type", "id", "body"}),
    "typing": frozenset({"type", "author"}),
    "read": frozenset({"type", "author", "up_to"}),
    "presence": frozenset({"type", "participants"}),
    "status": frozenset({"type", "status", "queue_position", "assigned_to"}),
    "wait_estimate": frozenset(
        {"type", "queue_position", "low_minutes", "high_minutes", "helpers_available", "next_opening"}
    ),
    "urgent": frozenset({"type", "urgent"}),
    "queue": frozenset({"type", "help_requests", "waiting", "limit", "capacity"}),
    "queue.item": frozenset({"type", "help_request", "waiting"}),
    "queue.removed": frozenset({"type", "public_id", "waiting"}),
    "capacity": frozenset({"type", "active", "limit", "at_capacity", "reason"}),
    "nudge": frozenset({"type", "reason", "detail", "suggestion"}),
    "desk": frozenset({"type", "help_requests"}),
    "desk.message": frozenset({"type", "public_id", "id", "author", "created_at"}),
    "desk.read": frozenset({"type", "public_id", "up_to"}),
    "erased": frozenset({"type", "by"}),
    "error": frozenset({"type", "code", "detail"}),
    # Helpers and staff only (internal notes): never sent to a visitor's connection.
    "note": frozenset({"type", "id", "author", "body", "created_at"}),
    "notes": frozenset({"type", "notes"}),
    "pong": frozenset({"type"}),
}


class MessageEvent(TypedDict):
    type: str
    id: int
    frame: str


class RedactedEvent(TypedDict):
    type: str
    frame: dict[str, Any]


class StatusEvent(TypedDict):
    type: str
    assignee_id: int | None
    frame: dict[str, Any]


class SenderEvent(TypedDict):
    """Typing and read: everyone but the sender's own sockets gets ``frame``."""

    type: str
    sender: str
    frame: dict[str, Any]


class ErasedEvent(TypedDict):
    type: str
    frame: dict[str, Any]


class PresenceEvent(TypedDict):
    type: str
    version: int
    frame: dict[str, Any]
    # The participants' keys (never in the frame): a connection knows whether the assignee is here.
    keys: list[str]


class DeskEvent(TypedDict):
    """To one helper's desk: ``frame`` as it is (``desk.message``, ``desk.read``), or none (``chat.desk``:
    their conversations changed, each socket reads the new list)."""

    type: str
    frame: dict[str, Any] | None


class FrameEvent(TypedDict):
    """An event whose ``frame`` goes as it is to the group's connections (``wait_estimate``, ``urgent``
    to a room; ``capacity`` to one helper's queue sockets)."""

    type: str
    frame: dict[str, Any]


class NudgeEvent(TypedDict):
    """For the assignee's connections of a room only (``assignee_id``); never the visitor's."""

    type: str
    assignee_id: int
    frame: dict[str, Any]


class NoteEvent(TypedDict):
    type: str
    id: int
    frame: dict[str, Any]


class QueueEvent(TypedDict):
    type: str
    public_id: str
    status: str
    assignee_id: int | None
    item: dict[str, Any]
    waiting: int


# -- frames ----------------------------------------------------------------------------------------


def message_frame(message: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message.pk,
        "client_id": message.client_id,
        "author": {"kind": message.author_kind, "name": message.author_name},
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        # True once staff removed the text: ``body`` is then the fixed REDACTED_BODY.
        "redacted": message.redacted_at is not None,
    }


def redacted_frame(message: Message) -> dict[str, Any]:
    """Staff removed a message's text: clients replace the shown ``body`` of message ``id``."""
    return {"type": "redacted", "id": message.pk, "body": message.body}


def note_frame(note: Note) -> dict[str, Any]:
    """An internal note (helpers and staff only)."""
    return {
        "type": "note",
        "id": note.pk,
        "author": {"kind": note.author_kind, "name": note.author_name},
        "body": note.body,
        "created_at": note.created_at.isoformat(),
    }


def notes_frame(notes: Iterable[Note]) -> dict[str, Any]:
    """The room's internal notes, oldest first, sent to a helper's connection after ``history``."""
    return {"type": "notes", "notes": [note_frame(note) for note in notes]}


def assigned_to(help_request: HelpRequest) -> dict[str, str] | None:
    user = help_request.assigned_to
    if user is None:
        return None
    return {"kind": "staff" if user.is_staff else "volunteer", "name": display_name(user)}


def help_request_state(help_request: HelpRequest, *, queue_position: int | None) -> dict[str, Any]:
    return {
        "public_id": str(help_request.public_id),
        "status": help_request.status,
        "queue_position": queue_position,
        "assigned_to": assigned_to(help_request),
        "urgent": help_request.urgent,
    }


def history_frame(
    *,
    help_request: HelpRequest,
    queue_position: int | None,
    messages: Iterable[Message],
    has_more: bool,
    cursors: Iterable[ReadCursor],
    wait_estimate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": "history",
        "help_request": help_request_state(help_request, queue_position=queue_position),
        "messages": [message_frame(message) for message in messages],
        "has_more": has_more,
        "read": [read_frame(author={"kind": c.author_kind, "name": c.author_name}, up_to=c.up_to) for c in cursors],
        "wait_estimate": wait_estimate,
    }


def status_frame(help_request: HelpRequest, *, queue_position: int | None) -> dict[str, Any]:
    state = help_request_state(help_request, queue_position=queue_position)
    return {
        "type": "status",
        "status": state["status"],
        "queue_position": queue_position,
        "assigned_to": state["assigned_to"],
    }


def presence_frame(participants: Iterable[dict[str, str]]) -> dict[str, Any]:
    return {"type": "presence", "participants": [{"kind": p["kind"], "name": p["name"]} for p in participants]}


def typing_frame(author: dict[str, str]) -> dict[str, Any]:
    return {"type": "typing", "author": dict(author)}


def read_frame(*, author: dict[str, str], up_to: int) -> dict[str, Any]:
    return {"type": "read", "author": dict(author), "up_to": up_to}


def erased_frame(*, by: str) -> dict[str, Any]:
    """The conversation was deleted, by its visitor or by staff (``by``: ``visitor`` or ``staff``)."""
    return {"type": "erased", "by": by}


def wait_estimate_frame(snapshot: WaitSnapshot, *, queue_position: int, category: str) -> dict[str, Any]:
    """A waiting visitor's place and estimate. ``low_minutes``/``high_minutes`` are null when there
    is no estimate to give (too little history, or nobody on duty); ``next_opening`` is set only while
    the helpline is closed."""
    estimate = snapshot.range_for(category)
    return {
        "type": "wait_estimate",
        "queue_position": queue_position,
        "low_minutes": estimate[0] if estimate else None,
        "high_minutes": estimate[1] if estimate else None,
        "helpers_available": snapshot.helpers_available,
        "next_opening": snapshot.next_opening.isoformat() if snapshot.next_opening else None,
    }


def urgent_frame(*, urgent: bool) -> dict[str, Any]:
    """The request was flagged urgent (or no longer): the visitor's page shows the emergency text. The
    reason stays with the helpers."""
    return {"type": "urgent", "urgent": urgent}


def queue_item(help_request: HelpRequest, *, queue_position: int | None) -> dict[str, Any]:
    return {
        "public_id": str(help_request.public_id),
        "url": help_request.get_absolute_url(),
        "name": help_request.name,
        "category": help_request.category,
        "description": help_request.description,
        "status": help_request.status,
        "queue_position": queue_position,
        "assigned_to": assigned_to(help_request),
        "created_at": help_request.created_at.isoformat(),
        "left_offline": help_request.left_offline,
        "queued_at": help_request.queued_at.isoformat(),
        # Helpers only (queue frames never reach a visitor): why the risk list or a helper flagged it.
        "urgent": help_request.urgent,
        "urgent_reason": help_request.urgent_reason,
    }


def queue_entry(help_request: HelpRequest, *, queue_position: int | None) -> dict[str, Any]:
    """A request as the queue shows it: ``queue_item`` with the description cut to
    ``CHAT_QUEUE_DESCRIPTION_CHARS`` (the whole text is on its page) and a flag saying so."""
    item = queue_item(help_request, queue_position=queue_position)
    limit = app_settings.QUEUE_DESCRIPTION_CHARS
    item["description_truncated"] = len(item["description"]) > limit
    item["description"] = item["description"][:limit]
    return item


def queue_frame(
    items: Iterable[dict[str, Any]], *, waiting: int, limit: int, capacity: dict[str, Any]
) -> dict[str, Any]:
    """The first page of a person's queue; ``waiting`` counts every waiting request, ``limit`` is the
    page size: the client keeps at most that many waiting items (the head of the queue).
    ``capacity`` is the person's own ``capacity`` frame as it is now; later ones follow on their own."""
    return {"type": "queue", "help_requests": list(items), "waiting": waiting, "limit": limit, "capacity": capacity}


def queue_item_frame(item: dict[str, Any], *, waiting: int) -> dict[str, Any]:
    return {"type": "queue.item", "help_request": item, "waiting": waiting}


def queue_removed_frame(public_id: str, *, waiting: int) -> dict[str, Any]:
    return {"type": "queue.removed", "public_id": public_id, "waiting": waiting}


DESK_ITEM_FIELDS = frozenset(
    {"public_id", "url", "name", "category", "status", "unread_ids", "last_message_at", "assigned_at"}
)


def desk_item(help_request: HelpRequest, *, unread_ids: list[int], last_message_at: Any) -> dict[str, Any]:
    """One of a helper's conversations on their desk; ``unread_ids`` are the ids of messages they
    have not read (from others, not system messages), oldest first, at most ``CHAT_DESK_UNREAD_IDS``."""
    return {
        "public_id": str(help_request.public_id),
        "url": help_request.get_absolute_url(),
        "name": help_request.name,
        "category": help_request.category,
        "status": help_request.status,
        "unread_ids": unread_ids,
        "last_message_at": last_message_at.isoformat() if last_message_at else None,
        "assigned_at": help_request.assigned_at.isoformat() if help_request.assigned_at else None,
    }


def desk_frame(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "desk", "help_requests": list(items)}


def desk_message_frame(help_request: HelpRequest, message: Message) -> dict[str, Any]:
    """A message for a helper in one of their conversations (no text: the room has it)."""
    return {
        "type": "desk.message",
        "public_id": str(help_request.public_id),
        "id": message.pk,
        "author": {"kind": message.author_kind, "name": message.author_name},
        "created_at": message.created_at.isoformat(),
    }


def desk_read_frame(*, public_id: str, up_to: int) -> dict[str, Any]:
    return {"type": "desk.read", "public_id": public_id, "up_to": up_to}


def capacity_frame(*, active: int, limit: int) -> dict[str, Any]:
    """A helper's own count of active conversations and their cap; ``reason`` says why Take is off."""
    at_capacity = active >= limit
    reason = None
    if at_capacity:
        reason = Capacity(active=active, limit=limit).reason
    return {"type": "capacity", "active": active, "limit": limit, "at_capacity": at_capacity, "reason": reason}


#: Why a helper is nudged in a room.
NUDGE_UNANSWERED = "unanswered"
NUDGE_IDLE = "idle"


def nudge_frame(*, reason: str, detail: str, suggestion: str | None = None) -> dict[str, Any]:
    """A prompt for the room's helper: ``unanswered`` (reply, or it goes back to the queue) or
    ``idle`` (the visitor went quiet: close with ``suggestion``, text to edit, never sent for them)."""
    return {"type": "nudge", "reason": reason, "detail": detail, "suggestion": suggestion}


# -- group events (realtime.fanout) --------------------------------------------------------------------------


def message_event(message: Message) -> MessageEvent:
    # Encoded once by the sender; every socket forwards the same text.
    return {"type": MESSAGE, "id": message.pk, "frame": encode(message_frame(message))}


def redacted_event(message: Message) -> RedactedEvent:
    return {"type": REDACTED, "frame": redacted_frame(message)}


def status_event(help_request: HelpRequest, *, queue_position: int | None) -> StatusEvent:
    return {
        "type": STATUS,
        "assignee_id": help_request.assigned_to_id,
        "frame": status_frame(help_request, queue_position=queue_position),
    }


def position_event(*, queue_position: int) -> StatusEvent:
    """A waiting request moved up the queue (built without loading it: waiting means unassigned)."""
    return {
        "type": STATUS,
        "assignee_id": None,
        "frame": {"type": "status", "status": "waiting", "queue_position": queue_position, "assigned_to": None},
    }


def wait_event(frame: dict[str, Any]) -> FrameEvent:
    return {"type": WAIT, "frame": frame}


def urgent_event(*, urgent: bool) -> FrameEvent:
    return {"type": URGENT, "frame": urgent_frame(urgent=urgent)}


def typing_event(*, sender: str, author: dict[str, str]) -> SenderEvent:
    return {"type": TYPING, "sender": sender, "frame": typing_frame(author)}


def read_event(*, sender: str, author: dict[str, str], up_to: int) -> SenderEvent:
    return {"type": READ, "sender": sender, "frame": read_frame(author=author, up_to=up_to)}


def presence_event(*, version: int, participants: Iterable[dict[str, str]]) -> PresenceEvent:
    participants = list(participants)
    return {
        "type": PRESENCE,
        "version": version,
        "frame": presence_frame(participants),
        "keys": [p["key"] for p in participants if "key" in p],
    }


def erased_event(*, by: str) -> ErasedEvent:
    return {"type": ERASED, "frame": erased_frame(by=by)}


def note_event(note: Note) -> NoteEvent:
    return {"type": NOTE, "id": note.pk, "frame": note_frame(note)}


def queue_event(help_request: HelpRequest, *, queue_position: int | None, waiting: int) -> QueueEvent:
    """One request's change, for every queue socket (each decides whether its person sees it)."""
    return {
        "type": QUEUE,
        "public_id": str(help_request.public_id),
        "status": help_request.status,
        "assignee_id": help_request.assigned_to_id,
        "item": queue_entry(help_request, queue_position=queue_position),
        "waiting": waiting,
    }


def desk_changed_event() -> DeskEvent:
    return {"type": DESK, "frame": None}


def desk_message_event(help_request: HelpRequest, message: Message) -> DeskEvent:
    return {"type": DESK_MESSAGE, "frame": desk_message_frame(help_request, message)}


def desk_read_event(*, public_id: str, up_to: int) -> DeskEvent:
    return {"type": DESK_READ, "frame": desk_read_frame(public_id=public_id, up_to=up_to)}


def capacity_event(*, active: int, limit: int) -> FrameEvent:
    return {"type": CAPACITY, "frame": capacity_frame(active=active, limit=limit)}


def nudge_event(*, assignee_id: int, reason: str, detail: str, suggestion: str | None = None) -> NudgeEvent:
    return {
        "type": NUDGE,
        "assignee_id": assignee_id,
        "frame": nudge_frame(reason=reason, detail=detail, suggestion=suggestion),
    }
