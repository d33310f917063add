"""``/metrics`` for Prometheus: the dashboard's figures (from the same function) plus this process's
counters (realtime.metrics).

Who may scrape: whoever sends ``Authorization: Bearer <METRICS_TOKEN>``, or a client address in
``METRICS_ALLOWED_IPS`` (addresses or networks, through the trusted-proxy rule), which is empty
unless set: behind a proxy every client would otherwise be loopback. Neither set: nobody (403).

The dashboard's figures cost several queries; a scrape serves the last ones computed, kept in the
shared cache for ``DASHBOARD_REFRESH_INTERVAL`` seconds, so scrapes of every process within that
interval compute them once.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from realtime.cache import shared_cache
from realtime.limits import parse_networks, request_client_ip

FIGURES_KEY = "dashboard:metrics-figures"

# Figures that are plain numbers, exported as gauges named charity_<name>.
NUMERIC = [
    "waiting",
    "urgent_waiting",
    "oldest_wait_seconds",
    "longest_unanswered_seconds",
    "helpers_at_capacity",
    "assigned_today",
    "resolved_today",
    "donations_today",
    "volunteers_online",
    "helpers_on_duty",
    "connections",
    "notifications_last_hour",
    "undelivered",
]


class DashboardCollector(Collector):
    """Computes the dashboard snapshot at scrape time: the same function the admin uses."""

    def describe(self) -> Iterator[Any]:
        # Names only: without this, registering would compute the figures (a database query) at import.
        for name in NUMERIC:
            yield GaugeMetricFamily(f"charity_{name}", f"Dashboard figure: {name}")
        yield GaugeMetricFamily("charity_donations_today_amount", "Confirmed donations today, GBP")
        yield GaugeMetricFamily("charity_connections_by_role", "Open sockets, all processes", labels=["role"])
        yield GaugeMetricFamily("charity_connections_by_process", "Open sockets by process", labels=["process"])

    def collect(self) -> Iterator[Any]:
        metrics = dashboard_figures()
        for name in NUMERIC:
            yield GaugeMetricFamily(f"charity_{name}", f"Dashboard figure: {name}", value=float(metrics[name]))
        yield GaugeMetricFamily(
            "charity_donations_today_amount",
            "Confirmed donations today, GBP",
            value=float(metrics["donations_today_amount"]),
        )
        by_role = GaugeMetricFamily("charity_connections_by_role", "Open sockets, all processes", labels=["role"])
        for role, count in metrics["connections_by_role"].items():
            by_role.add_metric([role], count)
        yield by_role
        by_process = GaugeMetricFamily("charity_connections_by_process", "Open sockets by process", labels=["process"])
        for process, count in metrics["connections_by_process"].items():
            by_process.add_metric([process], count)
        yield by_process


def dashboard_figures() -> dict[str, Any]:
    """The dashboard's figures as last computed, at most ``DASHBOARD_REFRESH_INTERVAL`` seconds old."""
    figures: dict[str, Any] | None = shared_cache().get(FIGURES_KEY)
    if figures is None:
        from dashboard.selectors import dashboard_snapshot

        figures = dashboard_snapshot()["metrics"]
        ttl = max(1, math.ceil(float(getattr(settings, "DASHBOARD_REFRESH_INTERVAL", 5.0))))
        shared_cache().set(FIGURES_KEY, figures, timeout=ttl)
    return figures


_collector = DashboardCollector()
REGISTRY.register(_collector)


def _allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    allowed, _ = parse_networks(tuple(str(entry) for entry in getattr(settings, "METRICS_ALLOWED_IPS", [])))
    if not allowed:
        return False
    try:
        address = ipaddress.ip_address(request_client_ip(request))
    except ValueError:
        return False
    return any(address in network for network in allowed)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type="text/plain; version=0.0.4; charset=utf-8")
