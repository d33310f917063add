"""System checks of the deployment settings that decide who a client is (Django's check framework).

Registered by ``realtime.apps.RealtimeConfig``; they run with every management command
(``manage.py check``, ``migrate``, ``runserver``) and in ``check --deploy``, and the errors also at
the start of the ASGI application (``startup_errors``), so a server with an unusable proxy list
refuses to start instead of answering every request with the proxy's address or a 500.

* ``realtime.E001``: an entry of ``REALTIME_TRUSTED_PROXIES`` is not an address or a network.
* ``realtime.E002``: an entry of ``METRICS_ALLOWED_IPS`` is not an address or a network.
* ``realtime.W001``: ``DEBUG`` is off, daphne is bound to loopback (``REALTIME_BIND``, default
  ``127.0.0.1``: the documented deployment behind nginx) and no trusted proxy is configured. Every
  client then has the proxy's address: address limits become one limit for everyone.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from realtime.conf import app_settings
from realtime.limits import parse_networks


def _invalid_entries(setting: str, entries: list[str], error_id: str) -> list[checks.CheckMessage]:
    _, invalid = parse_networks(tuple(entries))
    return [
        checks.Error(
            f"{setting} entry {entry!r} is not an IP address or network.",
            hint=f"Comma-separated addresses or CIDR networks, e.g. {setting}=127.0.0.1,10.0.0.0/8.",
            id=error_id,
        )
        for entry in invalid
    ]


@checks.register(checks.Tags.security)
def check_trusted_proxies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every trusted proxy entry parses (``realtime.E001``)."""
    return _invalid_entries("REALTIME_TRUSTED_PROXIES", app_settings.TRUSTED_PROXIES, "realtime.E001")


@checks.register(checks.Tags.security)
def check_metrics_allowlist(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every ``/metrics`` allow-list entry parses (``realtime.E002``)."""
    entries = [str(entry) for entry in getattr(settings, "METRICS_ALLOWED_IPS", [])]
    return _invalid_entries("METRICS_ALLOWED_IPS", entries, "realtime.E002")


def _is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@checks.register(checks.Tags.security)
def check_proxy_configured(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A production server bound to loopback sits behind a proxy, which must be trusted (``realtime.W001``)."""
    if settings.DEBUG or app_settings.TRUSTED_PROXIES or not _is_loopback(app_settings.BIND):
        return []
    return [
        checks.Warning(
            f"DEBUG is off and daphne is bound to loopback (REALTIME_BIND={app_settings.BIND}), so it is "
            "behind a proxy, but REALTIME_TRUSTED_PROXIES is empty: every client has the proxy's address "
            "and each per-address limit becomes one limit for everyone.",
            hint="Set REALTIME_TRUSTED_PROXIES to the proxy's address (e.g. 127.0.0.1) and have it send "
            "X-Forwarded-For (docs/operations.md); or, if daphne faces clients directly, set REALTIME_BIND "
            "to the address it listens on.",
            id="realtime.W001",
        )
    ]


def startup_errors() -> list[checks.CheckMessage]:
    """The errors above, for a server starting without a management command."""
    return [*check_trusted_proxies(), *check_metrics_allowlist()]


def refuse_to_start_on_errors() -> None:
    """Raise ``ImproperlyConfigured`` naming every bad setting (the ASGI application calls this)."""
    errors = startup_errors()
    if errors:
        raise ImproperlyConfigured("; ".join(f"{error.id}: {error.msg}" for error in errors))
