"""Turns a run's JSON results into docs/performance.md (between markers) and docs/performance.png.

Only the part of docs/performance.md between ``<!-- bench:results:start -->`` and
``<!-- bench:results:end -->`` is generated; the analysis around it is written by hand and kept.

    python -m bench.report bench/results/latest-full.json    # regenerate from saved results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import capacity, direct, sse, storm
from bench import chat as chat_phase

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
LABELS = {"b0": "B0 raw ASGI", "b1": "B1 plain Channels", "project": "this project"}
COLOURS = {"b0": "#2b8a3e", "b1": "#c92a2a", "project": "#1c7ed6"}


def _get(data: Any, *path: Any) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _count(number: Any, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b in (None, 0):
        return None
    return float(a) / float(b)


def fanout_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| server | sockets | connect s | RSS KiB/socket | one broadcast: last socket ms | burst msgs x sockets "
        "| burst deliveries/s | burst lost | burst p99 ms | CPU ms/1000 burst | steady p50 / p99 ms | steady lost "
        "| keeps up | CPU ms/1000 steady | dup / reordered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for kind, sizes in results["fanout"].items():
        for n, row in sizes.items():
            if row.get("skipped"):
                lines.append(f"| {LABELS[kind]} | {_fmt(int(n))} | skipped: {row['skipped']} |" + " |" * 12)
                continue
            connect = row.get("connect", {})
            if row.get("refused"):
                lines.append(
                    f"| {LABELS[kind]} | {_fmt(int(n))} | {_fmt(connect.get('seconds'))} | - | "
                    f"{connect.get('failed')} sockets refused |" + " |" * 10
                )
                continue
            burst, steady = row.get("burst", {}), row.get("steady", {})
            dup = (burst.get("duplicates", 0) or 0) + (steady.get("duplicates", 0) or 0)
            ooo = (burst.get("out_of_order", 0) or 0) + (steady.get("out_of_order", 0) or 0)
            lines.append(
                f"| {LABELS[kind]} | {_fmt(int(n))} | {_fmt(connect.get('seconds'))} "
                f"| {_fmt(row.get('rss_kib_per_connection'))} "
                f"| {_fmt(_get(row, 'single', 'last_client_ms_median'))} "
                f"| {burst.get('messages')} x {_fmt(connect.get('connected'))} "
                f"| {_fmt(burst.get('deliveries_per_second'))} | {_fmt(burst.get('lost'))} "
                f"| {_fmt(_get(burst, 'latency_ms', 'p99'))} | {_fmt(burst.get('server_cpu_ms_per_1000'))} "
                f"| {_fmt(_get(steady, 'latency_ms', 'p50'))} / {_fmt(_get(steady, 'latency_ms', 'p99'))} "
                f"| {_fmt(steady.get('lost'))} | {_fmt(steady.get('keeps_up'))} "
                f"| {_fmt(steady.get('server_cpu_ms_per_1000'))} | {dup} / {ooo} |"
            )
    return lines


def _spread(row: dict[str, Any]) -> bool:
    """Each server process held sockets and did at least a quarter of an even share of the burst's work."""
    sockets = _get(row, "connect", "connected_per_server") or []
    cpu = _get(row, "burst", "server_cpu_seconds_per_process") or []
    if len(cpu) < 2 or not all(sockets):
        return False
    even = sum(cpu) / len(cpu)
    return even > 0 and min(cpu) >= 0.25 * even


def procs_lines(results: dict[str, Any]) -> list[str]:
    """The project on several server processes behind one Redis, beside the single process at each size."""
    procs = results.get("fanout_procs") or {}
    rows = procs.get("project") or {}
    if not rows:
        return []
    lines = [
        f"### {procs['server_procs']} server processes behind one Redis",
        "",
        "The same fan-out on the project started as several daphne processes (`--server-procs`), each load "
        "client process connecting to one of them in turn, as a proxy would spread them; the publisher's "
        "`notify_role()` reaches every process through Redis. CPU is summed over the processes, and split "
        "per process for the burst.",
        "",
        "| sockets | processes | connected per process | connect s | burst deliveries/s | burst CPU ms/1000 "
        "| burst CPU s per process | steady p99 ms | lost | keeps up |",
        "|---:|---:|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for n, row in sorted(rows.items(), key=lambda item: int(item[0])):
        for label, source in (("1", _get(results, "fanout", "project", n) or {}), (str(procs["server_procs"]), row)):
            if "burst" not in source:
                continue
            lost = (_get(source, "burst", "lost") or 0) + (_get(source, "steady", "lost") or 0)
            lines.append(
                f"| {int(n):,} | {label} | {_get(source, 'connect', 'connected_per_server') or '-'} "
                f"| {_fmt(_get(source, 'connect', 'seconds'))} "
                f"| {_fmt(_get(source, 'burst', 'deliveries_per_second'))} "
                f"| {_fmt(_get(source, 'burst', 'server_cpu_ms_per_1000'))} "
                f"| {_get(source, 'burst', 'server_cpu_seconds_per_process') or '-'} "
                f"| {_fmt(_get(source, 'steady', 'latency_ms', 'p99'))} | {lost} "
                f"| {_fmt(_get(source, 'steady', 'keeps_up'))} |"
            )
    lines.append("")
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for the eight targets of the issue."""
    fan = results["fanout"]
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else ("met" if ok else "**not met**")

    b0, b1, pr = (_get(fan, kind, "1000") or {} for kind in ("b0", "b1", "project"))
    dps = {kind: _get(row, "burst", "deliveries_per_second") for kind, row in (("b0", b0), ("b1", b1), ("pr", pr))}
    r0, r1 = _ratio(dps["pr"], dps["b0"]), _ratio(dps["pr"], dps["b1"])
    lost = _get(pr, "burst", "lost")
    rows.append(
        (
            "1. burst to 1,000: ≥ 0.5x B0's deliveries/s, zero lost",
            f"{_fmt(dps['pr'])}/s = {_fmt(r0, 3)}x B0 ({_fmt(dps['b0'])}/s), {_fmt(r1, 2)}x B1; lost {_fmt(lost)}",
            verdict(None if r0 is None else (r0 >= 0.5 and lost == 0)),
        )
    )
    for n in ("1000", "100"):
        p, b = _get(fan, "project", n, "steady") or {}, _get(fan, "b0", n, "steady") or {}
        p99, b99 = _get(p, "latency_ms", "p99"), _get(b, "latency_ms", "p99")
        ratio = _ratio(p99, b99)
        ok = None if ratio is None else ratio <= 2 and p.get("lost") == 0 and bool(p.get("keeps_up"))
        rows.append(
            (
                f"2. steady notify() at {int(n):,} sockets, 10/s: keeps up, zero lost, p99 ≤ 2x B0",
                f"p99 {_fmt(p99)} ms vs B0 {_fmt(b99)} ms ({_fmt(ratio, 1)}x); lost {_fmt(p.get('lost'))}; "
                f"keeps up {_fmt(p.get('keeps_up'))}",
                verdict(ok),
            )
        )
    cpu_p, cpu_1 = _get(pr, "burst", "server_cpu_ms_per_1000"), _get(b1, "burst", "server_cpu_ms_per_1000")
    ratio = _ratio(cpu_p, cpu_1)
    rows.append(
        (
            "3. server CPU per delivery ≤ 0.25x B1's (burst, 1,000)",
            f"{_fmt(cpu_p)} vs {_fmt(cpu_1)} ms per 1,000 ({_fmt(ratio, 2)}x)",
            verdict(None if ratio is None else ratio <= 0.25),
        )
    )
    redis = results.get("redis_per_notify", {})
    small, large = _get(redis, "10", "commands_per_notify"), _get(redis, "1000", "commands_per_notify")
    ratio = _ratio(large, small)
    bytes_small, bytes_large = (
        _get(redis, "10", "command_bytes_per_notify"),
        _get(redis, "1000", "command_bytes_per_notify"),
    )
    rows.append(
        (
            "4. Redis commands per notify() at 1,000 ≤ 1.1x at 10",
            f"{_fmt(small)} → {_fmt(large)} commands ({_fmt(ratio, 2)}x); bytes sent in them "
            f"{_fmt(bytes_small)} → {_fmt(bytes_large)} ({_fmt(_ratio(bytes_large, bytes_small), 0)}x)",
            verdict(None if ratio is None else ratio <= 1.1),
        )
    )
    reconnect = results.get("reconnect", {})
    if reconnect:
        totals = [reconnect[k]["statements_total"] for k in ("1", "100", "1000") if k in reconnect]
        replay = [reconnect[k]["statements_replay"] for k in ("1", "100", "1000") if k in reconnect]
        last = _get(reconnect, "1000", "over_daphne", "last_notification_ms_median")
        # The flush is the replay's own statements; the rest of a connect (session, user, roles) is constant too.
        ok = len(set(totals)) == 1 and max(replay) <= 3 and last is not None and last <= 200
        rows.append(
            (
                "5. reconnect flush: same ≤ 3 SQL statements for 1 / 100 / 1,000; last of 1,000 within 200 ms",
                f"statements per connect {totals} (of which the replay's own {replay}); "
                f"last of 1,000 after {_fmt(last)} ms",
                verdict(ok),
            )
        )
    notify = results.get("notify", {})
    if notify:
        one, ten = notify.get("role_1000", {}), notify.get("role_10000", {})
        ok = one.get("statements") == ten.get("statements") and (ten.get("seconds_median") or 99) < 1
        rows.append(
            (
                "6. notify() to 10,000 on PostgreSQL: bounded statements, < 1 s",
                f"1,000: {_count(one.get('statements'), 'statement')}, {_fmt(one.get('seconds_median'), 3)} s; "
                f"10,000: {_count(ten.get('statements'), 'statement')}, {_fmt(ten.get('seconds_median'), 3)} s",
                verdict(ok),
            )
        )
    rss = {kind: _get(fan, kind, "1000", "rss_kib_per_connection") for kind in ("b0", "b1", "project")}
    ratio = _ratio(rss["project"], rss["b1"])
    rows.append(
        (
            "7. memory per idle socket ≤ B1's",
            f"{_fmt(rss['project'])} KiB vs B1 {_fmt(rss['b1'])} KiB, B0 {_fmt(rss['b0'])} KiB",
            verdict(None if ratio is None else ratio <= 1.0),
        )
    )
    compression = results.get("compression", {})
    if compression:
        stock, deflate = compression.get("stock", {}), compression.get("deflate", {})
        large_stock, large = (
            _get(stock, "large", "wire_bytes_per_delivery"),
            _get(deflate, "large", "wire_bytes_per_delivery"),
        )
        small_stock, small = (
            _get(stock, "small", "wire_bytes_per_delivery"),
            _get(deflate, "small", "wire_bytes_per_delivery"),
        )
        bomb = _get(deflate, "bomb", "close_codes") or {}
        negotiated = deflate.get("extensions") == {"PerMessageDeflate": compression.get("sockets")}
        ok = (
            None
            if large is None or large_stock is None
            else negotiated and large < large_stock / 2 and small == small_stock and set(bomb) == {"1009"}
        )
        saved = None if large is None or not large_stock else 100 * (1 - large / large_stock)
        rows.append(
            (
                "8. 50 KB frames compressed for browsers offering permessage-deflate, small ones not, "
                "decompressed size bounded",
                f"`realtime.server`: {_fmt(large)} B per 50 KB frame against {_fmt(large_stock)} B on stock daphne "
                f"({_fmt(saved, 0)}% saved); 200 B frames {_fmt(small)} B (stock {_fmt(small_stock)} B); "
                f"bomb closed with {bomb}",
                verdict(ok),
            )
        )
    procs = results.get("fanout_procs") or {}
    rows_procs = [row for row in (procs.get("project") or {}).values() if "burst" in row]
    if rows_procs:
        spread = all(_spread(row) for row in rows_procs)
        lost = sum((_get(row, "burst", "lost") or 0) + (_get(row, "steady", "lost") or 0) for row in rows_procs)
        sizes = ", ".join(f"{row['n']:,}" for row in rows_procs)
        shares = "; ".join(
            f"{row['n']:,}: sockets {_get(row, 'connect', 'connected_per_server')}, burst CPU s "
            f"{_get(row, 'burst', 'server_cpu_seconds_per_process')}"
            for row in rows_procs
        )
        rows.append(
            (
                f"past one machine: {procs['server_procs']} server processes behind one Redis act as one "
                f"(burst at {sizes}: every process takes its share, nothing lost)",
                f"{shares}; lost {lost}",
                "met" if spread and lost == 0 else "**not met**",
            )
        )
    one_to_one = direct.target_row(results)
    if one_to_one:
        rows.append(one_to_one)
    sse_target = sse.target_row(results)
    if sse_target is not None:
        rows.append((sse_target[0], sse_target[1], verdict(sse_target[2])))
    rows += storm.target_rows(results)
    rows += chat_phase.report_targets(results)
    return rows


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    load_start = ", ".join(f"{value:.2f}" for value in results["loadavg_start"])
    load_end = ", ".join(f"{value:.2f}" for value in results.get("loadavg_end", []))
    lines = [
        START,
        "",
        f"*Generated by `make bench` ({results['mode']} run `{results['run_id']}`, {results['seconds']} s); "
        "do not edit between the markers.*",
        "",
        f"* **Date** {results['date']}; **code** `{results.get('git', '?')}` (sources copied at the start of the "
        f"run, fingerprint `{results.get('code_fingerprint', '?')}`: every process measured the same code)",
        f"* **Machine** {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, Linux "
        f"{machine['kernel']}, Python {machine['python']}; open-file limit {machine['open_files_limit']:,}",
        f"* **Load average** (1, 5, 15 min) at start {load_start}; at end {load_end}. Other work shared the "
        "machine; a busy machine makes every number noisier (the ratios within one run are what to compare).",
        f"* **Packages** {packages}",
        f"* **Client** {results['config']['client_procs']} load-client processes for 200 sockets or more "
        "(one below), publisher in its own process, all on the same cores as the server.",
        f"* **Servers** the project on `python -m realtime.server` (as deployed); B0 and B1 on "
        f"`{results['config'].get('references_on', 'daphne')}`.",
        "",
        "### Targets",
        "",
        "| target | measured (same run) | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {target} | {measured} | {verdict} |" for target, measured, verdict in targets(results)]
    lines += [
        "",
        "### Fan-out",
        "",
        "200-byte messages. *Burst*: the publisher sends as fast as it can (about 20,000 deliveries in all); "
        "*deliveries/s* = deliveries ÷ (last arrival - first publish). *Steady*: 10 messages a second "
        f"for {results['config']['steady_seconds']:g} s; *lost* = not delivered within the drain time after "
        "the last publish (late or dropped); *keeps up* = the last fifth of the messages reach their last "
        "socket no later than twice the first fifth (+50 ms) and nothing is lost. CPU is the daphne "
        "process's user+system time (from `/proc/<pid>/stat`) per 1,000 deliveries, i.e. µs per delivery. "
        "RSS per socket = growth of the server's RSS from one socket to N, divided by N.",
        "",
        *fanout_table(results),
        "",
        "![Latency and throughput against the number of sockets](performance.png)",
        "",
        *storm.report_lines(results),
    ]
    lines += chat_phase.report_table(results)
    redis = results.get("redis_per_notify")
    if redis:
        lines += [
            "### Redis per notify()",
            "",
            "`MONITOR`, keeping only commands naming this run's key prefix (others share the Redis), around "
            "three role-wide `notify()` calls; periodic bookkeeping (socket-registry refreshes on `…:sockets` "
            "keys, and group re-joins for B1-style layers) is left out as background.",
            "",
            "| sockets in the group | commands per notify() | bytes of those commands | by command |",
            "|---:|---:|---:|---|",
        ]
        for n, row in sorted(redis.items(), key=lambda item: int(item[0])):
            by_command = ", ".join(f"{name} {count:g}" for name, count in row["by_command_per_notify"].items())
            lines.append(
                f"| {int(n):,} | {row['commands_per_notify']:g} | {row['command_bytes_per_notify']:,} | {by_command} |"
            )
        lines.append("")
    reconnect = results.get("reconnect")
    if reconnect:
        lines += [
            "### Reconnect flush",
            "",
            "A person with a backlog reconnects. Statements are counted in-process through the real ASGI "
            "application (session, user, roles, replay); the time is over a real daphne, from the start of "
            "the handshake to the last replayed notification and to `synced` (median of three).",
            "",
            "| backlog | replayed | SQL statements (replay's own) | last notification ms | synced ms |",
            "|---:|---:|---:|---:|---:|",
        ]
        for backlog, row in reconnect.items():
            over = row.get("over_daphne", {})
            synced = sorted(over.get("synced_ms", []))
            synced_median = synced[len(synced) // 2] if synced else None
            lines.append(
                f"| {int(backlog):,} | {over.get('replayed')} | {row['statements_total']} ({row['statements_replay']}) "
                f"| {_fmt(over.get('last_notification_ms_median'))} | {_fmt(synced_median)} |"
            )
        statements = reconnect.get("1000", {}).get("statements", [])
        if statements:
            lines += ["", "Statements of one connect (backlog 1,000):", ""]
            lines += [f"{index}. `{sql}`" for index, sql in enumerate(statements, 1)]
        lines.append("")
    notify = results.get("notify")
    if notify:
        lines += [
            "### notify() scaling (PostgreSQL)",
            "",
            "Wall time of the call (commit and publish included), median of three, and statements "
            "(`CaptureQueriesContext`).",
            "",
            "| call | recipients | seconds | statements |",
            "|---|---:|---:|---:|",
        ]
        for name, row in notify.items():
            if name == "receipt_bytes":
                continue
            seconds = row.get("seconds_median", row.get("seconds"))
            call = "notify_role()" if name.startswith("role") else "notify_users() with a list"
            lines.append(f"| {call} | {row['recipients']:,} | {_fmt(seconds, 3)} | {row['statements']} |")
        receipts = notify.get("receipt_bytes")
        if receipts:
            lines += [
                "",
                f"A receipt (one row per recipient, with its indexes) takes {_fmt(receipts['bytes_per_receipt'])} "
                f"bytes on disk (`pg_total_relation_size` over {receipts['receipts']:,} receipts).",
            ]
        lines.append("")
    lines += procs_lines(results)
    lines += direct.report_lines(results)
    lines += capacity.report_lines(results)
    compression = results.get("compression")
    if compression:
        lines += [
            "### permessage-deflate (`python -m realtime.server`, B0's app)",
            "",
            f"{compression['sockets']} sockets offering `permessage-deflate` (as browsers do); wire bytes "
            "counted by a loopback proxy; CPU per 1,000 deliveries of the daphne process.",
            "",
            "| server | negotiated | 200 B frame: wire bytes | CPU ms/1000 | 50 KB snapshot: wire bytes | CPU ms/1000 "
            "| last socket ms (max) | RSS KiB/socket after large frames |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        names = {
            "stock": "stock daphne",
            "deflate": "`realtime.server` as deployed (window 2^12, memLevel 4)",
            "deflate-window-15": "`realtime.server`, window 2^15, memLevel 8",
        }
        for variant, name in names.items():
            row = compression.get(variant)
            if row is None:
                continue
            small, large = row.get("small", {}), row.get("large", {})
            lines.append(
                f"| {name} | {row.get('extensions')} "
                f"| {_fmt(small.get('wire_bytes_per_delivery'))} | {_fmt(small.get('server_cpu_ms_per_1000'))} "
                f"| {_fmt(large.get('wire_bytes_per_delivery'))} | {_fmt(large.get('server_cpu_ms_per_1000'))} "
                f"| {_fmt(large.get('latency_ms_max'))} | {_fmt(row.get('rss_kib_per_connection_after_large'))} |"
            )
        bomb = _get(compression, "deflate", "bomb")
        if bomb:
            lines += [
                "",
                f"Decompression bound: a client frame that inflates to {bomb['inflated_bytes']:,} bytes "
                f"({bomb['compressed_bytes']:,} on the wire) closed the socket with {bomb['close_codes']}; "
                f"the server's RSS grew by {bomb['server_rss_growth_kib']:,} KiB.",
            ]
        lines.append("")
    lines += sse.report_lines(results)
    profile = results.get("profile_summary")
    if profile:
        lines += ["### Where the server's time goes (py-spy, burst to 1,000)", ""]
        lines += [
            "Share of the event loop's samples (the main thread; asgiref's sync thread and the executors are "
            "left out, most of their samples being waits):",
            "",
        ]
        for kind, summary in profile.items():
            lines.append(
                f"**{LABELS.get(kind, kind)}** ({summary.get('event_loop_samples', summary['samples']):,} samples)"
            )
            lines.append("")
            lines += [f"* {share:.0f}% {name}" for name, share in summary["shares"]]
            lines.append("")
    lines.append(END)
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    storms = bool(results.get("storm"))
    chat_points = chat_phase.plot_points(results)
    panels_count = 3 + storms + bool(chat_points)
    fig, axes = plt.subplots(1, panels_count, figsize=(5 * panels_count, 4.6))
    panels = (
        ("Burst: deliveries per second", lambda row: _get(row, "burst", "deliveries_per_second"), "deliveries/s"),
        ("Steady 10 msg/s: p99 latency", lambda row: _get(row, "steady", "latency_ms", "p99"), "ms"),
        ("One broadcast: last socket's latency", lambda row: _get(row, "single", "last_client_ms_median"), "ms"),
    )
    if storms:
        storm.plot_panel(axes[3], results, COLOURS)
    if chat_points:
        chat_axis = axes[3 + storms]
        for kind, points in chat_points.items():
            xs, ys = zip(*sorted(points), strict=True)
            label = "Channels tutorial chat" if kind == "tutorial" else LABELS["project"]
            chat_axis.plot(xs, ys, marker="o", label=label, color=COLOURS.get(kind, "tab:gray"))
        chat_axis.set_yscale("log")
        chat_axis.set_xlabel("rooms (2 sockets, a message each 2 s per side)")
        chat_axis.set_ylabel("ms")
        chat_axis.set_title("Chat: p99 send to receive")
        chat_axis.grid(True, which="both", alpha=0.3)
        chat_axis.legend()
    for axis, (title, pick, unit) in zip(axes[:3], panels, strict=True):
        for kind, sizes in results["fanout"].items():
            points = [(int(n), pick(row)) for n, row in sizes.items() if pick(row) is not None]
            if points:
                xs, ys = zip(*sorted(points), strict=True)
                axis.plot(xs, ys, marker="o", label=LABELS[kind], color=COLOURS[kind])
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("sockets")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    fig.suptitle(f"Fan-out, 200-byte messages ({results['date'][:10]}, {results['machine']['cores']} cores shared)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, Any], docs: Path) -> None:
    page = docs / "performance.md"
    generated = render(results)
    text = page.read_text() if page.exists() else "# Performance\n\n" + START + "\n" + END + "\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + generated + tail
    else:
        text = text.rstrip() + "\n\n" + generated + "\n"
    page.write_text(text)
    plot(results, docs / "performance.png")


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    write(data, Path(__file__).resolve().parent.parent / "docs")
