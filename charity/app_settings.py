"""Settings of the real-time transport shared by every socket (limits, proxies), read lazily.

Each is a Django setting named ``REALTIME_<NAME>``; see docs/security.md for how to tune them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


class AppSettings:
    prefix = "REALTIME_"

    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, self.prefix + name, default)

    @property
    def CONNECTIONS_PER_KEY(self) -> int:
        """New sockets one person (user, or help-request token) may open per window."""
        return int(self._get("CONNECTIONS_PER_KEY", 100))

    @property
    def CONNECTIONS_PER_IP(self) -> int:
        """Looser backstop per client address (shelters and libraries share one)."""
        return int(self._get("CONNECTIONS_PER_IP", 1000))

    @property
    def CONNECTION_WINDOW(self) -> int:
        """Seconds of the connection rate window."""
        return int(self._get("CONNECTION_WINDOW", 300))

    @property
    def HELP_REQUESTS_PER_IP(self) -> int:
        """Help requests one client address may open per ``HELP_REQUEST_WINDOW`` (anonymous form and API)."""
        return int(self._get("HELP_REQUESTS_PER_IP", 20))

    @property
    def HELP_REQUEST_WINDOW(self) -> int:
        """Seconds of the help-request rate window."""
        return int(self._get("HELP_REQUEST_WINDOW", 3600))

    @property
    def HTTP_WRITES_PER_MINUTE(self) -> int:
        """Writes (POSTs) to the REST API one person may make a minute (charity/throttles.py)."""
        return int(self._get("HTTP_WRITES_PER_MINUTE", 120))

    @property
    def HTTP_RECEIPTS_PER_MINUTE(self) -> int:
        """Acks and read marks through the REST API one person may send a minute (the fallback's own)."""
        return int(self._get("HTTP_RECEIPTS_PER_MINUTE", 1200))

    @property
    def HTTP_WRITES_PER_IP(self) -> int:
        """Anonymous REST API writes one client address may make a minute (a loose backstop)."""
        return int(self._get("HTTP_WRITES_PER_IP", 1200))

    @property
    def MESSAGE_RATE(self) -> float:
        """Frames per second a socket may send, sustained (token bucket refill)."""
        return float(self._get("MESSAGE_RATE", 10.0))

    @property
    def MESSAGE_BURST(self) -> int:
        """Frames a socket may send at once (token bucket size)."""
        return int(self._get("MESSAGE_BURST", 20))

    @property
    def MESSAGE_VIOLATIONS_BEFORE_CLOSE(self) -> int:
        """Frames refused for rate within one minute before the socket is closed with 4429."""
        return int(self._get("MESSAGE_VIOLATIONS_BEFORE_CLOSE", 50))

    @property
    def SOCKETS_PER_USER(self) -> int:
        """Open sockets one person may hold across every process."""
        return int(self._get("SOCKETS_PER_USER", 20))

    @property
    def SOCKETS_PER_PROCESS(self) -> int:
        """Open sockets one server process accepts; past it new ones are refused (4429)."""
        return int(self._get("SOCKETS_PER_PROCESS", 10_000))

    @property
    def TRUSTED_PROXIES(self) -> list[str]:
        """Addresses or networks of proxies whose X-Forwarded-For is believed. Empty: none.

        A list, or one comma-separated string (as the environment variable gives it)."""
        value = self._get("TRUSTED_PROXIES", [])
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return [str(entry) for entry in value]

    @property
    def BIND(self) -> str:
        """The address daphne listens on (its ``-b``), as the deployment states it: the system check
        warns when that is loopback (a proxy in front) and no trusted proxy is configured."""
        return str(self._get("BIND", "127.0.0.1"))

    @property
    def REGISTRY_TTL(self) -> float:
        """Seconds after which a socket whose process stopped refreshing it no longer counts."""
        return float(self._get("REGISTRY_TTL", 90))


app_settings = AppSettings()
