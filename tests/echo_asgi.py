"""A tiny raw ASGI app for tests of the server itself (``realtime.server``): no Django, no channel layer.

On ``/ws/echo`` a text frame ``big <n>`` is answered with a JSON snapshot of about ``n`` bytes
(repetitive keys, varied numbers, like the dashboard's); ``size`` with the size, in bytes, of the
previous frame received; ``gc`` with the server process's collector settings as JSON; ``protocols``
with the class names (and their bases) of the server's live WebSocket protocols; ``frames <n>
<size>`` with ``n`` frames ``<i>:xxx…`` of ``size`` bytes, every other one 10 bytes; any other
frame is echoed.

Over HTTP, ``/events`` is an event stream: three ``data:`` events, then one whose data is JSON of the
class names (and their bases) of the server's live HTTP requests, then the end of the response.
Anything else is a 404.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


@lru_cache(maxsize=8)
def snapshot(size: int) -> str:
    """Compact JSON of at least ``size`` bytes, compressible about as well as a dashboard snapshot."""
    rows: list[str] = []
    length = 0
    while length < size:
        index = len(rows)
        row = {
            "id": 10_000 + index,
            "kind": ("donation.confirmed", "shift.changed", "help_request.assigned")[index % 3],
            "amount": round(5 + (index * 7919 % 1000) / 7.0, 2),
            "donor": f"donor{index * 31 % 997}",
            "volunteers": index * 13 % 41,
            "created_at": f"2026-11-25T20:{index % 60:02d}:{(index * 7) % 60:02d}.{index * 101 % 1000000:06d}Z",
        }
        rows.append(json.dumps(row, separators=(",", ":")))
        length += len(rows[-1]) + 1
    return '{"type":"snapshot","rows":[' + ",".join(rows) + "]}"


def numbered(index: int, size: int) -> str:
    head = f"{index}:"
    return head + "x" * max(0, size - len(head))


def protocol_classes() -> set[str]:
    from daphne.ws_protocol import WebSocketProtocol

    return {
        cls.__name__
        for obj in gc.get_objects()
        if isinstance(obj, WebSocketProtocol)
        for cls in type(obj).__mro__
        if issubclass(cls, WebSocketProtocol)
    }


def request_classes() -> set[str]:
    from daphne.http_protocol import WebRequest

    return {
        cls.__name__
        for obj in gc.get_objects()
        if isinstance(obj, WebRequest) and not obj.finished
        for cls in type(obj).__mro__
        if issubclass(cls, WebRequest)
    }


async def event_stream(send: Send) -> None:
    headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for index in range(3):
        await send({"type": "http.response.body", "body": f"data: {index}\n\n".encode(), "more_body": True})
    info = json.dumps(sorted(request_classes()))
    await send({"type": "http.response.body", "body": f"data: {info}\n\n".encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        return
    if scope["type"] == "http" and scope["path"] == "/events":
        await event_stream(send)
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    last_size = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            text = message.get("text") or ""
            if text.startswith("big "):
                reply = snapshot(int(text[4:]))
            elif text == "size":
                reply = str(last_size)
            elif text == "gc":
                reply = json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()})
            elif text == "protocols":
                reply = json.dumps(sorted(protocol_classes()))
            elif text.startswith("frames "):
                count, size = (int(word) for word in text.split()[1:])
                for index in range(count):
                    await send({"type": "websocket.send", "text": numbered(index, size if index % 2 == 0 else 10)})
                reply = "done"
            else:
                reply = text
            last_size = len(text.encode()) if message.get("text") is not None else len(message.get("bytes") or b"")
            await send({"type": "websocket.send", "text": reply})
        elif message["type"] == "websocket.disconnect":
            return
