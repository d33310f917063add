"""B0, the ceiling: a raw ASGI WebSocket app with no Channels, no channel layer, no JSON work.

Subscribers connect to ``/ws/sub`` and are kept in a set. A publisher connects to ``/ws/pub``; every
text frame it sends is forwarded, as the same already-encoded string, to every subscriber. Nothing is
decoded or encoded per recipient, so this is what daphne itself costs per delivery.

    daphne -b 127.0.0.1 -p 9000 bench.servers.b0:application
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

subscribers: set[Send] = set()


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    publisher = scope["path"] == "/ws/pub"
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            if not publisher:
                subscribers.add(send)
        elif message["type"] == "websocket.receive":
            text = message.get("text")
            if publisher and text is not None:
                frame = {"type": "websocket.send", "text": text}
                for subscriber in list(subscribers):
                    await subscriber(frame)
        elif message["type"] == "websocket.disconnect":
            subscribers.discard(send)
            return
