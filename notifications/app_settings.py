"""Settings of the notifications module, one typed property each, read lazily from Django settings.

Every setting is named ``NOTIFICATIONS_<NAME>`` in ``settings.py``.
"""

from __future__ import annotations

from django.conf import settings


class AppSettings:
    prefix = "NOTIFICATIONS_"

    def _get(self, name: str, default: object) -> object:
        return getattr(settings, self.prefix + name, default)

    @property
    def DEFAULT_TTL(self) -> int:
        """Seconds a normal notification stays replayable (default 7 days)."""
        return int(self._get("DEFAULT_TTL", 7 * 24 * 3600))  # type: ignore[call-overload]

    @property
    def CRITICAL_TTL(self) -> int:
        """Seconds a critical notification stays replayable (default 30 days)."""
        return int(self._get("CRITICAL_TTL", 30 * 24 * 3600))  # type: ignore[call-overload]

    @property
    def REPLAY_LIMIT(self) -> int:
        """Most notifications replayed on one connect; older unacknowledged ones follow on the next."""
        return int(self._get("REPLAY_LIMIT", 1000))  # type: ignore[call-overload]

    @property
    def ESCALATE_AFTER(self) -> int:
        """Seconds a critical notification may stay unacknowledged before it is emailed (default 15 min)."""
        return int(self._get("ESCALATE_AFTER", 15 * 60))  # type: ignore[call-overload]


app_settings = AppSettings()
