"""Settings of the chat module, one typed property each, read lazily from Django settings.

Every setting is named ``CHAT_<NAME>`` in ``settings.py``. Frame size and heartbeat limits are the
shared socket settings of ``realtime/conf.py`` (``REALTIME_MAX_FRAME_BYTES`` ...).
"""

from __future__ import annotations

from realtime.conf import PrefixedSettings


class AppSettings(PrefixedSettings):
    prefix = "CHAT_"

    @property
    def HISTORY_LIMIT(self) -> int:
        """Messages sent on join without ``?after=``: the most recent ones (default 50)."""
        return int(self._get("HISTORY_LIMIT", 50))

    @property
    def REPLAY_LIMIT(self) -> int:
        """Most messages sent on a join with ``?after=``; ``has_more`` tells the client to ask again."""
        return int(self._get("REPLAY_LIMIT", 1000))

    @property
    def TYPING_INTERVAL(self) -> float:
        """Seconds between two typing frames one socket may broadcast; extra ones are dropped."""
        return float(self._get("TYPING_INTERVAL", 2.0))

    @property
    def NOTIFY_QUIET_PERIOD(self) -> float:
        """Seconds after a ``help_request.message`` notification during which the assignee gets no other."""
        return float(self._get("NOTIFY_QUIET_PERIOD", 300))

    @property
    def PRESENCE_REFRESH_INTERVAL(self) -> float:
        """Seconds between two refreshes of a socket's presence entry."""
        return float(self._get("PRESENCE_REFRESH_INTERVAL", 30))

    @property
    def PRESENCE_TTL(self) -> float:
        """Seconds after which a presence entry nobody refreshed (its process died) stops counting."""
        return float(self._get("PRESENCE_TTL", 90))

    @property
    def QUEUE_PAGE_SIZE(self) -> int:
        """Requests per page of the queue: the page, and the queue socket's snapshot and window (50)."""
        return int(self._get("QUEUE_PAGE_SIZE", 50))  # type: ignore[call-overload]

    @property
    def QUEUE_DESCRIPTION_CHARS(self) -> int:
        """Characters of a description a queue item carries (280); the whole text is on the room page."""
        return int(self._get("QUEUE_DESCRIPTION_CHARS", 280))  # type: ignore[call-overload]

    @property
    def VISITOR_ACCESS_AFTER_END(self) -> float:
        """Seconds after a request is resolved or closed during which its visitor may still open it
        (token, private link, session or ticket); then every visitor proof stops working (7 days)."""
        return float(self._get("VISITOR_ACCESS_AFTER_END", 7 * 24 * 3600))  # type: ignore[arg-type]

    @property
    def TICKET_TTL(self) -> int:
        """Seconds a connect ticket (``POST .../ticket/``) may wait before a socket or stream uses it."""
        return int(self._get("TICKET_TTL", 60))  # type: ignore[call-overload]

    @property
    def VISITOR_CONNECTIONS(self) -> int:
        """Open sockets and streams the visitor of one request may hold at once, every device together."""
        return int(self._get("VISITOR_CONNECTIONS", 5))  # type: ignore[call-overload]

    @property
    def ROOM_MESSAGES_PER_MINUTE(self) -> int:
        """Messages one room accepts a minute, every sender together (socket and REST alike)."""
        return int(self._get("ROOM_MESSAGES_PER_MINUTE", 120))  # type: ignore[call-overload]

    @property
    def SUPPORT_REQUESTS_PER_HOUR(self) -> int:
        """ "Ask for support" presses one room may send staff an hour (each a critical notification)."""
        return int(self._get("SUPPORT_REQUESTS_PER_HOUR", 5))  # type: ignore[call-overload]


app_settings = AppSettings()
