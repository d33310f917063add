"""The benchmark harness still runs: a tiny run of ``bench.run --smoke`` (asserts that it ran, not how fast).

Five sockets per server, a few messages, one burst and one steady phase each, the project on two
server processes, the one-to-one phase, the SSE phase (five streams each for django-eventstream, the
project's SSE and its sockets), three chat rooms on the tutorial consumer and on the project, a
reconnect storm of five, and the compression prototype; the full benchmark is ``make bench``
(bench/README.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.scaleout
@pytest.mark.timeout(240)
def test_smoke_run_measures_every_server_without_losing_a_message(require_scaleout: None, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path), "--no-docs"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    results = json.loads((tmp_path / "latest-smoke.json").read_text())
    # The references on stock daphne unless --tuned-references; the project always on realtime.server.
    assert results["config"]["references_on"] == "daphne"

    for kind in ("b0", "b1", "project"):
        row = results["fanout"][kind]["5"]
        assert row["connect"]["connected"] == 5, row["connect"]
        assert row["rss_kib_per_connection"] is not None
        for phase in ("burst", "steady"):
            measured = row[phase]
            assert measured["expected"] > 0
            assert measured["delivered"] == measured["expected"], (kind, phase, measured)
            assert measured["lost"] == measured["duplicates"] == measured["out_of_order"] == 0
            assert set(measured["latency_ms"]) == {"p50", "p95", "p99", "max"}
            assert measured["server_cpu_ms_per_1000"] is not None

    # The project on two server processes behind one Redis: sockets on both, nothing lost.
    two = results["fanout_procs"]["project"]["5"]
    assert two["server_procs"] == 2
    assert sum(two["connect"]["connected_per_server"]) == 5 and all(two["connect"]["connected_per_server"])
    assert two["burst"]["delivered"] == two["burst"]["expected"] > 0
    assert two["burst"]["lost"] == two["steady"]["lost"] == 0
    assert len(two["burst"]["server_cpu_seconds_per_process"]) == 2

    # The one-to-one phase: every message reached exactly one socket, on both servers.
    for kind in ("b0", "project"):
        direct = results["direct"][kind]
        assert direct["connect"]["connected"] == 5, direct
        assert direct["messages"] > 0
        assert direct["delivered"] == direct["messages"], (kind, direct)
        assert direct["lost"] == direct["duplicates"] == direct["out_of_order"] == 0
        assert direct["latency_ms"]["p99"] is not None
    assert results["direct"]["p99_ratio"] is not None
    # The SSE phase (bench/sse.py): django-eventstream, the project's streams and its sockets, 5 each.
    sse = results["sse"]
    assert sse["config"]["streams"] == 5
    for variant in ("eventstream", "project-sse", "project-ws"):
        row = sse[variant]
        assert row["connect"]["connected"] == 5, (variant, row["connect"])
        measured = row["steady"]
        assert measured["expected"] > 0
        assert measured["delivered"] == measured["expected"], (variant, measured)
        assert measured["lost"] == measured["duplicates"] == measured["out_of_order"] == 0
        assert measured["closed_sockets"] == 0, (variant, measured["close_codes"])
        assert measured["server_cpu_ms_per_1000"] is not None
    # The reconnect storm at its tiny size: every socket connected (B1) or synced (the project), none refused.
    storm = results["storm"]["sizes"]["5"]
    for kind in ("b1", "project"):
        assert storm[kind]["connected"] == 5, storm[kind]
        assert storm[kind]["refusals_by_code"] == {}
        assert storm[kind]["connect_ms"]["p99"] is not None
        assert storm[kind]["server_cpu_seconds"] is not None
    assert storm["ratio_to_b1"] is not None
    # The chat phase: three rooms on the tutorial consumer and on the project, nothing lost.
    for kind in ("tutorial", "project"):
        chat = results["chat"]["sizes"]["3"][kind]
        assert chat["connected"] == 6 and chat["ready"] == 6, chat
        assert chat["sent"] > 0
        assert chat["delivered"] == chat["sent"], (kind, chat)
        assert chat["lost"] == chat["duplicates"] == chat["out_of_order"] == 0
        assert chat["error_frames"] == {}
        assert chat["server_cpu_ms_per_message"] is not None
    statements = results["chat"]["statements"]
    assert statements["steady_max"] >= 1  # counted: a message is at least its insert

    compression = results["compression"]
    assert compression["stock"]["extensions"] == {"none": 5}
    assert compression["deflate"]["extensions"] == {"PerMessageDeflate": 5}
    assert compression["deflate"]["large"]["lost"] == 0
    assert (
        compression["deflate"]["large"]["wire_bytes_per_delivery"]
        < compression["stock"]["large"]["wire_bytes_per_delivery"]
    )
    # Inflating past the bound closes the socket with 1009 (message too big): the server sends a close
    # frame (failByDrop off, realtime/server.py) rather than dropping TCP, which the client saw as 1006.
    assert compression["deflate"]["bomb"]["close_codes"] == {"1009": 1}


def test_smoke_results_render_into_the_performance_page(tmp_path: Path) -> None:
    from bench import report

    results = {
        "run_id": "x",
        "mode": "smoke",
        "seconds": 1.0,
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "memory_gib": 1.0,
            "kernel": "k",
            "python": "3.11",
            "packages": {},
            "open_files_limit": 1024,
        },
        "loadavg_start": [0.0, 0.0, 0.0],
        "loadavg_end": [0.0, 0.0, 0.0],
        "config": {"client_procs": 1, "steady_seconds": 1.0},
        "fanout": {"b0": {"5": {"n": 5, "connect": {"connected": 5, "seconds": 0.1}, "burst": {}, "steady": {}}}},
        "sse": {
            "config": {"streams": 5, "rate": 10.0, "seconds": 0.3},
            "project-sse": {"connect": {"connected": 5}, "steady": {"latency_ms": {"p99": 9.5}, "lost": 0}},
        },
    }
    (tmp_path / "performance.md").write_text(f"# Head\n\n{report.START}\nold\n{report.END}\n\nTail\n")
    report.write(results, tmp_path)
    page = (tmp_path / "performance.md").read_text()
    assert page.startswith("# Head") and page.rstrip().endswith("Tail") and "old" not in page
    assert "### Targets" in page
    assert "### Server-Sent Events" in page and "| 9.5 |" in page
    assert (tmp_path / "performance.png").stat().st_size > 0
