"""Every frame and group event of the chat and queue sockets, built by pure functions.

Wire frames are what clients see (docs/chat-protocol.md); group events are what services send
to groups and consumers turn into frames. ``FRAME_FIELDS`` is the schema of every server frame: the
exact keys each type carries (tests check every frame a conversation produces against it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from chat.app_settings import app_settings
from chat.models import HelpRequest, Message, Note, ReadCursor
from chat.participants import display_name
from realtime.protocol import encode

# Group event types (routed to consumer methods chat_message, chat_status, ...).
MESSAGE = "chat.message"
STATUS = "chat.status"
TYPING = "chat.typing"
READ = "chat.read"
PRESENCE = "chat.presence"
QUEUE = "chat.queue"
# Sent to the room's helpers-only group (realtime.groups.help_request_helpers_group), never the room's.
NOTE = "chat.note"

AUTHOR_FIELDS = frozenset({"kind", "name"})
HELP_REQUEST_FIELDS = frozenset({"public_id", "status", "queue_position", "assigned_to"})
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
    }
)
FRAME_FIELDS: dict[str, frozenset[str]] = {
    "history": frozenset({"type", "help_request", "messages", "has_more", "read"}),
    "message": frozenset({"type", "id", "client_id", "author", "body", "created_at"}),
    "typing": frozenset({"type", "author"}),
    "read": frozenset({"type", "author", "up_to"}),
    "presence": frozenset({"type", "participants"}),
    "status": frozenset({"type", "status", "queue_position", "assigned_to"}),
    "queue": frozenset({"type", "help_requests", "waiting", "limit"}),
    "queue.item": frozenset({"type", "help_request", "waiting"}),
    "queue.removed": frozenset({"type", "public_id", "waiting"}),
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


class StatusEvent(TypedDict):
    type: str
    assignee_id: int | None
    frame: dict[str, Any]


class SenderEvent(TypedDict):
    """Typing and read: everyone but the sender's own sockets gets ``frame``."""

    type: str
    sender: str
    frame: dict[str, Any]


class PresenceEvent(TypedDict):
    type: str
    version: int
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
    }


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
    }


def history_frame(
    *,
    help_request: HelpRequest,
    queue_position: int | None,
    messages: Iterable[Message],
    has_more: bool,
    cursors: Iterable[ReadCursor],
) -> dict[str, Any]:
    return {
        "type": "history",
        "help_request": help_request_state(help_request, queue_position=queue_position),
        "messages": [message_frame(message) for message in messages],
        "has_more": has_more,
        "read": [read_frame(author={"kind": c.author_kind, "name": c.author_name}, up_to=c.up_to) for c in cursors],
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
    }


def queue_entry(help_request: HelpRequest, *, queue_position: int | None) -> dict[str, Any]:
    """A request as the queue shows it: ``queue_item`` with the description cut to
    ``CHAT_QUEUE_DESCRIPTION_CHARS`` (the whole text is on its page) and a flag saying so."""
    item = queue_item(help_request, queue_position=queue_position)
    limit = app_settings.QUEUE_DESCRIPTION_CHARS
    item["description_truncated"] = len(item["description"]) > limit
    item["description"] = item["description"][:limit]
    return item


def queue_frame(items: Iterable[dict[str, Any]], *, waiting: int, limit: int) -> dict[str, Any]:
    """The first page of a person's queue; ``waiting`` counts every waiting request, ``limit`` is the
    page size: the client keeps at most that many waiting items (the head of the queue)."""
    return {"type": "queue", "help_requests": list(items), "waiting": waiting, "limit": limit}


def queue_item_frame(item: dict[str, Any], *, waiting: int) -> dict[str, Any]:
    return {"type": "queue.item", "help_request": item, "waiting": waiting}


def queue_removed_frame(public_id: str, *, waiting: int) -> dict[str, Any]:
    return {"type": "queue.removed", "public_id": public_id, "waiting": waiting}


# -- group events (realtime.fanout) --------------------------------------------------------------------------


def message_event(message: Message) -> MessageEvent:
    # Encoded once by the sender; every socket forwards the same text.
    return {"type": MESSAGE, "id": message.pk, "frame": encode(message_frame(message))}


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


def typing_event(*, sender: str, author: dict[str, str]) -> SenderEvent:
    return {"type": TYPING, "sender": sender, "frame": typing_frame(author)}


def read_event(*, sender: str, author: dict[str, str], up_to: int) -> SenderEvent:
    return {"type": READ, "sender": sender, "frame": read_frame(author=author, up_to=up_to)}


def presence_event(*, version: int, participants: Iterable[dict[str, str]]) -> PresenceEvent:
    return {"type": PRESENCE, "version": version, "frame": presence_frame(participants)}


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
