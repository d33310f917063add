"""The chat phase: help-request rooms of one visitor and one assigned volunteer, against the
Channels tutorial's chat consumer (``bench/servers/tutorial.py``) in the same run.

    python -m bench.chat rooms --rooms 200 --out rooms.json     # in the run's database (Django)
    python -m bench.chat statements --out statements.json        # in-process statement count (Django)
    python -m bench.chat client                                  # a load client (one JSON line in, one out)

For each size (rooms), each server is started fresh. Both sides of every room send a 100-byte
message every ``interval`` seconds (phases spread at random), each preceded by a typing frame; the
other side of the room measures send-to-receive latency (``time.time()`` in the body, one machine,
one clock) and counts what it lost, got twice or out of order. The sender's own copy (both servers
echo to the whole room) is ignored. Server CPU is the server process's user+system time over the
sending and draining. The project's rooms are real ones: help requests assigned to volunteers with
logged-in sessions, the visitor with the request's secret in the ``X-Help-Request-Token`` header
(what a non-browser client sends; the browser page's session proof costs the same single read at
connect), messages persisted through ``chat.services.message_post``.

Statements per message are counted in-process (``statements``) through the real ASGI application
(``WebsocketCommunicator``), every cursor of the process (the consumer's database work runs in
asgiref's thread, where ``CaptureQueriesContext`` sees nothing), around messages sent after both
sides joined.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Bench

BODY_BYTES = 100
SIDES = ("v", "h")  # visitor, helper


# -- the orchestrator's part (bench.run) ------------------------------------------------------------


def chat_sizes(mode: str) -> list[int]:
    return {"full": [200, 500], "quick": [50], "smoke": [3]}[mode]


def chat_phase(bench: Bench) -> dict[str, Any]:
    """Every size on the tutorial consumer and the project; the in-process statement count."""
    from bench.run import log

    mode = bench.config.mode
    seconds = {"full": 20.0, "quick": 10.0, "smoke": 4.0}[mode]
    results: dict[str, Any] = {"interval": 2.0, "seconds": seconds, "body_bytes": BODY_BYTES, "sizes": {}}
    sizes = bench.config.chat_rooms or chat_sizes(mode)
    for rooms in sizes:
        row: dict[str, Any] = {}
        for kind in ("tutorial", "project"):
            if bench.over_budget() and mode == "full" and rooms > min(sizes):
                row[kind] = {"skipped": "time budget"}
                continue
            log(f"chat: {kind} with {rooms} rooms")
            row[kind] = run_rooms(bench, kind, rooms, seconds=seconds, interval=2.0)
            log(f"chat: {kind} at {rooms} rooms: {summary_line(row[kind])}")
            bench.clear_redis()
        results["sizes"][str(rooms)] = row
    log("chat: statements per message (in-process)")
    results["statements"] = run_django(bench, ["statements"])
    return results


def run_django(bench: Bench, args: list[str]) -> Any:
    import subprocess

    from bench.run import CODE, PYTHON

    out = bench.log_dir / f"chat-{args[0]}-{time.monotonic_ns()}.json"
    subprocess.run(
        [PYTHON, "-m", "bench.chat", *args, "--out", str(out)],
        cwd=CODE.root,
        env=bench.server_env("project"),
        check=True,
    )
    return json.loads(out.read_text())


def run_rooms(bench: Bench, kind: str, rooms: int, *, seconds: float, interval: float) -> dict[str, Any]:
    from bench.run import LineProcess, Server, cpu_seconds, ms, percentile, thread_cpu_seconds

    config = bench.config
    if kind == "project":
        specs = run_django(bench, ["rooms", "--rooms", str(rooms)])
        env = bench.server_env("project")
        server = Server("project", env, bench.log_dir / f"chat-project-{rooms}.log")
    else:
        specs = [{"room": f"r{index}"} for index in range(rooms)]
        env = bench.base_env()
        env["DJANGO_SETTINGS_MODULE"] = "bench.servers.tutorial_settings"
        env["BENCH_TUTORIAL_PREFIX"] = f"{bench.prefix}:tutorial"
        server = Server(
            "tutorial", env, bench.log_dir / f"chat-tutorial-{rooms}.log", app="bench.servers.tutorial:application"
        )
    server.start()
    procs = 1 if rooms < 20 else config.client_procs
    clients = [
        LineProcess(
            [sys.executable, "-m", "bench.chat", "client"], bench.base_env(), bench.log_dir / f"chat-client-{i}.log"
        )
        for i in range(procs)
    ]
    result: dict[str, Any] = {"rooms": rooms, "client_procs": procs}
    try:
        base = f"ws://127.0.0.1:{server.port}"
        shares = [specs[index::procs] for index in range(procs)]
        for client, share in zip(clients, shares, strict=True):
            client.send({"cmd": "connect", "kind": kind, "base": base, "rooms": share})
        connects = [client.receive() for client in clients]
        result["connected"] = sum(reply["connected"] for reply in connects)
        result["connect_failed"] = sum(reply["failed"] for reply in connects)
        result["ready"] = sum(reply["ready"] for reply in connects)
        time.sleep(1.0)
        cpu_before = cpu_seconds(server.pid)
        threads_before = thread_cpu_seconds(server.pid)
        spy = _spy(server.pid, kind, rooms, seconds)
        for client in clients:
            client.send({"cmd": "run", "seconds": seconds, "interval": interval})
        replies = [client.receive() for client in clients]
        if spy is not None:
            spy.wait()
        cpu = cpu_seconds(server.pid) - cpu_before
        threads_after = thread_cpu_seconds(server.pid)
    finally:
        for client in clients:
            client.close()
        server.stop()
    latencies = [value for reply in replies for value in reply["latencies"]]
    sent = sum(reply["sent"] for reply in replies)
    delivered = sum(reply["delivered"] for reply in replies)
    errors: dict[str, int] = {}
    for reply in replies:
        for code, count in reply["errors"].items():
            errors[code] = errors.get(code, 0) + count
    result.update(
        {
            "sent": sent,
            "delivered": delivered,
            "lost": sent - delivered,
            "duplicates": sum(reply["duplicates"] for reply in replies),
            "out_of_order": sum(reply["out_of_order"] for reply in replies),
            "closed_sockets": sum(reply["closed"] for reply in replies),
            "error_frames": errors,
            "latency_ms": {
                "p50": ms(percentile(latencies, 50)),
                "p95": ms(percentile(latencies, 95)),
                "p99": ms(percentile(latencies, 99)),
                "max": ms(max(latencies) if latencies else None),
            },
            "within_1s": sum(1 for value in latencies if value <= 1.0),
            "messages_per_second": round(sent / seconds, 1),
            "server_cpu_seconds": round(cpu, 3),
            "server_cpu_ms_per_message": round(cpu * 1000 / sent, 3) if sent else None,
            "server_cpu_seconds_main_thread": round(threads_after[0] - threads_before[0], 3),
            "server_cpu_seconds_other_threads": round(threads_after[1] - threads_before[1], 3),
        }
    )
    return result


def _spy(pid: int, kind: str, rooms: int, seconds: float) -> Any:
    """With ``BENCH_CHAT_PROFILE=<dir>``: py-spy over the sending (it costs CPU: for finding out where
    the time goes, never in a measured run)."""
    import shutil
    import subprocess

    into = os.environ.get("BENCH_CHAT_PROFILE")
    tool = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not into or not Path(tool).exists():
        return None
    out = Path(into) / f"chat-{kind}-{rooms}.txt"
    args = [tool, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summary_line(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"skipped ({result['skipped']})"
    latency = result["latency_ms"]
    return (
        f"{result['connected']} sockets, {result['sent']} messages, lost {result['lost']}, dup {result['duplicates']}, "
        f"reordered {result['out_of_order']}; p50 {latency['p50']} p99 {latency['p99']} max {latency['max']} ms; "
        f"cpu {result['server_cpu_ms_per_message']} ms/message; errors {result['error_frames']}"
    )


# -- the report (bench.report) ----------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def report_table(results: dict[str, Any]) -> list[str]:
    """The chat section of docs/performance.md (empty without a chat phase)."""
    chat = results.get("chat")
    if not chat:
        return []
    lines = [
        "### Chat rooms",
        "",
        f"Rooms of two sockets (the project: a visitor with the request's secret and its assigned volunteer, "
        f"logged in; the tutorial: two sockets in one room); each side sends a {chat['body_bytes']}-byte message "
        f"every {chat['interval']:g} s after a typing frame, for {chat['seconds']:g} s. Latency: send to "
        "receive at the other side. *Lost*: not received within 5 s of the last arrival (15 s at most) after the "
        "last send. CPU: the server process's user+system time per message sent. The project persists each "
        "message before pushing it; the tutorial persists nothing.",
        "",
        "| rooms | server | messages | lost | dup | reordered | p50 ms | p99 ms | max ms | within 1 s "
        "| CPU ms/message | error frames |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rooms, row in chat["sizes"].items():
        for kind in ("tutorial", "project"):
            cell = row.get(kind, {})
            if "skipped" in cell or not cell:
                lines.append(f"| {rooms} | {kind} | skipped | | | | | | | | | |")
                continue
            latency = cell["latency_ms"]
            share = 100 * cell["within_1s"] / cell["sent"] if cell["sent"] else None
            lines.append(
                f"| {rooms} | {'Channels tutorial' if kind == 'tutorial' else 'this project'} | {cell['sent']:,} "
                f"| {cell['lost']} | {cell['duplicates']} | {cell['out_of_order']} | {_fmt(latency['p50'])} "
                f"| {_fmt(latency['p99'])} | {_fmt(latency['max'])} | {_fmt(share)}% "
                f"| {_fmt(cell['server_cpu_ms_per_message'], 2)} | {cell['error_frames'] or '-'} |"
            )
    statements = chat.get("statements")
    if statements:
        lines += [
            "",
            f"Statements per message (in-process, every cursor; {statements['messages']} messages of a fresh room): "
            f"{statements['per_message']}, steady state at most {statements['steady_max']}. A visitor's message: "
            + "; ".join(f"`{sql}`" for sql in statements["visitor_sql"]),
        ]
    lines.append("")
    return lines


def report_targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The chat target's row of the targets table (none without a chat phase)."""
    chat = results.get("chat")
    if not chat:
        return []
    sizes = chat["sizes"]
    at_200, at_500 = sizes.get("200", {}), sizes.get("500", {})
    project, tutorial = at_200.get("project", {}), at_200.get("tutorial", {})
    p99, p99_ref = project.get("latency_ms", {}).get("p99"), tutorial.get("latency_ms", {}).get("p99")
    cpu, cpu_ref = project.get("server_cpu_ms_per_message"), tutorial.get("server_cpu_ms_per_message")
    big = at_500.get("project", {})
    steady = (chat.get("statements") or {}).get("steady_max")
    clean = all(
        cell.get("lost") == 0 and cell.get("duplicates") == 0 and cell.get("out_of_order") == 0
        for row in sizes.values()
        for kind, cell in row.items()
        if kind == "project" and "skipped" not in cell
    )
    ok = (
        p99 is not None
        and p99_ref is not None
        and p99 <= 2 * p99_ref
        and cpu is not None
        and cpu_ref is not None
        and cpu <= 0.5 * cpu_ref
        and big.get("sent") is not None
        and big.get("within_1s") == big.get("sent")
        and clean
        and steady is not None
        and steady <= 3
    )
    measured = (
        f"200 rooms: p99 {_fmt(p99)} ms (tutorial {_fmt(p99_ref)}), CPU {_fmt(cpu, 2)} ms/message "
        f"(tutorial {_fmt(cpu_ref, 2)}); 500 rooms: {_fmt(big.get('within_1s'))} of {_fmt(big.get('sent'))} "
        f"within 1 s (max {_fmt(big.get('latency_ms', {}).get('max'))} ms); lost/dup/reordered "
        f"{'none' if clean else 'some'}; statements per message {_fmt(steady)}"
    )
    return [
        (
            "Chat: 200 rooms p99 ≤ 2x the Channels tutorial, CPU/message ≤ 0.5x; 500 rooms all within 1 s; "
            "nothing lost; ≤ 3 statements per message",
            measured,
            "-" if p99 is None else ("met" if ok else "**not met**"),
        )
    ]


def plot_points(results: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """p99 against rooms, per server (the plot's chat panel)."""
    points: dict[str, list[tuple[int, float]]] = {}
    for rooms, row in (results.get("chat") or {}).get("sizes", {}).items():
        for kind, cell in row.items():
            p99 = cell.get("latency_ms", {}).get("p99")
            if p99 is not None:
                points.setdefault(kind, []).append((int(rooms), p99))
    return points


# -- the load client ---------------------------------------------------------------------------------


class Room:
    """Both sockets of one room, and what each side has received from the other."""

    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.index = index
        self.spec = spec
        self.sockets: dict[str, Any] = {}
        self.sent = dict.fromkeys(SIDES, 0)
        self.last_seen = dict.fromkeys(SIDES, -1)  # per sender side: the last seq its peer got
        self.seen: dict[str, set[int]] = {side: set() for side in SIDES}


class ChatClient:
    def __init__(self) -> None:
        self.kind = ""
        self.rooms: list[Room] = []
        self.latencies: list[float] = []
        self.duplicates = self.out_of_order = self.closed = 0
        self.errors: dict[str, int] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.ready: set[tuple[int, str]] = set()
        self.expected = 0
        self.all_ready = asyncio.Event()

    def url(self, base: str, room: Room) -> str:
        if self.kind == "project":
            return f"{base}/ws/help-requests/{room.spec['public_id']}/"
        return f"{base}/ws/chat/{room.spec['room']}/"

    def headers(self, room: Room, side: str) -> dict[str, str]:
        if self.kind != "project":
            return {}
        if side == "v":
            return {"X-Help-Request-Token": room.spec["token"]}
        return {"Cookie": room.spec["cookie"]}

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        self.kind = command["kind"]
        base = command["base"]
        origin = Origin(base.replace("ws://", "http://"))
        self.rooms = [Room(index, spec) for index, spec in enumerate(command["rooms"])]
        failed = 0
        semaphore = asyncio.Semaphore(50)

        async def open_one(room: Room, side: str) -> None:
            nonlocal failed
            async with semaphore:
                try:
                    socket_ = await connect(
                        self.url(base, room),
                        additional_headers=self.headers(room, side),
                        origin=origin,
                        compression=None,
                        max_size=2**24,
                        open_timeout=60,
                    )
                except Exception as exc:  # counted, not fatal: the summary shows it
                    print(f"connect failed: {exc!r}", file=sys.stderr, flush=True)
                    failed += 1
                    return
                room.sockets[side] = socket_
                self.tasks.append(asyncio.ensure_future(self.receive(room, side, socket_)))

        await asyncio.gather(*(open_one(room, side) for room in self.rooms for side in SIDES))
        connected = sum(len(room.sockets) for room in self.rooms)
        # The project accepts first and joins after (history, then presence): measure once every
        # socket has its first presence frame, not while the server is still joining them.
        self.expected = connected
        if self.kind == "project" and len(self.ready) < connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_ready.wait(), 60)
        return {
            "connected": connected,
            "failed": failed,
            "ready": len(self.ready) if self.kind == "project" else connected,
        }

    async def receive(self, room: Room, side: str, socket_: Any) -> None:
        try:
            async for text in socket_:
                now = time.time()
                frame = json.loads(text)
                if self.kind == "project":
                    kind = frame.get("type")
                    if kind == "error":
                        code = str(frame.get("code"))
                        self.errors[code] = self.errors.get(code, 0) + 1
                        continue
                    if kind == "presence":
                        self.ready.add((room.index, side))
                        if len(self.ready) >= self.expected > 0:
                            self.all_ready.set()
                    if kind != "message":
                        continue
                    body = frame.get("body", "")
                else:
                    body = frame.get("message", "")
                if not body.startswith("b|"):
                    continue  # typing, or a system message
                _, _, sender, seq_text, ts_text, _ = body.split("|", 5)
                if sender == side:
                    continue  # our own message, echoed to the whole room
                seq = int(seq_text)
                if seq in room.seen[sender]:
                    self.duplicates += 1
                    continue
                room.seen[sender].add(seq)
                if seq < room.last_seen[sender]:
                    self.out_of_order += 1
                room.last_seen[sender] = max(room.last_seen[sender], seq)
                self.latencies.append(now - float(ts_text))
        except Exception:
            pass
        self.closed += 1

    def message(self, room: Room, side: str, seq: int) -> str:
        body = f"b|{room.index}|{side}|{seq}|{time.time():.6f}|"
        body += "x" * (BODY_BYTES - len(body))
        if self.kind == "project":
            return json.dumps({"type": "message", "body": body, "client_id": f"{side}-{seq}"})
        return json.dumps({"message": body})

    def typing(self, side: str) -> str:
        if self.kind == "project":
            return '{"type":"typing"}'
        return json.dumps({"message": f"typing {side}"})

    async def sender(self, room: Room, side: str, start: float, end: float, interval: float) -> None:
        socket_ = room.sockets.get(side)
        if socket_ is None:
            return
        loop = asyncio.get_running_loop()
        at = start + random.uniform(0, interval)
        seq = 0
        while at < end:
            await asyncio.sleep(max(0.0, at - 0.3 - loop.time()))
            try:
                await socket_.send(self.typing(side))
                await asyncio.sleep(max(0.0, at - loop.time()))
                await socket_.send(self.message(room, side, seq))
            except Exception:
                return
            room.sent[side] = seq = seq + 1
            at += interval

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        interval, seconds = float(command["interval"]), float(command["seconds"])
        self.latencies.clear()
        start = loop.time() + 0.5
        await asyncio.gather(
            *(self.sender(room, side, start, start + seconds, interval) for room in self.rooms for side in SIDES)
        )
        sent = sum(sum(room.sent.values()) for room in self.rooms)
        # Drain: until every message reached the other side, or nothing more came for 5 s (15 s at most).
        deadline, last_count, last_change = loop.time() + 15, -1, loop.time()
        while loop.time() < deadline:
            delivered = len(self.latencies)
            if delivered >= sent:
                break
            if delivered != last_count:
                last_count, last_change = delivered, loop.time()
            elif loop.time() - last_change > 5:
                break
            await asyncio.sleep(0.1)
        return {
            "sent": sent,
            "delivered": len(self.latencies),
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "closed": self.closed,
            "errors": self.errors,
            "latencies": [round(value, 5) for value in self.latencies],
        }

    async def close(self) -> None:
        for room in self.rooms:
            for socket_ in room.sockets.values():
                try:
                    await asyncio.wait_for(socket_.close(), 5)
                except Exception:
                    pass


async def client_main() -> None:
    client = ChatClient()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        try:
            if command["cmd"] == "connect":
                reply = await client.connect(command)
            elif command["cmd"] == "run":
                reply = await client.run(command)
            elif command["cmd"] == "close":
                await client.close()
                print(json.dumps({"closed": True}), flush=True)
                break
            else:
                reply = {"error": f"unknown command {command['cmd']!r}"}
        except Exception as exc:
            reply = {"error": repr(exc)}
        print(json.dumps(reply), flush=True)


# -- Django-side work (the run's database) -----------------------------------------------------------


def command_rooms(count: int) -> list[dict[str, str]]:
    """``count`` help requests, each assigned to a volunteer of its own with a logged-in session, and
    the visitor's secret of each."""
    from django.utils import timezone

    from bench.django_tasks import create_users, session_cookies
    from chat import visitors
    from chat.models import HelpRequest, Status

    tag = f"chat{count}_{os.getpid()}_"
    helpers = create_users(tag, count, "volunteer")
    cookies = session_cookies(helpers)
    secrets = [visitors.new_secret() for _ in range(count)]
    now = timezone.now()
    requests = HelpRequest.objects.bulk_create(
        [
            HelpRequest(
                name=f"Visitor {index}",
                description="A benchmark conversation.",
                status=Status.ASSIGNED,
                assigned_to=helper,
                assigned_at=now,
                visitor_token_hash=visitors.secret_hash(secret),
            )
            for index, (helper, secret) in enumerate(zip(helpers, secrets, strict=True))
        ],
        batch_size=1000,
    )
    return [
        {"public_id": str(request.public_id), "token": secret, "cookie": cookie}
        for request, secret, cookie in zip(requests, secrets, cookies, strict=True)
    ]


async def _count_room(spec: dict[str, str], messages: int) -> dict[str, Any]:
    from channels.testing import WebsocketCommunicator

    from bench.django_tasks import StatementCounter, _short
    from charity.asgi import application

    path = f"/ws/help-requests/{spec['public_id']}/"
    base = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]
    sides = {
        "v": WebsocketCommunicator(
            application, path, headers=[*base, (b"x-help-request-token", spec["token"].encode())]
        ),
        "h": WebsocketCommunicator(application, path, headers=[*base, (b"cookie", spec["cookie"].encode())]),
    }
    for communicator in sides.values():
        connected, _ = await communicator.connect(timeout=30)
        assert connected

    async def until_message(communicator: WebsocketCommunicator, client_id: str) -> None:
        while True:
            frame = json.loads(await communicator.receive_from(timeout=30))
            if frame.get("type") == "error":
                raise RuntimeError(frame)
            if frame.get("type") == "message" and frame.get("client_id") == client_id:
                return

    async def one(side: str, seq: int) -> list[str]:
        other = sides["h" if side == "v" else "v"]
        client_id = f"{side}-{seq}"
        with StatementCounter() as counter, _AdbCounter(counter.statements):
            await sides[side].send_to(
                text_data=json.dumps({"type": "message", "body": f"Hello {seq}", "client_id": client_id})
            )
            await until_message(sides[side], client_id)
            await until_message(other, client_id)
            await asyncio.sleep(0.2)  # what follows the push (risk list, absent assignee) is counted too
        return [_short(sql) for sql in counter.statements]

    per_message: list[dict[str, Any]] = []
    for seq in range(messages):
        for side in ("v", "h"):
            per_message.append({"side": side, "seq": seq, "statements": await one(side, seq)})
    for communicator in sides.values():
        await communicator.disconnect()
    return {"messages": per_message}


class _AdbCounter:
    """Adds the statements sent on ``realtime.adb``'s asynchronous connections (not Django cursors)."""

    def __init__(self, into: list[str]) -> None:
        self.into = into

    def __enter__(self) -> None:
        from realtime import adb

        self._original = original = adb.fetchone
        into = self.into

        async def counting(sql: str, params: Any, **kwargs: Any) -> Any:
            into.append(sql)
            return await original(sql, params, **kwargs)

        adb.fetchone = counting  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        from realtime import adb

        adb.fetchone = self._original  # type: ignore[assignment]


def command_statements() -> dict[str, Any]:
    """Statements of each message of a fresh room (the helper's first reply included), both sides."""
    counted = asyncio.run(_count_room(command_rooms(1)[0], 3))
    rows = counted["messages"]
    counts = [len(row["statements"]) for row in rows]
    # After the helper's first reply: the steady state of a conversation.
    steady = [len(row["statements"]) for row in rows[2:]]
    return {
        "messages": len(rows),
        "per_message": counts,
        "mean": round(sum(counts) / len(counts), 2),
        "max": max(counts),
        "steady_max": max(steady),
        "visitor_sql": rows[-2]["statements"],
        "helper_first_reply_sql": rows[1]["statements"],
        "helper_sql": rows[-1]["statements"],
    }


def django_main(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.project_settings")
    import django

    django.setup()
    result: Any = command_rooms(args.rooms) if args.command == "rooms" else command_statements()
    args.out.write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    rooms = sub.add_parser("rooms")
    rooms.add_argument("--rooms", type=int, required=True)
    rooms.add_argument("--out", type=Path, required=True)
    statements = sub.add_parser("statements")
    statements.add_argument("--out", type=Path, required=True)
    sub.add_parser("client")
    args = parser.parse_args()
    if args.command == "client":
        asyncio.run(client_main())
    else:
        django_main(args)


if __name__ == "__main__":
    main()
