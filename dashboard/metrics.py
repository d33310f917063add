"""``/metrics`` for Prometheus: the dashboard's figures (from the same function) plus this process's
counters (realtime.metrics). Who may scrape is a setting: ``METRICS_ALLOWED_IPS`` (default loopback)
or a bearer token ``METRICS_TOKEN``."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from realtime.limits import request_client_ip

# Figures that are plain numbers, exported as gauges named charity_<name>.
NUMERIC = [
    "waiting",
    "oldest_wait_seconds",
    "assigned_today",
    "resolved_today",
    "donations_today",
    "volunteers_online",
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
        from dashboard.selectors import dashboard_snapshot

        metrics = dashboard_snapshot()["metrics"]
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


_collector = DashboardCollector()
REGISTRY.register(_collector)


def _allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header, f"Bearer {token}"):
        return True
    return request_client_ip(request) in getattr(settings, "METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type="text/plain; version=0.0.4; charset=utf-8")
