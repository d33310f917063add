"""The quick validation of plain frames agrees with the serializers it stands in for."""

from __future__ import annotations

from typing import Any

import pytest

from chat.models import MAX_BODY_CHARS
from chat.validators import FRAME_VALIDATORS, MessageFrame

PAYLOADS: list[dict[str, Any]] = [
    {"type": "message", "body": "hello", "client_id": "c-1"},
    {"type": "message", "body": "  padded  ", "client_id": "c-1"},
    {"type": "message", "body": "x" * MAX_BODY_CHARS, "client_id": "c-1"},
    {"type": "message", "body": " " + "x" * MAX_BODY_CHARS + " ", "client_id": "c-1"},
    {"type": "message", "body": "x" * (MAX_BODY_CHARS + 1), "client_id": "c-1"},
    {"type": "message", "body": "   ", "client_id": "c-1"},
    {"type": "message", "body": "", "client_id": "c-1"},
    {"type": "message", "body": "nul\x00", "client_id": "c-1"},
    {"type": "message", "body": "lone \ud800", "client_id": "c-1"},
    {"type": "message", "body": 5, "client_id": "c-1"},
    {"type": "message", "body": "hello", "client_id": "with space"},
    {"type": "message", "body": "hello", "client_id": ""},
    {"type": "message", "body": "hello", "client_id": "x" * 65},
    {"type": "message", "body": "hello", "client_id": 7},
    {"type": "message", "body": "hello"},
    {"type": "message", "client_id": "c-1"},
    {"type": "message", "body": "hello", "client_id": "c-1", "extra": True},
    {"type": "typing"},
    {"type": "typing", "extra": 1},
    {"type": "ping"},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_quick_takes_only_what_the_serializer_takes_and_gives_the_same(payload: dict[str, Any]) -> None:
    validator = FRAME_VALIDATORS[payload["type"]]
    serializer = validator(data=payload)
    valid = serializer.is_valid()
    quick = validator.quick(payload)
    if quick is not None:
        assert valid, serializer.errors
        assert quick == dict(serializer.validated_data)


def test_a_plain_message_frame_is_quick() -> None:
    assert MessageFrame.quick({"type": "message", "body": " hi ", "client_id": "c"}) == {
        "type": "message",
        "body": "hi",
        "client_id": "c",
    }
