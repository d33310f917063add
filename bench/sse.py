"""The SSE phase: notification streams at a steady rate, against django-eventstream 5 and the project's sockets.

Three servers in turn, each fresh, each with the same number of subscribers sent 10 messages a second
(full: 1,000 for 30 s; quick: 1,000 for 10 s; smoke: 5 for 0.3 s) from a publisher in another process:

* ``eventstream``: django-eventstream 5 on stock daphne, events in Redis (``servers/eventstream.py``,
  ``servers/eventstream_settings.py``); anonymous streams on ``/events/?channel=<run's channel>``,
  ``send_event(channel, "message", frame)`` in the publisher;
* ``project-sse``: the project on ``python -m realtime.server``, logged-in volunteers on
  ``/sse/notifications/``, ``notify_role("volunteer", ...)`` in the publisher;
* ``project-ws``: the same, on ``/ws/notifications/`` (the socket path the SSE path is held to).

Measured as the fan-out phases are (``Bench.measure``): latency from the publisher's ``time.time()``
to the client's receipt, lost, duplicates, out of order, server CPU per 1,000 deliveries.

The load client reads streams with ``SseSubscriber`` (below): HTTP/1.1 on a plain asyncio protocol,
chunked transfer decoding and SSE framing in ``data_received``, no task per stream, so reading costs
far less than serving. It stands in for ``bench.client.Subscriber`` when a connect command says
``"transport": "sse"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bench.client import Client
    from bench.run import Bench

#: The run's settings per mode: streams, messages a second, seconds.
SIZES = {"full": (1000, 10.0, 30.0), "quick": (1000, 10.0, 10.0), "smoke": (5, 10.0, 0.3)}
VARIANTS = ("eventstream", "project-sse", "project-ws")
#: ``BENCH_SSE_BEFORE=<a checkout of older code>`` adds the project's SSE path as that code serves it,
#: measured in the same run (the before/after comparison of docs/performance.md).
BEFORE = "project-sse-before"
LABELS = {
    "eventstream": "django-eventstream 5 (events in Redis), daphne",
    BEFORE: "this project, SSE, older code (BENCH_SSE_BEFORE)",
    "project-sse": "this project, SSE (/sse/notifications/)",
    "project-ws": "this project, WebSocket (/ws/notifications/)",
}


# -- the client side ------------------------------------------------------------------------------------


class SseSubscriber(asyncio.Protocol):
    """One ``text/event-stream`` response read on a plain protocol: events are handled in ``data_received``.

    ``opened`` resolves with the first complete SSE block (a comment or an event), ``synced`` when a
    project stream's ``synced`` frame arrives; each ``data:`` payload goes to ``Client.on_text``.
    Bookkeeping attributes are those of ``bench.client.Subscriber``.
    """

    def __init__(self, client: Client, url: str, headers: dict[str, str], origin: str, compression: bool) -> None:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.client = client
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[bool] = loop.create_future()
        self.synced: asyncio.Future[bool] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.closed_code: int | None = None
        self.extensions = "none"
        self._head: bytes | None = b""  # the response head until it is complete, then None
        self._chunked = False
        self._raw = b""  # body bytes still chunk-encoded
        self._text = b""  # decoded body not yet ending in a complete SSE block
        self.reset()

    def reset(self) -> None:
        self.last_seq = -1
        self.seen: set[int] = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.latencies: list[float] = []
        self.arrivals: dict[int, tuple[float, float]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data, self._head = self._head[:end], self._head[end + 4 :], None
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split()[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
            if status != 200:
                self._fail(ConnectionError(f"HTTP {status}"))
                return
            self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        if self._chunked:
            self._raw += data
            data = self._dechunk()
        if not data:
            return
        self._text += data
        *blocks, self._text = self._text.split(b"\n\n")
        for block in blocks:
            self._block(block)

    def _dechunk(self) -> bytes:
        out = []
        raw, position = self._raw, 0
        while True:
            line_end = raw.find(b"\r\n", position)
            if line_end < 0:
                break
            size = int(raw[position:line_end].split(b";", 1)[0], 16)
            if size == 0:
                self.closed_code = self.closed_code or 1000  # the server ended the response
                position = len(raw)
                break
            if len(raw) < line_end + 2 + size + 2:
                break
            out.append(raw[line_end + 2 : line_end + 2 + size])
            position = line_end + 2 + size + 2
        self._raw = raw[position:]
        return b"".join(out)

    def _block(self, block: bytes) -> None:
        if not self.opened.done():
            self.opened.set_result(True)
        data = []
        event = b""
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip()
        if event == b"close":
            self.closed_code = 4000
            return
        if data and data[0][:1] == b"{":
            self.client.on_text(self, b"\n".join(data))  # type: ignore[arg-type]

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_code is None:
            self.closed_code = 1006
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the stream opened: {exc}"))

    def send_text(self, text: str) -> None:
        """Streams are one-way (the client's pinger calls this for every project subscriber)."""

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


# -- the phase ------------------------------------------------------------------------------------------


def _server_class() -> type[Any]:
    from bench.run import Server

    @dataclass
    class PathServer(Server):  # type: ignore[misc]
        """A server whose subscribers open ``path`` (http:// for streams, ws:// for sockets)."""

        path: str = ""
        scheme: str = "http"

        @property
        def sub_url(self) -> str:
            return f"{self.scheme}://127.0.0.1:{self.port}{self.path}"

    return PathServer


def sse_size(mode: str) -> int:
    return SIZES[mode][0]


def run_phase(bench: Bench) -> dict[str, Any]:
    """Each variant on a fresh server; returns ``{variant: measurement, "config": ...}``."""
    from bench.run import ClientPool, LineProcess, log

    mode = bench.config.mode
    n, rate, seconds = SIZES[mode]
    PathServer = _server_class()
    channel = f"{bench.prefix}-volunteers"
    results: dict[str, Any] = {"config": {"streams": n, "rate": rate, "seconds": seconds}}
    before = os.environ.get("BENCH_SSE_BEFORE", "")
    variants = (*VARIANTS[:2], BEFORE, *VARIANTS[2:]) if before else VARIANTS
    if before:
        results["config"]["before"] = before
    for variant in variants:
        env = bench.base_env()
        if variant == "eventstream":
            env["DJANGO_SETTINGS_MODULE"] = "bench.servers.eventstream_settings"
            server = PathServer(
                "eventstream",
                env,
                bench.log_dir / f"sse-{variant}.log",
                app="bench.servers.eventstream:application",
                path=f"/events/?channel={channel}",
            )
            publisher_args = ["eventstream", channel]
            kind, transport = "eventstream", "sse"
        else:
            bench.reset_project_state(n)
            env = bench.server_env("project")
            sse = variant in ("project-sse", BEFORE)
            if variant == BEFORE:
                env = {**env, "PYTHONPATH": before}
            server = PathServer(
                "project",
                env,
                bench.log_dir / f"sse-{variant}.log",
                path="/sse/notifications/" if sse else "/ws/notifications/",
                scheme="http" if sse else "ws",
            )
            publisher_args = ["project", ""]
            kind, transport = "project", "sse" if sse else "ws"
        log(f"sse phase: {variant}, {n} subscribers at {rate}/s for {seconds} s")
        if variant == BEFORE:
            from bench.run import CODE

            root, CODE.root = CODE.root, Path(before)  # the server alone runs the older code
            try:
                server.start()
            finally:
                CODE.root = root
        else:
            server.start()
        publisher = LineProcess(
            [sys.executable, "-m", "bench.publisher", *publisher_args], env, bench.log_dir / "publisher.log"
        )
        cookies = bench.cookies[:n] if kind == "project" else None
        row: dict[str, Any] = {"server": LABELS[variant], "n": n}
        results[variant] = row
        seq = 0
        try:
            warm = ClientPool(1, bench.base_env(), bench.log_dir)
            warm.connect(server, 1, cookies[:1] if cookies else None, transport=transport)
            publisher.call({"cmd": "burst", "start": seq, "count": 1})
            warm.collect([seq], timeout=30, idle=30)
            seq += 1
            warm.close()
            time.sleep(1.0)
            pool = ClientPool(1 if n < 200 else bench.config.client_procs, bench.base_env(), bench.log_dir)
            try:
                row["connect"] = pool.connect(server, n, cookies, transport=transport)
                time.sleep(2.0)
                if row["connect"]["connected"] < n:
                    row["refused"] = True
                    continue
                count = max(3, round(rate * seconds))
                row["steady"] = bench.measure(server, pool, publisher, seq, count, rate=rate)
                seq += count
                if bench.config.profile and variant == "project-sse":
                    row["profile"] = profile(bench, server, pool, publisher, seq, count, rate)
                log(f"sse phase {variant}: {summary(row)}")
            finally:
                pool.close()
        finally:
            publisher.close()
            server.stop()
            bench.clear_redis()
            if variant == "eventstream":
                clear_eventstream(bench.config.redis_url, channel)
    return results


def summary(row: dict[str, Any]) -> str:
    steady = row.get("steady", {})
    latency = steady.get("latency_ms", {})
    return (
        f"p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms, lost {steady.get('lost')}, "
        f"dup {steady.get('duplicates')}, cpu {steady.get('server_cpu_ms_per_1000')} ms/1000, "
        f"keeps_up {steady.get('keeps_up')}"
    )


def clear_eventstream(redis_url: str, channel: str) -> None:
    """django-eventstream's keys (``event_counter:<channel>``, ``event:<channel>:<id>``): no prefix of ours."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [f"event_counter:{channel}", *client.scan_iter(match=f"event:{channel}:*", count=1000)]
    client.delete(*keys)
    client.close()


def profile(
    bench: Bench, server: Any, pool: Any, publisher: Any, start: int, count: int, rate: float
) -> dict[str, Any]:
    """The same steady load again, unmeasured, under ``py-spy record`` (profile-project-sse.txt)."""
    out = bench.config.out / "profile-project-sse.txt"
    beside = Path(sys.executable).parent / "py-spy"
    tool = str(beside) if beside.exists() else shutil.which("py-spy")
    if tool is None:
        return {"error": "py-spy is not installed"}
    spy = subprocess.Popen(
        [tool, "record", "--pid", str(server.pid), "--rate", "250", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    bench.measure(server, pool, publisher, start, min(count, 100), rate=rate)
    spy.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(timeout=30)
    if spy.poll() is None:
        spy.kill()
    if not out.exists():
        return {"error": "py-spy wrote no profile"}
    from bench.run import summarise_profile

    return {"file": os.fspath(out), "summary": summarise_profile(out)}


# -- the report ----------------------------------------------------------------------------------------


def _p99(results: dict[str, Any], variant: str) -> Any:
    return ((results.get(variant) or {}).get("steady") or {}).get("latency_ms", {}).get("p99")


def _steady(results: dict[str, Any], variant: str, key: str) -> Any:
    return ((results.get(variant) or {}).get("steady") or {}).get(key)


def target_row(results: dict[str, Any]) -> tuple[str, str, bool | None] | None:
    """Issue 19's SSE target: (target, measured, met) from a run's ``sse`` results, or None without them."""
    sse = results.get("sse")
    if not sse:
        return None
    n = sse["config"]["streams"]
    p99, ref, ws = _p99(sse, "project-sse"), _p99(sse, "eventstream"), _p99(sse, "project-ws")
    cpu, ref_cpu = (
        _steady(sse, "project-sse", "server_cpu_ms_per_1000"),
        _steady(sse, "eventstream", "server_cpu_ms_per_1000"),
    )
    lost, dup = _steady(sse, "project-sse", "lost"), _steady(sse, "project-sse", "duplicates")
    keeps_up = _steady(sse, "project-sse", "keeps_up")
    measured = (
        f"p99 {p99} ms vs django-eventstream {ref} ms and the sockets' {ws} ms; CPU {cpu} vs {ref_cpu} ms per 1,000; "
        f"lost {lost}, duplicates {dup}, keeps up {keeps_up}"
    )
    known = None not in (p99, ref, ws, cpu, ref_cpu)
    met = known and p99 <= ref and p99 <= 2 * ws and cpu <= 0.5 * ref_cpu and lost == 0 and dup == 0 and keeps_up
    return (
        f"SSE fallback: {n:,} notification streams at {sse['config']['rate']:g}/s keep up, "
        "p99 ≤ django-eventstream 5's and ≤ 2x the project's sockets, CPU per delivery ≤ 0.5x django-eventstream's",
        measured,
        None if not known else bool(met),
    )


def report_lines(results: dict[str, Any]) -> list[str]:
    """The generated section's table for the SSE phase (empty without it)."""
    sse = results.get("sse")
    if not sse:
        return []
    config = sse["config"]
    lines = [
        "### Server-Sent Events (`bench/sse.py`)",
        "",
        f"{config['streams']:,} subscribers per server, {config['rate']:g} role-wide messages a second for "
        f"{config['seconds']:g} s from a publisher process; latency from the publisher's clock to the client's "
        "receipt. django-eventstream runs as its README deploys it (stock daphne, `EVENTSTREAM_REDIS`, "
        "`RedisStorage`), with anonymous streams; the project's streams and sockets are logged-in volunteers "
        "and each message is a `notify_role()` (a notification and its receipts in PostgreSQL).",
        "",
        "| server | connected | p50 ms | p99 ms | max ms | lost | dup / reordered | keeps up | CPU ms/1000 |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for variant in (*VARIANTS[:2], BEFORE, *VARIANTS[2:]):
        if variant not in sse:
            continue
        row = sse.get(variant) or {}
        steady = row.get("steady") or {}
        latency = steady.get("latency_ms") or {}
        connect = row.get("connect") or {}
        lines.append(
            f"| {LABELS[variant]} | {connect.get('connected', '-')} | {latency.get('p50', '-')} "
            f"| {latency.get('p99', '-')} | {latency.get('max', '-')} | {steady.get('lost', '-')} "
            f"| {steady.get('duplicates', '-')} / {steady.get('out_of_order', '-')} "
            f"| {steady.get('keeps_up', '-')} | {steady.get('server_cpu_ms_per_1000', '-')} |"
        )
    summary = ((sse.get("project-sse") or {}).get("profile") or {}).get("summary")
    if summary:
        lines += [
            "",
            f"Where the SSE server's event loop spends its time (py-spy, {summary['event_loop_samples']:,} samples):",
            "",
        ]
        lines += [f"* {share:.0f}% {name}" for name, share in summary["shares"]]
    lines.append("")
    return lines
