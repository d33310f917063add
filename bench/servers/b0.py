"""B0, the ceiling: a raw ASGI WebSocket app with no Channels, no channel layer, no JSON work.

Subscribers connect to ``/ws/sub`` and are kept in a list. A publisher connects to ``/ws/pub``; every
text frame it sends is forwarded, as the same already-encoded string, to every subscriber. Nothing is
decoded or encoded per recipient, so this is what daphne itself costs per delivery. A frame that
starts with ``@<k>|`` goes to one subscriber only (the k-th modulo their number, the one-to-one
phase), without that prefix.

    daphne -b 127.0.0.1 -p 9000 bench.servers.b0:application
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

subscribers: list[Send] = []


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
                subscribers.append(send)
        elif message["type"] == "websocket.receive":
            text = message.get("text")
            if publisher and text is not None and text.startswith("@") and subscribers:
                index, _, payload = text[1:].partition("|")
                await subscribers[int(index) % len(subscribers)]({"type": "websocket.send", "text": payload})
            elif publisher and text is not None:
                frame = {"type": "websocket.send", "text": text}
                for subscriber in list(subscribers):
                    await subscriber(frame)
        elif message["type"] == "websocket.disconnect":
            if send in subscribers:
                subscribers.remove(send)
            return
