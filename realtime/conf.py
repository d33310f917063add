"""Settings of the real-time engine (limits, proxies, sockets), one typed property each, read lazily.

Each is a Django setting named ``REALTIME_<NAME>``; see docs/security.md for how to tune them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


class PrefixedSettings:
    """Base of each app's settings object: one typed property per setting, all under ``prefix``,
    read from Django's settings each time (so tests and ``override_settings`` see changes)."""

    prefix = ""

    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, self.prefix + name, default)


class AppSettings(PrefixedSettings):
    prefix = "REALTIME_"

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
        """Writes (POSTs) to the REST API one person may make a minute (realtime/throttles.py)."""
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
    def CONNECT_THREADS(self) -> int:
        """Worker threads (each with its own database connection) that read for connecting sockets:
        their session, user and roles, then their replay (``realtime.executors``)."""
        return int(self._get("CONNECT_THREADS", 4))

    @property
    def CONNECT_CONNECTIONS(self) -> int:
        """Asynchronous PostgreSQL connections per server process that read who a connecting socket
        is, on the event loop (its session, then its user and groups: ``charity.socket_auth``)."""
        return int(self._get("CONNECT_CONNECTIONS", 4))

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
    def MAX_FRAME_BYTES(self) -> int:
        """Largest inbound frame, in UTF-8 bytes; larger: an error frame, then close 4413."""
        return int(self._get("MAX_FRAME_BYTES", 64 * 1024))

    @property
    def HEARTBEAT_TIMEOUT(self) -> float:
        """Seconds of silence after which a socket is presumed dead and closed (4408)."""
        return float(self._get("HEARTBEAT_TIMEOUT", 90))

    @property
    def GROUP_REFRESH_INTERVAL(self) -> float:
        """Seconds between refreshes of each open socket's registry entry."""
        return float(self._get("GROUP_REFRESH_INTERVAL", 30))

    @property
    def REGISTRY_TTL(self) -> float:
        """Seconds after which a socket whose process stopped refreshing it no longer counts."""
        return float(self._get("REGISTRY_TTL", 90))

    @property
    def ROLES_FUNCTION(self) -> str:
        """Dotted path of ``f(user) -> frozenset of role names``: the roles whose groups
        (``groups.role_group``) a person's sockets join, re-read when their access changes."""
        return str(self._get("ROLES_FUNCTION", "realtime.conf.staff_and_group_roles"))

    def roles_for(self, user: Any) -> frozenset[Any]:
        function: Callable[[Any], frozenset[Any]] = import_string(self.ROLES_FUNCTION)
        return function(user)


def staff_and_group_roles(user: Any) -> frozenset[str]:
    """The default roles of a person: ``staff`` for staff members, plus the names of their auth groups
    that are role names (``groups.ROLE_NAME``)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    from realtime.groups import ROLE_NAME

    roles = {group.name for group in user.groups.all() if ROLE_NAME.match(group.name)}
    if user.is_staff:
        roles.add("staff")
    return frozenset(roles)


app_settings = AppSettings()
