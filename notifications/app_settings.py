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

    @property
    def VAPID_PRIVATE_KEY(self) -> str:
        """The VAPID private key (PEM, or the base64url raw key) that signs pushes; empty: no Web Push."""
        return str(self._get("VAPID_PRIVATE_KEY", ""))

    @property
    def VAPID_PUBLIC_KEY(self) -> str:
        """The matching public key, base64url (the ``applicationServerKey`` browsers subscribe with)."""
        return str(self._get("VAPID_PUBLIC_KEY", ""))

    @property
    def VAPID_SUBJECT(self) -> str:
        """Who push services may contact about our pushes: ``mailto:`` or an https URL."""
        return str(self._get("VAPID_SUBJECT", "mailto:admin@localhost"))

    @property
    def PUSH_IN_PROCESS(self) -> bool:
        """Run the push sender as a background task of the server process (the embedded default);
        False when ``manage.py send_push --loop`` runs as its own process (scale-out)."""
        return bool(self._get("PUSH_IN_PROCESS", True))

    @property
    def PUSH_MAX_ATTEMPTS(self) -> int:
        """Tries of one push before it is given up (default 8, over about an hour of backoff)."""
        return int(self._get("PUSH_MAX_ATTEMPTS", 8))

    @property
    def PUSH_TIMEOUT(self) -> float:
        """Seconds the sender waits for a push service's answer (default 10)."""
        return float(self._get("PUSH_TIMEOUT", 10))

    @property
    def DIGEST_EVERY(self) -> int:
        """Seconds between two digests of one person (default a day)."""
        return int(self._get("DIGEST_EVERY", 24 * 3600))

    @property
    def PUSH_SERVICE_HOSTS(self) -> list[str]:
        """Hosts (and their subdomains) a subscription's endpoint may point at: the browsers' push
        services. The server POSTs to that URL, so nothing else (no intranet address) is accepted."""
        return list(
            self._get(
                "PUSH_SERVICE_HOSTS",
                [
                    "fcm.googleapis.com",
                    "push.services.mozilla.com",
                    "notify.windows.com",
                    "push.apple.com",
                ],
            )
        )


app_settings = AppSettings()
