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


app_settings = AppSettings()
