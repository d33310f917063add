"""The notification socket, ``/ws/notifications/`` (wire contract: docs/protocol.md).

The connect sequence is what makes delivery lossless: join the groups first, then read the replay
from the database, then send it. A notification committed before the read is in the replay; one
committed after the join arrives live. Live events that reach the socket while the replay is read
wait until ``connect()`` returns (``realtime.fanout.GroupMember``), and an id already sent is never
sent again, so the overlap between the two paths cannot double or drop anything.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from charity.roles import Role
from notifications import events, services, streams
from notifications.streams import NotificationMember
from notifications.validators import FRAME_VALIDATORS
from realtime import groups, topics
from realtime.protocol import ErrorCode
from realtime.sockets import JsonSocketConsumer

#: No topic: the one empty set idle sockets share (``frozenset()`` makes a new one each time).
NO_TOPICS: frozenset[str] = frozenset()


class NotificationConsumer(NotificationMember, JsonSocketConsumer):
    frame_validators = FRAME_VALIDATORS
    endpoint = "notifications"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Replaced, never mutated: most sockets keep the shared empty ones (memory per idle socket).
        self.muted: frozenset[str] = NO_TOPICS
        self.topics: frozenset[str] = NO_TOPICS
        # id → None, in send order: ids sent on this socket and not yet acknowledged by it.
        self._unacked: dict[int, None] = {}

    async def connect(self) -> None:
        await self.accept()
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("since")
        if not await self.notification_enter(values[-1] if values else None):
            return
        self.start_heartbeat()
        # What the socket needs from here on is in its attributes. The request's user, session and
        # headers would stay in memory as long as the socket does (thousands of idle sockets).
        # The same dict, emptied and refilled, so its table shrinks back too.
        kept = {key: self.scope[key] for key in ("type", "path", "client") if key in self.scope}
        self.scope.clear()
        self.scope.update(kept)

    def notification_sent(self, notification_id: int) -> None:
        streams.remember(self._unacked, notification_id)

    def notification_wanted(self, kind: str) -> bool:
        return not self.muted or not any(kind == topic or kind.startswith(topic + ".") for topic in self.muted)

    # -- group events (realtime.fanout) -------------------------------------------------------------------

    async def fanout_deliver(self, event: dict[str, Any]) -> None:
        if event["type"] == events.NOTIFICATION_PUSH and self._pending_events is None:
            # The hot path (a role-wide notification reaches every socket of the role in this
            # process in turn): straight to the handler, no lookup by name.
            await self.notification_push(event)  # type: ignore[arg-type]
        else:
            await super().fanout_deliver(event)

    async def topic_frame(self, event: topics.TopicFrameEvent) -> None:
        """An update of a live topic (``realtime.topics``; only subscribed sockets are in its group)."""
        if self.is_open() and event["topic"] in self.topics:
            await self.send_frame(event["frame"])

    async def on_roles_changed(self, roles: frozenset[Role]) -> None:
        """Topics the person may no longer watch are dropped (and the socket says so)."""
        lost = {topic for topic in self.topics if not self._may_watch(topic, roles)}
        if lost:
            await self._drop_topics(lost)
            await self.send_frame(events.subscriptions_frame(muted=self.muted, topics=self.topics))

    async def _drop_topics(self, names: AbstractSet[str]) -> None:
        await self.leave_groups([groups.topic_group(name) for name in names])
        self._unwatch(names)
        self.topics = self.topics - names

    async def on_disconnect(self, code: int) -> None:
        self._unwatch(self.topics)

    @staticmethod
    def _may_watch(name: str, roles: AbstractSet[Role]) -> bool:
        topic = topics.topic_get(name)
        return topic is not None and Role(topic.role) in roles

    @staticmethod
    def _unwatch(names: AbstractSet[str]) -> None:
        for name in names:
            topic = topics.topic_get(name)
            if topic is not None:
                topic.unwatch()

    def log_identity(self) -> str:
        return str(self.user_id or "anonymous")

    # -- client frames --------------------------------------------------------------------------

    async def handle_ack(self, frame: dict[str, Any]) -> None:
        up_to: int = frame["up_to"]
        # Only what this socket actually sent counts as delivered: an id that is still on its way
        # (or was never sent here) stays pending and is replayed on the next connect.
        ids = [notification_id for notification_id in self._unacked if notification_id <= up_to]
        count = 0
        if ids:
            assert self.user_id is not None
            count = await database_sync_to_async(services.recipient_ack)(user_id=self.user_id, notification_ids=ids)
            for notification_id in ids:
                self._unacked.pop(notification_id, None)
        await self.send_frame(events.acked_frame(up_to=up_to, count=count))

    async def handle_read(self, frame: dict[str, Any]) -> None:
        assert self.user_id is not None
        await database_sync_to_async(services.recipient_mark_read)(user_id=self.user_id, notification_ids=frame["ids"])
        for notification_id in frame["ids"]:
            self._unacked.pop(notification_id, None)

    async def handle_subscribe(self, frame: dict[str, Any]) -> None:
        live_topics = topics.topic_names()
        wanted = [name for name in frame["topics"] if name in live_topics]
        forbidden = [name for name in wanted if not self._may_watch(name, self.roles)]
        if forbidden:
            await self.send_error(ErrorCode.FORBIDDEN, {"topics": [f"Not allowed: {', '.join(forbidden)}."]})
            return
        await self.join_groups([groups.topic_group(name) for name in wanted])
        newly = [name for name in wanted if name not in self.topics]
        self.topics = self.topics | set(wanted)
        self.muted = self.muted - set(frame["topics"])
        await self.send_frame(events.subscriptions_frame(muted=self.muted, topics=self.topics))
        for name in newly:
            topic = topics.topic_get(name)
            assert topic is not None
            first = await topic.watch()
            if first is not None:
                await self.send_frame(first)

    async def handle_unsubscribe(self, frame: dict[str, Any]) -> None:
        live_topics = topics.topic_names()
        await self._drop_topics({name for name in frame["topics"] if name in live_topics} & self.topics)
        self.muted = self.muted | {name for name in frame["topics"] if name not in live_topics}
        await self.send_frame(events.subscriptions_frame(muted=self.muted, topics=self.topics))
