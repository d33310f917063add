"""Settings of the chat module, one typed property each, read lazily from Django settings.

Every setting is named ``CHAT_<NAME>`` in ``settings.py``. Frame size and heartbeat limits are the
shared socket settings of ``realtime/conf.py`` (``REALTIME_MAX_FRAME_BYTES`` ...).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

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
    def MESSAGE_CONNECTIONS(self) -> int:
        """Asynchronous PostgreSQL connections per server process that write the sockets' messages
        (``realtime.adb``; default 4). A message holds one for a single statement."""
        return int(self._get("MESSAGE_CONNECTIONS", 4))

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
    def DESK_UNREAD_IDS(self) -> int:
        """Unread message ids a desk item lists per conversation (100); the page shows "99+" past it."""
        return int(self._get("DESK_UNREAD_IDS", 100))  # type: ignore[call-overload]

    @property
    def AUDIT_READ_WINDOW(self) -> float:
        """Seconds during which further reads of one request by one person over one channel add no
        audit entry: one entry per sitting, not per frame, page load or reconnect (8 hours)."""
        return float(self._get("AUDIT_READ_WINDOW", 8 * 3600))

    @property
    def RETAIN_AUDIT_DAYS(self) -> int:
        """Days an audit entry is kept before ``chat.audit.audit_purge`` deletes it (365)."""
        return int(self._get("RETAIN_AUDIT_DAYS", 365))

    @property
    def RETAIN_CONVERSATIONS_DAYS(self) -> int:
        """Days a resolved or closed request keeps its conversation and personal fields (90); a waiting
        or assigned one with no activity for as long counts as abandoned. Then ``purge_help_requests``
        deletes them and keeps an anonymous statistic (docs/safeguarding.md)."""
        return int(self._get("RETAIN_CONVERSATIONS_DAYS", 90))  # type: ignore[call-overload]

    @property
    def PURGE_BATCH_SIZE(self) -> int:
        """Requests ``purge_help_requests`` anonymises per transaction, by default (``--batch-size``)."""
        return int(self._get("PURGE_BATCH_SIZE", 100))  # type: ignore[call-overload]

    @property
    def QUICK_EXIT_URL(self) -> str:
        """Where the visitors' "Leave this site" button (and Escape twice) goes: a neutral page that
        looks ordinary over someone's shoulder (BBC Weather). Only an http(s) address: it becomes a
        link's href and a location.replace() target."""
        url = str(self._get("QUICK_EXIT_URL", "https://www.bbc.co.uk/weather"))
        if not url.startswith(("https://", "http://")):
            raise ImproperlyConfigured(f"CHAT_QUICK_EXIT_URL must be an http(s) address, not {url!r}.")
        return url

    @property
    def WAIT_ESTIMATE_SAMPLES(self) -> int:
        """Recently answered requests the wait estimate looks at, per category (50)."""
        return int(self._get("WAIT_ESTIMATE_SAMPLES", 50))  # type: ignore[call-overload]

    @property
    def WAIT_ESTIMATE_MIN_SAMPLES(self) -> int:
        """Fewest answered requests an estimate is made from; with fewer in a category, every category
        counts, and with fewer still, the visitor is told the wait cannot be estimated (5)."""
        return int(self._get("WAIT_ESTIMATE_MIN_SAMPLES", 5))  # type: ignore[call-overload]

    @property
    def WAIT_ESTIMATE_HISTORY_DAYS(self) -> int:
        """How far back (days) an answered request still counts towards the estimate (30)."""
        return int(self._get("WAIT_ESTIMATE_HISTORY_DAYS", 30))  # type: ignore[call-overload]

    @property
    def WAIT_ESTIMATE_CACHE_SECONDS(self) -> float:
        """Seconds the waiting room's figures (estimates, helpers on duty) are reused before they are
        read again; a helper's queue socket opening or closing, or an admin edit, reads them at once (30)."""
        return float(self._get("WAIT_ESTIMATE_CACHE_SECONDS", 30))  # type: ignore[arg-type]

    # -- limits that protect volunteers and visitors (docs/helpline.md) --------------------------

    @property
    def MAX_ACTIVE_PER_HELPER(self) -> int:
        """Active conversations one helper may hold at once (3); staff set a person's own cap in the
        admin (Helper limits)."""
        return int(self._get("MAX_ACTIVE_PER_HELPER", 3))  # type: ignore[call-overload]

    @property
    def UNANSWERED_CLAIM_NUDGE(self) -> float:
        """Seconds after a claim without a reply from the helper before they are nudged (300); at
        twice this the request goes back to the front of the queue and staff are told."""
        return float(self._get("UNANSWERED_CLAIM_NUDGE", 300))  # type: ignore[arg-type]

    @property
    def IDLE_ASK(self) -> float:
        """Seconds without a visitor message in an active conversation before the visitor is asked
        "Are you still there?" (600)."""
        return float(self._get("IDLE_ASK", 600))  # type: ignore[arg-type]

    @property
    def IDLE_PROMPT(self) -> float:
        """Further seconds after that question before the helper is prompted to close (300)."""
        return float(self._get("IDLE_PROMPT", 300))  # type: ignore[arg-type]

    @property
    def IDLE_CLOSING_TEXT(self) -> str:
        """The closing message suggested to the helper of an idle conversation."""
        return str(
            self._get(
                "IDLE_CLOSING_TEXT",
                "It looks like you've stepped away, so I'm going to close this chat now. You can start a "
                "new one at any time. Take care.",
            )
        )

    @property
    def SWEEP_INTERVAL(self) -> float:
        """Seconds between two sweeps of the limits (``chat_sweep --loop`` and the in-process loop, 30)."""
        return float(self._get("SWEEP_INTERVAL", 30))  # type: ignore[arg-type]

    @property
    def SWEEP_IN_PROCESS(self) -> bool:
        """Whether the server runs the sweep itself (True in the embedded default: no ``REDIS_URL``).
        In scale-out run ``manage.py chat_sweep --loop`` (or cron ``chat_sweep``) instead."""
        from django.conf import settings

        return bool(self._get("SWEEP_IN_PROCESS", not getattr(settings, "REDIS_URL", "")))

    @property
    def BLOCK_DAYS(self) -> int:
        """Days a block lasts unless staff choose otherwise (7)."""
        return int(self._get("BLOCK_DAYS", 7))  # type: ignore[call-overload]

    @property
    def UNAVAILABLE_TEXT(self) -> str:
        """What a blocked visitor sees (neutral: never "blocked"), with the alternatives."""
        return str(
            self._get(
                "UNAVAILABLE_TEXT",
                "Chat is not available to you at the moment. You can still get support: call the helpline "
                "free on 0800 000 000 (any time), or in an emergency call 999.",
            )
        )

    @property
    def SUPPORT_REQUESTS_PER_HOUR(self) -> int:
        """ "Ask for support" presses one room may send staff an hour (each a critical notification)."""
        return int(self._get("SUPPORT_REQUESTS_PER_HOUR", 5))  # type: ignore[call-overload]


app_settings = AppSettings()
