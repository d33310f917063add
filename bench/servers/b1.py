"""B1, the plain way: a minimal Channels consumer on channels-redis's default ``RedisChannelLayer``.

Every socket on ``/ws/sub`` joins the group ``bench``; a publisher in another process calls
``group_send("bench", {"type": "bench.message", "payload": {...}})`` and each consumer forwards the
payload with ``send_json`` (so JSON is encoded once per consumer, as the documented pattern does).
No project code is imported; settings are in ``bench.servers.b1_settings``.

    DJANGO_SETTINGS_MODULE=bench.servers.b1_settings daphne -b 127.0.0.1 -p 9001 bench.servers.b1:application
"""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.b1_settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "bench"


class BenchConsumer(AsyncJsonWebsocketConsumer):
    groups = [GROUP]

    async def bench_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/sub", BenchConsumer.as_asgi())])})
