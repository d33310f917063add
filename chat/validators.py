"""Validators of the chat socket's inbound frames, one per client frame type (docs/chat-protocol.md)."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from chat.models import MAX_BODY_CHARS, MAX_CLIENT_ID_CHARS
from realtime.validators import Frame, PingFrame, StrictIntegerField, TextField, plain_text

# Printable ASCII without spaces: UUIDs, ULIDs, counters, "tab1-42".
CLIENT_ID_RE = re.compile(r"^[\x21-\x7e]+$")


class ClientIdField(TextField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=1, max_length=MAX_CLIENT_ID_CHARS, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not CLIENT_ID_RE.match(value):
            raise serializers.ValidationError("A client id is printable ASCII without spaces.")
        return value


class MessageFields(serializers.Serializer[dict[str, Any]]):
    """A new message: the socket's ``message`` frame and the body of ``POST .../messages/``."""

    # Trimmed first, then 1 to 4,000 characters; NUL characters are refused (no database stores them).
    body = TextField(max_length=MAX_BODY_CHARS)
    client_id = ClientIdField()


class ReadFields(serializers.Serializer[dict[str, Any]]):
    """A read cursor move: the socket's ``read`` frame and the body of ``POST .../read/``."""

    up_to = StrictIntegerField(min_value=1, max_value=2**63 - 1)


class NoteFields(serializers.Serializer[dict[str, Any]]):
    """An internal note: the socket's ``note`` frame and the body of ``POST .../notes/``."""

    body = TextField(max_length=MAX_BODY_CHARS)


class MessageFrame(Frame, MessageFields):
    @classmethod
    def quick(cls, payload: dict[str, Any]) -> dict[str, Any] | None:
        body, client_id = payload.get("body"), payload.get("client_id")
        if not isinstance(body, str) or not plain_text(body) or not isinstance(client_id, str):
            return None
        body = body.strip()  # TextField trims, then counts
        if not 0 < len(body) <= MAX_BODY_CHARS or not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS:
            return None
        if not CLIENT_ID_RE.match(client_id):
            return None
        return {"type": payload["type"], "body": body, "client_id": client_id}


class TypingFrame(Frame):
    pass


class ReadFrame(Frame, ReadFields):
    pass


class NoteFrame(Frame, NoteFields):
    pass


class SupportFrame(Frame):
    pass


FRAME_VALIDATORS: dict[str, type[Frame]] = {
    "ping": PingFrame,
    "message": MessageFrame,
    "typing": TypingFrame,
    "read": ReadFrame,
    "note": NoteFrame,
    "support": SupportFrame,
}

# The queue socket only listens; it accepts nothing but pings.
QUEUE_FRAME_VALIDATORS: dict[str, type[Frame]] = {"ping": PingFrame}
