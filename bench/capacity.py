"""A capacity model derived from one run's measurements (docs/performance.md's generated section).

Every figure comes from the run's results; the projections are arithmetic on them, stated in the
table so a reader can redo it: sockets a process holds in memory, deliveries a core makes, connects a
process accepts, and ``notify()`` against the role's size on PostgreSQL. "Today" is the size the
benchmark measures (1,000 people connected at once); 10x and 100x scale people, broadcasts and chat
together.
"""

from __future__ import annotations

from typing import Any

# What a deployment would give one server process (a 2 GiB container is common) and how many
# role-wide notifications a busy day has: assumptions, named in the table.
PROCESS_MEMORY_GIB = 2.0
BROADCASTS_PER_DAY = 50
TODAY_PEOPLE = 1000


def _get(data: Any, *path: Any) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def measured(results: dict[str, Any]) -> dict[str, float | None]:
    """The run's figures the model uses (None where a phase did not run)."""
    project = _get(results, "fanout", "project") or {}
    sizes = sorted(int(n) for n, row in project.items() if "connect" in row)
    largest = project.get(str(sizes[-1])) if sizes else None
    rss = _get(largest, "rss_kib_per_connection")
    cpu_per_1000 = _get(project, "1000", "burst", "server_cpu_ms_per_1000")
    connect = _get(largest, "connect") or {}
    storm = results.get("storm") or {}
    connects_per_second = None
    for n in sorted((key for key in _get(storm, "project") or {} if key.isdigit()), key=int, reverse=True):
        row = storm["project"][n]
        seconds = row.get("seconds_to_all_synced") or row.get("total_seconds") or row.get("seconds")
        if seconds:
            connects_per_second = int(n) / seconds
            break
    if connects_per_second is None and connect.get("seconds"):
        connects_per_second = connect["connected"] / connect["seconds"]
    notify = results.get("notify") or {}
    return {
        "rss_kib_per_socket": rss,
        "delivery_us": cpu_per_1000,  # ms per 1,000 deliveries = µs per delivery
        "connects_per_second": connects_per_second,
        "notify_1k_s": _get(notify, "role_1000", "seconds_median"),
        "notify_10k_s": _get(notify, "role_10000", "seconds_median"),
        "notify_100k_s": _get(notify, "role_100000", "seconds_median"),
        "receipt_bytes": _get(notify, "receipt_bytes", "bytes_per_receipt"),
    }


def _fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def _notify_seconds(figures: dict[str, float | None], people: int) -> float | None:
    """notify_role() time for a role of ``people``: measured at 1k/10k/100k, linear beyond."""
    points = [(1000, figures["notify_1k_s"]), (10_000, figures["notify_10k_s"]), (100_000, figures["notify_100k_s"])]
    known = [(n, s) for n, s in points if s is not None]
    if not known:
        return None
    for n, seconds in known:
        if n == people:
            return seconds
    n, seconds = known[-1]
    return seconds * people / n


def report_lines(results: dict[str, Any]) -> list[str]:
    figures = measured(results)
    if figures["rss_kib_per_socket"] is None or figures["delivery_us"] is None:
        return []
    rss, delivery_us = figures["rss_kib_per_socket"], figures["delivery_us"]
    connects = figures["connects_per_second"]
    sockets_per_process = PROCESS_MEMORY_GIB * 1024 * 1024 / rss if rss else None
    lines = [
        "### Capacity model (from this run)",
        "",
        f"Per server process, measured: {_fmt(rss, 1)} KiB of RSS per idle socket (the largest size), so "
        f"{_fmt(sockets_per_process)} sockets in {PROCESS_MEMORY_GIB:g} GiB; {_fmt(delivery_us, 1)} µs of CPU "
        f"per delivery in a burst, so {_fmt(1e6 / delivery_us if delivery_us else None)} deliveries per "
        f"core-second; {_fmt(connects)} logged-in connects per second (to synced) while every socket "
        "connects at once. `notify_role()` on PostgreSQL: "
        f"{_fmt(figures['notify_1k_s'], 3)} s for 1,000, {_fmt(figures['notify_10k_s'], 3)} s for 10,000, "
        f"{_fmt(figures['notify_100k_s'], 3)} s for 100,000 recipients (one statement each); a receipt takes "
        f"{_fmt(figures['receipt_bytes'])} bytes on disk.",
        "",
        f"Projected (arithmetic on those figures; {BROADCASTS_PER_DAY} role-wide notifications a day, "
        f"processes of {PROCESS_MEMORY_GIB:g} GiB):",
        "",
        "| scale | people connected | processes for memory | one role-wide notification: CPU s (all processes) "
        "| everyone reconnects (1 process / 4) | notify_role() s | receipts per day |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, factor in (("today", 1), ("10x", 10), ("100x", 100)):
        people = TODAY_PEOPLE * factor
        processes = max(1, -(-people // int(sockets_per_process))) if sockets_per_process else None
        cpu = people * delivery_us / 1e6 if delivery_us else None
        storm = f"{_fmt(people / connects, 1)} s / {_fmt(people / connects / 4, 1)} s" if connects else "-"
        lines.append(
            f"| {label} | {people:,} | {_fmt(processes)} | {_fmt(cpu, 2)} | {storm} "
            f"| {_fmt(_notify_seconds(figures, people), 3)} | {people * BROADCASTS_PER_DAY:,} |"
        )
    lines.append("")
    return lines
