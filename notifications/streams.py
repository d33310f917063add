"""What the notification socket and the notification SSE stream share: one connection lifecycle.

``NotificationMember`` is one connection to a person's notifications, whatever carries it: the socket
(``consumers.py``) or the SSE stream (``sse.py``). It

* identifies the person (4401 for nobody), parses the resume cursor (an ``invalid`` error for a
  bad one, then a replay as if it were absent), admits the connection (``realtime.admission``);
* joins the person's groups, then reads the replay, then sends it and ``synced``: a notification
  committed before the read is in the replay, one committed after the join arrives live, and an id
  already sent is never sent again, so nothing is lost or doubled between the two paths;
* forwards live notifications, the unread count and host apps' events (``realtime.layer``);
* follows access changes: this session logged out, the account or session is gone or its password
  changed (4401), new roles (its groups follow, and a ``roles`` frame).

The transport provides ``send_frame``, ``send_error``, ``send_text`` (an encoded frame; the stream
labels it with ``event_id``), ``close_with``, ``is_open``, ``admit``, ``join_groups`` and
``leave_groups``, and may override ``notification_wanted``, ``notification_sent`` and
``on_roles_changed``. The mixin comes first in the bases so its handlers win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.db import connection, transaction

from charity.roles import Role, primary_role, roles_for, shared
from notifications import events, selectors
from notifications.app_settings import app_settings
from notifications.models import Notification
from notifications.preferences import NOTHING_OFF, in_app_off_kinds
from realtime import adb, executors, fanout, groups, metrics
from realtime.cursors import parse_cursor
from realtime.limits import hashed
from realtime.protocol import CloseCode, ErrorCode
from realtime.revocation import access_state


def notification_groups(*, user_id: int, roles: frozenset[Role]) -> list[str]:
    """The groups a person's notification stream listens on: their own, each role's, everyone's."""
    return [groups.user_group(user_id), groups.everyone_group()] + [groups.role_group(role) for role in sorted(roles)]


def regroup(*, user_id: int, before: frozenset[Role], after: frozenset[Role]) -> tuple[list[str], list[str]]:
    """The groups to leave and to join when a person's roles change from ``before`` to ``after``."""
    old = set(notification_groups(user_id=user_id, roles=before))
    new = set(notification_groups(user_id=user_id, roles=after))
    return sorted(old - new), sorted(new - old)


@dataclass(frozen=True)
class Replay:
    notifications: list[Notification]
    unread: int
    last_id: int
    in_app_off: frozenset[str] = NOTHING_OFF


def replay_read(*, user_id: int, since: int | None, roles: frozenset[Role] = frozenset()) -> Replay:
    """The replay and sync state of a stream that (re)connects; read only after joining the groups.

    Both reads see one snapshot. Otherwise a notification committed between them is missing from
    the replay yet counted as unread, then arrives live and the client counts it a second time. On
    PostgreSQL they are one statement (``selectors.notification_replay_state``), which sees one
    snapshot at any isolation level; elsewhere one transaction (SQLite's keeps the snapshot of its
    first read). The in-app preferences are read after, only when some exist: they are the person's
    choices, not notifications, and their changes reach joined groups live.
    """
    if connection.vendor == "postgresql":
        state = selectors.notification_replay_state(
            user_id=user_id, since=since, limit=app_settings.REPLAY_LIMIT, roles=[str(role) for role in roles]
        )
        in_app_off = in_app_off_kinds(user_id=user_id, roles=roles) if state.has_in_app_preferences else NOTHING_OFF
        return _replay(state.notifications, unread=state.unread, last_id=state.last_id, since=since, off=in_app_off)
    with transaction.atomic():
        notifications = selectors.notifications_for_replay(
            user_id=user_id, since=since, limit=app_settings.REPLAY_LIMIT
        )
        unread, last_id = selectors.notification_sync_state(user_id=user_id)
        in_app_off = in_app_off_kinds(user_id=user_id, roles=roles)
    return _replay(notifications, unread=unread, last_id=last_id, since=since, off=in_app_off)


async def areplay_read(*, user_id: int, since: int | None, roles: frozenset[Role] = frozenset()) -> Replay:
    """``replay_read`` on PostgreSQL from the event loop: its one statement on ``realtime.adb``'s
    connections (``selectors.anotification_replay_state``); the in-app preferences, when some may
    apply, on the connect-time pool."""
    state = await selectors.anotification_replay_state(
        user_id=user_id, since=since, limit=app_settings.REPLAY_LIMIT, roles=[str(role) for role in roles]
    )
    in_app_off: frozenset[str] = NOTHING_OFF
    if state.has_in_app_preferences:
        in_app_off = await executors.connect_read(in_app_off_kinds)(user_id=user_id, roles=roles)
    return _replay(state.notifications, unread=state.unread, last_id=state.last_id, since=since, off=in_app_off)


def _replay(
    notifications: list[Notification], *, unread: int, last_id: int, since: int | None, off: frozenset[str]
) -> Replay:
    if len(notifications) == app_settings.REPLAY_LIMIT:
        # Cut short: report the last id actually sent so a resuming client asks for the rest.
        last_id = notifications[-1].pk
    return Replay(notifications=notifications, unread=unread, last_id=max(last_id, since or 0), in_app_off=off)


async def roles_of(scope: dict[str, Any], user: Any) -> frozenset[Role]:
    """The person's roles: those the socket middleware read with the user (``charity.asgi``), else
    ``roles_for(user)`` on the connect-time pool."""
    roles: frozenset[Role] | None = scope.get("roles")
    if roles is not None:
        return roles
    roles = await executors.connect_read(roles_for)(user)
    return roles


async def read_replay(*, user_id: int, since: int | None, roles: frozenset[Role]) -> Replay:
    """The replay of a connecting stream: on PostgreSQL from the event loop (``areplay_read``), else
    ``replay_read`` on the connect-time pool (``realtime.executors``), not asgiref's one shared
    thread: in a reconnect storm every socket's replay would wait behind every other's."""
    if adb.available():
        return await areplay_read(user_id=user_id, since=since, roles=roles)
    replay: Replay = await executors.connect_read(replay_read)(user_id=user_id, since=since, roles=roles)
    return replay


#: How many sent ids a stream remembers to drop duplicates (and a socket waits for acks on).
REMEMBERED_IDS = 10_000


def remember(ids: dict[int, None], notification_id: int) -> None:
    """Add an id; past ``REMEMBERED_IDS`` forget the oldest (dicts keep insertion order)."""
    ids[notification_id] = None
    if len(ids) > REMEMBERED_IDS:
        del ids[next(iter(ids))]


def parse_since(raw: str | None) -> tuple[int | None, str | None]:
    """``since`` from a query string or Last-Event-ID: ``(value, error message)``."""
    return parse_cursor(raw, name="since", fallback="replaying everything unacknowledged")


class NotificationMember:
    """One connection to a person's notifications; see the module docstring for the hooks."""

    if TYPE_CHECKING:
        scope: dict[str, Any]

        async def send_frame(self, frame: dict[str, Any]) -> None: ...

        async def send_error(self, code: str, detail: Any) -> None: ...

        async def send_text(self, text: str, *, event_id: int | None = None) -> None: ...

        async def close_with(self, code: int) -> None: ...

        def is_open(self) -> bool: ...

        async def admit(self, *, user_id: int | None, username: str, role: str, rate_key: str) -> bool: ...

        async def join_groups(self, groups: list[str]) -> None: ...

        async def leave_groups(self, groups: list[str]) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id: int | None = None
        self.session_key: str | None = None
        self.roles: frozenset[Role] = shared(set())
        # id → None, in send order: what this connection sent (never twice).
        self._sent: dict[int, None] = {}
        # Kinds the person turned off in-app: left out live and on replay (most share the empty one).
        self.in_app_off: frozenset[str] = NOTHING_OFF

    # -- joining ----------------------------------------------------------------------------------

    async def notification_enter(self, raw_since: str | None) -> bool:
        """The connect sequence (module docstring). False: refused, and being closed."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return False
        self.user_id = int(user.pk)
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        since, since_error = parse_since(raw_since)
        if since_error:
            await self.send_error(ErrorCode.INVALID, {"since": [since_error]})
        self.roles = await roles_of(self.scope, user)
        admitted = await self.admit(
            user_id=self.user_id,
            username=user.get_username(),
            role=primary_role(self.roles),
            rate_key=f"user:{user.pk}",
        )
        if not admitted:
            return False
        await self.join_groups(notification_groups(user_id=self.user_id, roles=self.roles))
        replay = await read_replay(user_id=self.user_id, since=since, roles=self.roles)
        self.in_app_off = replay.in_app_off
        metrics.REPLAY_SIZE.observe(len(replay.notifications))
        for notification in replay.notifications:
            if notification.kind in self.in_app_off:
                continue
            await self.notification_send(notification.pk, events.encode_frame(events.notification_frame(notification)))
        await self.send_frame(events.synced_frame(last_id=replay.last_id, unread=replay.unread))
        return True

    async def notification_send(self, notification_id: int, text: str) -> None:
        """One notification frame (already encoded), unless this connection sent that id before."""
        if notification_id in self._sent:
            return
        await self.send_text(text, event_id=notification_id)
        remember(self._sent, notification_id)
        self.notification_sent(notification_id)

    def notification_sent(self, notification_id: int) -> None:
        """Hook: ``notification_id`` went out on this connection."""

    def notification_wanted(self, kind: str) -> bool:
        """Hook: whether a live notification of ``kind`` goes out (the socket's mutes)."""
        return True

    # -- group events (realtime.fanout) ------------------------------------------------------------

    async def notification_push(self, event: events.NotificationPushEvent) -> None:
        kind = event["kind"]
        if (
            self.is_open()
            and self.user_id is not None
            and kind not in self.in_app_off
            and self.notification_wanted(kind)
        ):
            await self.notification_send(event["id"], event["frame"])

    async def notification_preferences(self, event: events.PreferencesChangedEvent) -> None:
        """The person changed their preferences (any tab or device): follow their in-app choices."""
        self.in_app_off = frozenset(event["in_app_off"]) or NOTHING_OFF

    async def notification_unread(self, event: events.UnreadChangedEvent) -> None:
        if self.is_open():
            await self.send_frame(
                events.unread_frame(event["unread"], read=event.get("read"), all_read=event.get("all_read", False))
            )

    async def realtime_event(self, event: dict[str, Any]) -> None:
        """A host app's live event (``realtime.layer``): forwarded as an ``event`` frame."""
        frame = events.host_event_frame(event)
        if frame is None:
            fanout.log_dropped_once(type(self).__name__, "realtime.event without a valid name")
        elif self.is_open():
            await self.send_frame(frame)

    async def access_revoke(self, event: dict[str, Any]) -> None:
        """The person's access changed somewhere (any process): close (4401) or follow new roles."""
        if not self.is_open() or self.user_id is None:
            return
        if event.get("session") and self.session_key and event["session"] == hashed(self.session_key):
            await self.close_with(CloseCode.UNAUTHENTICATED)  # this very session logged out
            return
        roles = await database_sync_to_async(access_state)(user_id=self.user_id, session_key=self.session_key)
        if roles is None:
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return
        if roles == self.roles:
            return
        leave, join = regroup(user_id=self.user_id, before=self.roles, after=roles)
        self.roles = roles
        await self.leave_groups(leave)
        await self.join_groups(join)
        await self.send_frame(events.roles_frame(roles))
        await self.on_roles_changed(roles)

    async def on_roles_changed(self, roles: frozenset[Role]) -> None:
        """Hook: the person's roles changed (groups and the ``roles`` frame are done)."""
