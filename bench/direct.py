"""The one-to-one phase: ``notify_user()`` to distinct connected people, many times a second.

A donation confirmed, a shift for one person: many small ``notify()`` calls, each its own
transaction, each for one socket. N people are connected (one logged-in socket each); a separate
process (``bench/publisher.py``, command ``direct``) calls ``notify_user()`` at a fixed rate, message
``i`` for the ``(i mod N)``-th person, so every message has exactly one socket to reach.

The reference is B0 doing the least the same job needs: one committed ``INSERT`` (psycopg,
autocommit) and the frame written to one socket (``@k|`` in ``bench/servers/b0.py``). Both run in the
same run, on the same machine, with the same client; the ratio of their p99 is the result.

Keeping up: the median latency of the last fifth of the messages is no more than twice that of the
first fifth (and nothing lost), as for the fan-out's steady phase.
"""

from __future__ import annotations

import statistics
import time
from types import ModuleType
from typing import Any

REFERENCE = "b0"
SERVERS = (REFERENCE, "project")


def settings_for(mode: str) -> dict[str, float]:
    """People connected, messages per second and seconds, per benchmark mode."""
    return {
        "full": {"n": 1000, "rate": 200.0, "seconds": 30.0},
        "quick": {"n": 1000, "rate": 200.0, "seconds": 10.0},
        "smoke": {"n": 5, "rate": 20.0, "seconds": 1.0},
    }[mode]


def run_phase(bench: Any, tools: ModuleType) -> dict[str, Any]:
    """Both servers at the mode's size; ``tools`` is the orchestrator's module (``bench.run``)."""
    plan = settings_for(bench.config.mode)
    results: dict[str, Any] = {"plan": plan}
    for kind in SERVERS:
        tools.log(f"one-to-one: {kind}, {int(plan['n'])} people, {plan['rate']:g}/s for {plan['seconds']:g} s")
        results[kind] = measure_server(bench, tools, kind, int(plan["n"]), plan["rate"], plan["seconds"])
        bench.clear_redis()
    reference, project = results[REFERENCE], results["project"]
    try:
        results["p99_ratio"] = round(project["latency_ms"]["p99"] / reference["latency_ms"]["p99"], 2)
    except (KeyError, TypeError, ZeroDivisionError):
        results["p99_ratio"] = None
    return results


def measure_server(bench: Any, tools: ModuleType, kind: str, n: int, rate: float, seconds: float) -> dict[str, Any]:
    if kind == "project":
        bench.reset_project_state(n)
    server = tools.Server(kind, bench.server_env(kind), bench.log_dir / f"direct-{kind}-{n}.log")
    server.start()
    publisher = bench.publisher(server)
    procs = 1 if n < 200 else bench.config.client_procs
    pool = tools.ClientPool(procs, bench.base_env(), bench.log_dir)
    result: dict[str, Any] = {"n": n, "rate": rate, "seconds": seconds}
    try:
        connect = pool.connect(server, n, bench.cookies[:n] if kind == "project" else None)
        result["connect"] = {key: connect[key] for key in ("connected", "failed", "seconds")}
        if connect["connected"] < n:
            result["refused"] = True
            return result
        # Warm up: one message to each of the first few people (first database and Redis use).
        warm = min(n, 20)
        publisher.call({"cmd": "direct", "start": 0, "count": warm, "rate": 0})
        pool.collect(list(range(warm)), timeout=15, idle=3, direct=True)
        time.sleep(0.5)
        start, count = n, max(3, round(rate * seconds))  # a fresh person for every one of the first n
        seqs = list(range(start, start + count))
        pool.reset()
        cpu_before = tools.cpu_seconds(server.pid)
        sent = publisher.call({"cmd": "direct", "start": start, "count": count, "rate": rate})
        got = pool.collect(seqs, timeout=bench.config.drain_seconds, idle=3.0, direct=True)
        cpu = tools.cpu_seconds(server.pid) - cpu_before
    finally:
        pool.close()
        publisher.close()
        server.stop()
    latencies = got["latencies"]
    by_seq = [got["last_arrival"][seq][1] for seq in seqs if seq in got["last_arrival"]]
    fifth = max(1, len(by_seq) // 5)
    early = statistics.median(by_seq[:fifth]) if by_seq else None
    late = statistics.median(by_seq[-fifth:]) if by_seq else None
    lost = got["expected"] - got["delivered"]
    result.update(
        {
            "messages": count,
            "delivered": got["delivered"],
            "lost": lost,
            "duplicates": got["duplicates"],
            "out_of_order": got["out_of_order"],
            "latency_ms": {
                "p50": tools.ms(tools.percentile(latencies, 50)),
                "p95": tools.ms(tools.percentile(latencies, 95)),
                "p99": tools.ms(tools.percentile(latencies, 99)),
                "max": tools.ms(max(latencies) if latencies else None),
            },
            "achieved_rate": round(count / max(sent["last_ts"] - sent["first_ts"], 1e-6), 1),
            "publish_ms_p50": sent["publish_ms_p50"],
            "publish_ms_p99": sent.get("publish_ms_p99"),
            "median_ms_first_fifth": tools.ms(early),
            "median_ms_last_fifth": tools.ms(late),
            "keeps_up": bool(early is not None and late is not None and late <= 2 * early + 0.005 and lost == 0),
            "server_cpu_seconds": round(cpu, 3),
            "server_cpu_ms_per_message": round(cpu * 1000 / got["delivered"], 3) if got["delivered"] else None,
        }
    )
    return result


# -- report (docs/performance.md's generated section) ----------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def target_row(results: dict[str, Any]) -> tuple[str, str, str] | None:
    """The one-to-one target: (target, measured, verdict) or None when the phase did not run."""
    phase = results.get("direct")
    if not phase:
        return None
    project, reference = phase.get("project", {}), phase.get(REFERENCE, {})
    ratio = phase.get("p99_ratio")
    plan = phase["plan"]
    keeps_up = project.get("keeps_up")
    rate_ok = (project.get("achieved_rate") or 0) >= 0.95 * plan["rate"]
    met = None if ratio is None else bool(ratio <= 2 and keeps_up and rate_ok and project.get("lost") == 0)
    measured = (
        f"{_fmt(project.get('achieved_rate'))}/s of {plan['rate']:g}/s for {plan['seconds']:g} s; p99 "
        f"{_fmt(_p99(project))} ms vs the raw reference {_fmt(_p99(reference))} ms ({_fmt(ratio, 2)}x); last fifth "
        f"{_fmt(project.get('median_ms_last_fifth'))} ms vs first {_fmt(project.get('median_ms_first_fifth'))} ms; "
        f"lost {_fmt(project.get('lost'))}"
    )
    return (
        f"one-to-one: `notify_user()` to {int(plan['n']):,} distinct people at {plan['rate']:g}/s from another "
        "process keeps up, p99 ≤ 2x one committed insert + one frame to one socket",
        measured,
        "-" if met is None else ("met" if met else "**not met**"),
    )


def _p99(row: dict[str, Any]) -> Any:
    return (row.get("latency_ms") or {}).get("p99")


def report_lines(results: dict[str, Any]) -> list[str]:
    phase = results.get("direct")
    if not phase:
        return []
    plan = phase["plan"]
    lines = [
        "### One-to-one notifications",
        "",
        f"{int(plan['n']):,} people connected, one socket each; another process sends {plan['rate']:g} messages "
        f"a second for {plan['seconds']:g} s, each to one person (the next one along): the project calls "
        "`notify_user()` (its own transaction: the notification, its receipt, the publish after commit); the "
        "raw reference (B0 on stock daphne) commits one `INSERT` with psycopg and writes the frame to one socket. "
        "Latency is from just before the call to the frame's arrival. *Call ms* is how long the call took in "
        "the sending process; *CPU* is the server's per message.",
        "",
        "| server | sent/s | lost | dup | p50 ms | p99 ms | max ms | first fifth ms | last fifth ms "
        "| keeps up | call ms p50 / p99 | server CPU ms/message |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for kind, label in ((REFERENCE, "raw reference (B0 + INSERT)"), ("project", "this project")):
        row = phase.get(kind, {})
        latency = row.get("latency_ms") or {}
        lines.append(
            f"| {label} | {_fmt(row.get('achieved_rate'))} | {_fmt(row.get('lost'))} | {_fmt(row.get('duplicates'))} "
            f"| {_fmt(latency.get('p50'))} | {_fmt(latency.get('p99'))} | {_fmt(latency.get('max'))} "
            f"| {_fmt(row.get('median_ms_first_fifth'))} | {_fmt(row.get('median_ms_last_fifth'))} "
            f"| {_fmt(row.get('keeps_up'))} "
            f"| {_fmt(row.get('publish_ms_p50'), 2)} / {_fmt(row.get('publish_ms_p99'), 2)} "
            f"| {_fmt(row.get('server_cpu_ms_per_message'), 2)} |"
        )
    lines.append("")
    return lines
