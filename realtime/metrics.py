"""Operator metrics of this process (Prometheus), next to the dashboard's figures (dashboard.metrics).

Counters are per process; scrape every daphne process (each serves ``/metrics``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from realtime.registry import PROCESS

OPEN_SOCKETS = Gauge("charity_open_sockets", "Open sockets in this process", ["endpoint", "role", "process"])
FRAMES_IN = Counter("charity_frames_in_total", "Frames received from clients", ["endpoint"])
FRAMES_OUT = Counter("charity_frames_out_total", "Frames sent to clients", ["endpoint"])
ERROR_FRAMES = Counter("charity_error_frames_total", "Error frames sent, by code", ["endpoint", "code"])
REFUSALS = Counter(
    "charity_rate_limit_refusals_total", "Connections or frames refused by a limit", ["endpoint", "what"]
)
REPLAY_SIZE = Histogram(
    "charity_replay_size", "Notifications replayed on connect", buckets=(0, 1, 5, 10, 50, 100, 500, 1000)
)
NOTIFY_TO_SEND = Histogram(
    "charity_notify_to_send_seconds",
    "From notify() to the frame leaving the last socket of its group in this process",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

__all__ = [
    "ERROR_FRAMES",
    "FRAMES_IN",
    "FRAMES_OUT",
    "NOTIFY_TO_SEND",
    "OPEN_SOCKETS",
    "PROCESS",
    "REFUSALS",
    "REPLAY_SIZE",
]
