"""Hypothesis strategies for hostile socket frames."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Client types, internal channel-layer event names and ASGI message types: none of the latter two
# may ever be reachable from a client frame.
KNOWN_TYPES = ["ping", "ack", "read", "subscribe", "unsubscribe", "message", "typing"]
FORGED_TYPES = [
    "websocket.connect",
    "websocket.receive",
    "websocket.disconnect",
    "websocket.accept",
    "websocket.close",
    "notification.push",
    "notification_push",
    "notification.unread",
    "access.revoke",
    "access_revoke",
    "topic.frame",
    "chat.message",
    "chat.status",
    "chat.presence",
    "chat.typing",
    "chat.read",
    "chat.queue",
    "handle_ping",
    "__init__",
    "receive",
    "close",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
frame_objects = st.builds(
    lambda frame_type, fields: {**fields, "type": frame_type},
    st.one_of(st.sampled_from(KNOWN_TYPES + FORGED_TYPES), st.text(max_size=20), st.integers(), st.none()),
    st.dictionaries(
        st.sampled_from(["up_to", "ids", "topics", "body", "client_id", "after", "type", "extra"]),
        json_values,
        max_size=4,
    ),
)


def _lone_surrogate_text(prefix: str) -> str:
    # Escaped lone surrogates: valid JSON text, invalid Unicode once decoded.
    return (
        json.dumps({"type": prefix}).rstrip("}") + ', "body": "\\ud800", "topics": ["\\udfff"], "client_id": "\\ud83d"}'
    )


text_frames = st.one_of(
    frame_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.integers(min_value=1, max_value=20_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=1, max_value=10_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(min_value=1, max_value=5000).map(lambda digits: '{"type":"ack","up_to":' + "9" * digits + "}"),
    st.sampled_from(KNOWN_TYPES + FORGED_TYPES).map(_lone_surrogate_text),
)
frames: st.SearchStrategy[tuple[str, Any]] = st.one_of(
    text_frames.map(lambda text: ("text", text)), st.binary(max_size=200).map(lambda data: ("bytes", data))
)


def record_handler_calls(
    monkeypatch: Any, consumer: type, names: list[str], calls: list[str], ignore_sender: str | None = None
) -> None:
    """Wrap ``consumer``'s channel-layer handlers so each call is recorded in ``calls`` (events from
    ``ignore_sender``, the test's own barrier, are not)."""
    for name in names:
        original = getattr(consumer, name)

        async def recording(self: Any, *args: Any, _name: str = name, _original: Any = original) -> Any:
            event = args[0] if args else None
            if ignore_sender is None or not (isinstance(event, dict) and event.get("sender") == ignore_sender):
                calls.append(_name)
            return await _original(self, *args)

        monkeypatch.setattr(consumer, name, recording)
