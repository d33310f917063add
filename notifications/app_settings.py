"""Settings of the notifications module, one typed property each, read lazily from Django settings.

Every setting is named ``NOTIFICATIONS_<NAME>`` in ``settings.py``.
"""

from __future__ import annotations

from realtime.conf import PrefixedSettings


class AppSettings(PrefixedSettings):
    prefix = "NOTIFICATIONS_"

    @property
    def DEFAULT_TTL(self) -> int:
        """Seconds a normal notification stays replayable (default 7 days)."""
        return int(self._get("DEFAULT_TTL", 7 * 24 * 3600))

    @property
    def CRITICAL_TTL(self) -> int:
        """Seconds a critical notification stays replayable (default 30 days)."""
        return int(self._get("CRITICAL_TTL", 30 * 24 * 3600))

    @property
    def REPLAY_LIMIT(self) -> int:
        """Most notifications replayed on one connect; older unacknowledged ones follow on the next."""
        return int(self._get("REPLAY_LIMIT", 1000))

    @property
    def ESCALATE_AFTER(self) -> int:
        """Seconds a critical notification may stay unacknowledged before it is emailed (default 15 min)."""
        return int(self._get("ESCALATE_AFTER", 15 * 60))


app_settings = AppSettings()
