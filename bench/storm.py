"""The reconnect storm: N sockets open at once, as after a deploy or a restart.

For each size, on a fresh server each (after one warm-up socket), the load client processes open N
sockets together, ``CONCURRENCY`` at a time per client process, the same for both servers:

* B1 (bare Channels, ``servers/b1.py``): a socket counts once its handshake is accepted (B1 joins
  its one group before accepting);
* this project: logged-in volunteers on ``/ws/notifications/`` (session, user, roles, admission,
  registry, groups, replay): a socket counts once its ``synced`` frame arrives.

Measured: the time until the last socket is connected (B1) or synced (project), per-socket
connect-to-synced percentiles (from the socket's turn at the client's gate), refusals by close code,
and the server's CPU seconds over the storm. The target (issue 19) is the project's total at most
twice B1's, nothing refused but by the configured limits.

``--profile`` adds one unmeasured project storm at the first size under ``py-spy --gil`` (``profile-storm.txt``:
only the thread holding the GIL is sampled, so waits on PostgreSQL, Redis and queues drop out).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Bench, Server

#: Sockets a client process has opening at once (the fan-out phase's default is 50).
CONCURRENCY = 100
SIZES = {"full": [1000, 5000], "quick": [1000], "smoke": [5]}
KINDS = ("b1", "project")


def sizes(mode: str) -> list[int]:
    return SIZES[mode]


def _code(error: str) -> str:
    """The close code in a client's error text (``closed code=4429``), else the error's type."""
    match = re.search(r"code=(\d+)", error)
    return match.group(1) if match else error.split(":", 1)[0]


def storm(bench: Bench, server: Server, n: int, procs: int) -> dict[str, Any]:
    """Open ``n`` sockets on ``server`` at once from ``procs`` client processes; what it took."""
    from bench.run import ClientPool, cpu_seconds, ms, percentile, thread_cpu_seconds

    cookies = bench.cookies[:n] if server.kind == "project" else None
    pool = ClientPool(procs, bench.base_env(), bench.log_dir)
    try:
        shares = [n // procs + (1 if index < n % procs else 0) for index in range(procs)]
        commands, offset = [], 0
        for share in shares:
            commands.append(
                {
                    "cmd": "connect",
                    "url": server.sub_url,
                    "n": share,
                    "kind": server.kind,
                    "cookies": cookies[offset : offset + share] if cookies else None,
                    "concurrency": CONCURRENCY,
                    "timings": True,
                }
            )
            offset += share
        cpu_before, threads_before = cpu_seconds(server.pid), thread_cpu_seconds(server.pid)
        replies = pool.broadcast(commands)
        cpu = cpu_seconds(server.pid) - cpu_before
        threads_after = thread_cpu_seconds(server.pid)
    finally:
        pool.close()
    times = [value for reply in replies for value in reply.get("connect_times", [])]
    refusals: dict[str, int] = {}
    for reply in replies:
        for error, count in reply["errors"].items():
            refusals[_code(error)] = refusals.get(_code(error), 0) + count
    connected = sum(reply["connected"] for reply in replies)
    return {
        "n": n,
        "client_procs": procs,
        "concurrency_per_client": CONCURRENCY,
        "connected": connected,
        "failed": n - connected,
        "refusals_by_code": refusals,
        "errors": {error: count for reply in replies for error, count in reply["errors"].items()},
        "seconds": max(reply["seconds"] for reply in replies),
        "connect_ms": {
            "p50": ms(percentile(times, 50)),
            "p99": ms(percentile(times, 99)),
            "max": ms(max(times) if times else None),
        },
        "server_cpu_seconds": round(cpu, 3),
        "server_cpu_ms_per_connect": round(cpu * 1000 / max(connected, 1), 3),
        "server_cpu_seconds_main_thread": round(threads_after[0] - threads_before[0], 3),
        "server_cpu_seconds_other_threads": round(threads_after[1] - threads_before[1], 3),
    }


def storm_on_fresh_server(bench: Bench, kind: str, n: int, *, profile: Path | None = None) -> dict[str, Any]:
    from bench.run import ClientPool, Server

    if kind == "project":
        bench.reset_project_state(n)
    server = Server(kind, bench.server_env(kind), bench.log_dir / f"storm-{kind}-{n}.log")
    server.start()
    spy: subprocess.Popen[bytes] | None = None
    try:
        # Warm up (imports, first Redis and database connections) with one socket of a person
        # outside the storm (its cookie follows the storm's), then measure.
        warm = ClientPool(1, bench.base_env(), bench.log_dir)
        warm.connect(server, 1, bench.cookies[n : n + 1] if kind == "project" else None)
        warm.close()
        time.sleep(1.0)
        if profile is not None:
            spy = _start_py_spy(server.pid, profile)
        return storm(bench, server, n, 1 if n < 200 else bench.config.client_procs)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
        server.stop()
        bench.clear_redis()


def _start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    beside = Path(sys.executable).parent / "py-spy"
    tool = str(beside) if beside.exists() else shutil.which("py-spy")
    if tool is None:
        return None
    spy = subprocess.Popen(
        [tool, "record", "--pid", str(pid), "--rate", "250", "--gil", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return spy


def storm_phase(bench: Bench) -> dict[str, Any]:
    """Every size, B1 then the project, each on a fresh server; the ratio of their totals."""
    from bench.run import log

    results: dict[str, Any] = {"concurrency_per_client": CONCURRENCY, "sizes": {}}
    for n in sizes(bench.config.mode):
        row: dict[str, Any] = {}
        for kind in KINDS:
            row[kind] = storm_on_fresh_server(bench, kind, n)
            log(
                f"storm {kind} at {n}: {row[kind]['connected']} in {row[kind]['seconds']} s, "
                f"p99 {row[kind]['connect_ms']['p99']} ms, refused {row[kind]['refusals_by_code']}, "
                f"cpu {row[kind]['server_cpu_seconds']} s"
            )
        b1, project = row["b1"]["seconds"], row["project"]["seconds"]
        row["ratio_to_b1"] = round(project / b1, 2) if b1 else None
        results["sizes"][str(n)] = row
    if bench.config.profile:
        n = sizes(bench.config.mode)[0]
        out = bench.config.out / "profile-storm.txt"
        log(f"storm: an unmeasured project storm at {n} under py-spy")
        storm_on_fresh_server(bench, "project", n, profile=out)
        results["profile"] = str(out)
    return results


def main(argv: list[str] | None = None) -> int:
    """Only the storm, for iterating: ``python -m bench.storm [--quick|--smoke] [--profile]``."""
    import argparse
    import json

    from bench import run

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sizes", help="comma-separated storm sizes (default: the mode's)")
    parser.add_argument("--out", type=Path, default=run.ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if args.sizes:
        mode = "smoke" if args.smoke else "quick" if args.quick else "full"
        SIZES[mode] = [int(size) for size in args.sizes.split(",")]
    config = run.build_config(
        argparse.Namespace(
            **{**vars(args), "sizes": "1", "servers": None, "client_procs": 2, "no_extras": True, "server_procs": 1},
            no_sse=True,
            only_sse=False,
            no_chat=True,
            only_chat=False,
            chat_rooms=None,
            database_url=None,
            redis_url=None,
            no_docs=True,
            tuned_references=False,
        )
    )
    config.out.mkdir(parents=True, exist_ok=True)
    run.raise_open_files()
    bench = run.Bench(config)
    bench.create_database()
    try:
        results = storm_phase(bench)
    finally:
        bench.clear_redis()
        bench.drop_database()
        bench._snapshot.cleanup()
    results["git"] = bench.results["git"]
    path = config.out / "storm.json"
    path.write_text(json.dumps(results, indent=1))
    run.log(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- the report (bench/report.py) ---------------------------------------------------------------------


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict): issue 19's first target, one row per size."""
    rows = []
    for n, row in (results.get("storm") or {}).get("sizes", {}).items():
        b1, project = row.get("b1", {}), row.get("project", {})
        ratio = row.get("ratio_to_b1")
        refused = project.get("refusals_by_code") or {}
        ok = None if ratio is None else ratio <= 2 and project.get("connected") == int(n)
        rows.append(
            (
                f"Reconnect storm: {int(n):,} logged-in sockets at once all synced in ≤ 2x B1's time to "
                "connect as many, nothing refused",
                f"{project.get('seconds')} s vs B1 {b1.get('seconds')} s ({ratio}x); p99 connect-to-synced "
                f"{_ms(project)} ms (B1 {_ms(b1)} ms); refused {refused or 'none'}",
                "-" if ok is None else ("met" if ok else "**not met**"),
            )
        )
    return rows


def _ms(row: dict[str, Any]) -> Any:
    return (row.get("connect_ms") or {}).get("p99")


def report_lines(results: dict[str, Any]) -> list[str]:
    """The reconnect storm's section of docs/performance.md (empty when the run had none)."""
    storm = results.get("storm")
    if not storm:
        return []
    lines = [
        "### Reconnect storm",
        "",
        f"N sockets opened at once ({storm['concurrency_per_client']} at a time per client process) on a fresh "
        "server each: B1's plain sockets until accepted, the project's logged-in volunteers on "
        "`/ws/notifications/` until their `synced` frame (session, user, roles, admission, registry, groups, "
        "replay). *Total* = until the last one; per-socket times from its turn in the client to "
        "accepted/synced; CPU = the server process's user+system seconds over the storm.",
        "",
        "| sockets | server | total s | ratio to B1 | p50 ms | p99 ms | refused (by close code) | server CPU s "
        "| CPU ms per connect |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for n, row in storm["sizes"].items():
        for kind in KINDS:
            measured = row.get(kind, {})
            connect = measured.get("connect_ms") or {}
            ratio = row.get("ratio_to_b1") if kind == "project" else 1.0
            refused = ", ".join(f"{code}: {count}" for code, count in measured.get("refusals_by_code", {}).items())
            lines.append(
                f"| {int(n):,} | {'B1 plain Channels' if kind == 'b1' else 'this project'} "
                f"| {measured.get('seconds')} | {ratio} | {connect.get('p50')} | {connect.get('p99')} "
                f"| {refused or 'none'} | {measured.get('server_cpu_seconds')} "
                f"| {measured.get('server_cpu_ms_per_connect')} |"
            )
    return [*lines, ""]


def plot_panel(axis: Any, results: dict[str, Any], colours: dict[str, str]) -> None:
    """Seconds until every socket of a storm is connected (B1) or synced (the project)."""
    sizes = (results.get("storm") or {}).get("sizes", {})
    for kind, label in (("b1", "B1 plain Channels"), ("project", "this project")):
        points = sorted((int(n), row[kind]["seconds"]) for n, row in sizes.items() if kind in row)
        if points:
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, marker="o", label=label, color=colours[kind])
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("sockets connecting at once")
    axis.set_ylabel("s")
    axis.set_title("Reconnect storm: all connected / synced")
    axis.grid(True, which="both", alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend()
