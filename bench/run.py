"""The fan-out benchmark: B0 (raw ASGI), B1 (plain Channels) and this project, in one run.

    python -m bench.run            # full run, writes bench/results/ and docs/performance.md + .png
    python -m bench.run --quick    # fewer sizes, shorter phases
    python -m bench.run --smoke --out /tmp/x --no-docs   # seconds; what tests/bench runs

It starts everything itself on 127.0.0.1: a PostgreSQL database of its own (created, migrated and
dropped again), a Redis key prefix of its own, daphne processes on free ports, the load client
processes and a publisher process. See bench/README.md for what each phase measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import sse, storm

if __name__ == "__main__":
    # The phase modules import ``bench.run``; run as ``python -m bench.run`` this module is
    # ``__main__``, and a second copy of it would have its own CODE (the live checkout, not the run's
    # snapshot of the sources).
    sys.modules.setdefault("bench.run", sys.modules[__name__])

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"
SERVERS = ("b0", "b1", "project")
# Sources copied at the start of a run. Others edit this checkout while the benchmark runs; every
# process of one run must measure the same code, so all of them start from the copy.
SNAPSHOT_DIRS = (
    "bench",
    "charity",
    "realtime",
    "notifications",
    "chat",
    "donations",
    "shifts",
    "dashboard",
    "templates",
)


@dataclass
class CodeTree:
    root: Path = ROOT
    fingerprint: str = ""


CODE = CodeTree()


def snapshot_code(into: Path) -> CodeTree:
    """Copy the project's sources to ``into``; return it with a fingerprint of every .py file in it."""
    ignore = shutil.ignore_patterns("__pycache__", "results", "*.pyc", "node_modules")
    for name in SNAPSHOT_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, into / name, ignore=ignore)
    shutil.copy2(ROOT / "manage.py", into / "manage.py")
    digest = hashlib.sha256()
    for path in sorted(into.rglob("*.py")):
        if path.parts[len(into.parts)] != "bench":
            digest.update(str(path.relative_to(into)).encode() + b"\0" + path.read_bytes())
    return CodeTree(root=into, fingerprint=digest.hexdigest()[:12])


LABELS = {"b0": "B0 raw ASGI", "b1": "B1 plain Channels", "project": "this project"}


@dataclass
class Config:
    mode: str  # full, quick, smoke
    sizes: list[int]
    servers: list[str]
    burst_deliveries: int
    steady_seconds: float
    steady_rate: float
    drain_seconds: float
    singles: int
    client_procs: int
    extras: bool
    profile: bool
    database_url: str
    redis_url: str
    out: Path
    docs: bool
    budget_seconds: float
    tuned_references: bool = False
    server_procs: int = 2  # the project again on this many processes behind one Redis (1: not)
    procs_sizes: list[int] = field(default_factory=list)
    sse: bool = True  # the SSE phase (bench/sse.py)
    only_sse: bool = False
    chat: bool = True  # the chat phase (bench/chat.py)
    only_chat: bool = False
    chat_rooms: list[int] | None = None


# -- small helpers -----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line (11 and 12 after the command name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """(the main thread, every other thread): the event loop against asgiref's and the executors' threads."""
    main = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            if task.name == str(pid):
                main += seconds
            else:
                other += seconds
    return main, other


def processes_cpu(server: Server) -> list[float]:
    """CPU seconds of each process of ``server`` (one, or more with ``--server-procs``)."""
    return [cpu_seconds(process.pid) for process in server.processes]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raise_open_files() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirs = [name for name in SNAPSHOT_DIRS if name != "bench"]
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", *dirs], cwd=ROOT, capture_output=True, text=True
        ).stdout
    except OSError:
        return "unknown"
    changed = sorted(line[3:] for line in dirty.splitlines() if line.endswith(".py"))
    return head.strip() + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {}
    from importlib.metadata import version

    for package in ("Django", "channels", "channels-redis", "daphne", "Twisted", "autobahn", "websockets", "redis"):
        with contextlib.suppress(Exception):
            versions[package] = version(package)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


# -- processes ---------------------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    env: dict[str, str]
    log_path: Path
    app: str = ""
    deflate: bool = False
    tuned: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # More processes of the same server behind the same Redis (``--server-procs``): started and
    # stopped with this one; the clients spread their sockets over all of them.
    siblings: list[Server] = field(default_factory=list)

    @property
    def processes(self) -> list[Server]:
        return [self, *self.siblings]

    def start(self) -> None:
        # The project runs as deployed (docs/operations.md): on realtime.server, whose collector
        # tuning it needs; the references on stock daphne, except in the compression phase and
        # with --tuned-references.
        module = "realtime.server" if self.deflate or self.tuned or self.kind == "project" else "daphne"
        app = (
            self.app
            or {
                "b0": "bench.servers.b0:application",
                "b1": "bench.servers.b1:application",
                "project": "charity.asgi:application",
            }[self.kind]
        )
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [PYTHON, "-m", module, "-b", "127.0.0.1", "-p", str(self.port), app],
                cwd=CODE.root,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited:\n{self.log_path.read_text()[-3000:]}")
            if port_open(self.port):
                for sibling in self.siblings:
                    sibling.start()
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server did not listen on {self.port}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def sub_url(self) -> str:
        path = "/ws/notifications/" if self.kind == "project" else "/ws/sub"
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        for sibling in self.siblings:
            sibling.stop()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class LineProcess:
    """A child driven by one JSON line in, one JSON line out (the client and the publisher)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            args, cwd=CODE.root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.process.args!r} died:\n{self.log_path.read_text()[-3000:]}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.process.args!r}: {reply['error']}")
        return reply

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        self.send(command)
        return self.receive()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call({"cmd": "close"})
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class ClientPool:
    """Several client processes; commands go to all at once and the replies are merged."""

    def __init__(self, procs: int, env: dict[str, str], log_dir: Path) -> None:
        self.clients = [
            LineProcess([PYTHON, "-m", "bench.client"], env, log_dir / f"client-{index}.log") for index in range(procs)
        ]

    def broadcast(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for client, command in zip(self.clients, commands, strict=True):
            client.send(command)
        return [client.receive() for client in self.clients]

    def connect(self, server: Server, n: int, cookies: list[str] | None, **extra: Any) -> dict[str, Any]:
        shares = [
            n // len(self.clients) + (1 if index < n % len(self.clients) else 0) for index in range(len(self.clients))
        ]
        commands, offset = [], 0
        for index, share in enumerate(shares):
            part = cookies[offset : offset + share] if cookies else None
            offset += share
            # Several server processes: each client process connects to one of them, in turn.
            url = server.processes[index % len(server.processes)].sub_url
            commands.append({"cmd": "connect", "url": url, "n": share, "kind": server.kind, "cookies": part, **extra})
        replies = self.broadcast(commands)
        errors: dict[str, int] = {}
        extensions: dict[str, int] = {}
        for reply in replies:
            for key, count in reply["errors"].items():
                errors[key] = errors.get(key, 0) + count
            for key, count in reply.get("extensions", {}).items():
                extensions[key] = extensions.get(key, 0) + count
        per_server = [0] * len(server.processes)
        for index, reply in enumerate(replies):
            per_server[index % len(server.processes)] += reply["connected"]
        return {
            "connected": sum(reply["connected"] for reply in replies),
            "connected_per_server": per_server,
            "failed": sum(reply["failed"] for reply in replies),
            "seconds": max(reply["seconds"] for reply in replies),
            "errors": errors,
            "extensions": extensions,
        }

    def reset(self) -> None:
        self.broadcast([{"cmd": "reset"}] * len(self.clients))

    def collect(self, seqs: list[int], timeout: float, idle: float, *, direct: bool = False) -> dict[str, Any]:
        """Merged deliveries. ``direct``: each sequence number is for one socket, counted once overall."""
        replies = self.broadcast(
            [{"cmd": "collect", "seqs": seqs, "timeout": timeout, "idle": idle, "direct": direct}] * len(self.clients)
        )
        last: dict[str, list[float]] = {}
        for reply in replies:
            for seq, (when, latency) in reply["last_arrival"].items():
                if seq not in last or when > last[seq][0]:
                    last[seq] = [when, latency]
        codes: dict[str, int] = {}
        for reply in replies:
            for code, count in reply["close_codes"].items():
                codes[code] = codes.get(code, 0) + count
        wire = [reply["wire_bytes"] for reply in replies if reply["wire_bytes"] is not None]
        if direct:
            received = [seq for reply in replies for seq in reply["received"]]
            unique = len(set(received))
            expected, delivered = len(seqs), unique
            across = len(received) - unique  # one number on two sockets
        else:
            expected = sum(reply["expected"] for reply in replies)
            delivered = sum(reply["delivered"] for reply in replies)
            across = 0
        return {
            "expected": expected,
            "delivered": delivered,
            "duplicates": across + sum(reply["duplicates"] for reply in replies),
            "out_of_order": sum(reply["out_of_order"] for reply in replies),
            "closed_sockets": sum(reply["closed"] for reply in replies),
            "close_codes": codes,
            "latencies": [value for reply in replies for value in reply["latencies"]],
            "last_arrival": {int(seq): value for seq, value in last.items()},
            "wire_bytes": sum(wire) if wire else None,
        }

    def send_all(self, char: str, length: int) -> list[dict[str, Any]]:
        command = {"cmd": "send_all", "char": char, "length": length, "wait": 2.0}
        return self.broadcast([command] * len(self.clients))

    def close(self) -> None:
        for client in self.clients:
            client.close()


# -- the run -----------------------------------------------------------------------------------------


class Bench:
    def __init__(self, config: Config) -> None:
        self.config = config
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.run_id = f"{stamp}-{os.getpid()}"
        self.prefix = f"bench-{self.run_id}"
        self.log_dir = config.out / "logs" / self.run_id
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._snapshot = tempfile.TemporaryDirectory(prefix="bench-code-")
        snapshot = snapshot_code(Path(self._snapshot.name))
        CODE.root, CODE.fingerprint = snapshot.root, snapshot.fingerprint
        parts = urlsplit(config.database_url)
        self.db_name = f"charity_bench_{os.getpid()}_{int(time.time())}"
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        self.bench_db_url = urlunsplit(parts._replace(path="/" + self.db_name))
        self.cookies: list[str] = []
        self.results: dict[str, Any] = {
            "run_id": self.run_id,
            "mode": config.mode,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "loadavg_start": os.getloadavg(),
            "config": {
                "sizes": config.sizes,
                "burst_deliveries": config.burst_deliveries,
                "steady_rate": config.steady_rate,
                "steady_seconds": config.steady_seconds,
                "client_procs": config.client_procs,
                "message_bytes": 200,
                "references_on": "realtime.server" if config.tuned_references else "daphne",
            },
            "fanout": {kind: {} for kind in config.servers},
            "git": git_revision(),
            "code_fingerprint": CODE.fingerprint,
        }
        self.started = time.monotonic()

    # -- environment --------------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
        env.update(
            {
                "PYTHONPATH": str(CODE.root),
                "PYTHONUNBUFFERED": "1",
                "SECRET_KEY": SECRET_KEY,
                "DEBUG": "0",
                # Plain HTTP on loopback, no mail sent.
                "SECURE_SSL_REDIRECT": "0",
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
                "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.bench_db_url,
                "REDIS_URL": self.config.redis_url,
                "REDIS_PREFIX": self.prefix,
                "BENCH_B1_PREFIX": f"{self.prefix}:b1",
                "LOG_LEVEL": "WARNING",
            }
        )
        env.pop("CONN_MAX_AGE", None)  # the production default (60 s), not the test suite's 0
        return env

    def server_env(self, kind: str) -> dict[str, str]:
        env = self.base_env()
        env["DJANGO_SETTINGS_MODULE"] = (
            "bench.servers.b1_settings" if kind == "b1" else "bench.servers.project_settings"
        )
        return env

    def create_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        env = self.server_env("project")
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=CODE.root, env=env, check=True)
        # One person per socket; the Redis phase needs 1,000 of them whatever the sizes, and so does
        # the one-to-one phase.
        from bench import direct

        wanted = direct.settings_for(self.config.mode)["n"] if "project" in self.config.servers else 0
        sizes = [*self.config.sizes, 1000 if self.config.extras else 0, int(wanted), sse.sse_size(self.config.mode)]
        # The reconnect storm's sizes too, and one more for its warm-up socket.
        sizes += storm.sizes(self.config.mode)
        people = max(sizes) + 1
        out = self.log_dir / "cookies.json"
        subprocess.run(
            [PYTHON, "-m", "bench.django_tasks", "users", "--volunteers", str(people), "--out", str(out)],
            cwd=CODE.root,
            env=env,
            check=True,
        )
        self.cookies = json.loads(out.read_text())["cookies"]

    def drop_database(self) -> None:
        with contextlib.suppress(Exception), psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def reset_project_state(self, role_size: int) -> None:
        """Empty the notification tables and make the volunteer role exactly the first ``role_size`` users."""
        with psycopg.connect(self.bench_db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE notifications_recipient, notifications_notification CASCADE")
            group_id = conn.execute("SELECT id FROM auth_group WHERE name = 'volunteer'").fetchone()[0]  # type: ignore[index]
            conn.execute("DELETE FROM auth_user_groups WHERE group_id = %s", [group_id])
            conn.execute(
                "INSERT INTO auth_user_groups (user_id, group_id) SELECT id, %s FROM auth_user "
                "WHERE username LIKE 'vol%%' ORDER BY id LIMIT %s",
                [group_id, role_size],
            )

    def clear_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.config.redis_url)
        for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
            client.delete(key)
        client.close()

    def publisher(self, server: Server) -> LineProcess:
        target = f"ws://127.0.0.1:{server.port}/ws/pub" if server.kind == "b0" else ""
        env = self.server_env(server.kind)
        return LineProcess([PYTHON, "-m", "bench.publisher", server.kind, target], env, self.log_dir / "publisher.log")

    def over_budget(self) -> bool:
        return time.monotonic() - self.started > self.config.budget_seconds

    # -- fan-out phases -------------------------------------------------------------------------------

    def run_fanout(self, kind: str, n: int, server_procs: int = 1) -> dict[str, Any]:
        config = self.config
        if kind == "project":
            self.reset_project_state(n)
        server = Server(kind, self.server_env(kind), self.log_dir / f"{kind}-{n}.log", tuned=config.tuned_references)
        server.siblings = [
            Server(kind, self.server_env(kind), self.log_dir / f"{kind}-{n}-{index}.log", tuned=config.tuned_references)
            for index in range(1, server_procs)
        ]
        server.start()
        publisher = self.publisher(server)
        procs = max(1 if n < 200 else config.client_procs, server_procs)
        result: dict[str, Any] = {"n": n, "client_procs": procs, "server_procs": server_procs}
        seq = 0
        try:
            # Warm up (imports, first Redis and database connections) with one socket, then measure.
            warm = ClientPool(1, self.base_env(), self.log_dir)
            warm.connect(server, 1, self.cookies[:1])
            publisher.call({"cmd": "burst", "start": seq, "count": 1})
            warm.collect([seq], timeout=30, idle=30)
            seq += 1
            warm.close()
            time.sleep(1.0)
            rss_before = sum(rss_kib(process.pid) for process in server.processes)
            pool = ClientPool(procs, self.base_env(), self.log_dir)
            try:
                connect = pool.connect(server, n, self.cookies[:n] if kind == "project" else None)
                result["connect"] = connect
                time.sleep(2.0)
                rss_after = sum(rss_kib(process.pid) for process in server.processes)
                connected = connect["connected"]
                result["rss_kib_per_connection"] = round((rss_after - rss_before) / max(connected, 1), 1)
                result["rss_kib"] = {"before": rss_before, "after": rss_after}
                if connected < n * 0.99:
                    result["refused"] = True
                    return result
                # One broadcast at a time: when does the last socket have it?
                singles = []
                for _ in range(config.singles):
                    pool.reset()
                    publisher.call({"cmd": "burst", "start": seq, "count": 1})
                    got = pool.collect([seq], timeout=30, idle=15)
                    singles.append(max(got["latencies"]) if got["latencies"] else None)
                    seq += 1
                    time.sleep(0.3)
                result["single"] = {
                    "last_client_ms": [ms(value) for value in singles],
                    "last_client_ms_median": ms(statistics.median([v for v in singles if v is not None]))
                    if any(v is not None for v in singles)
                    else None,
                }
                # A burst: as many messages as fast as the publisher can make them.
                count = max(3, round(config.burst_deliveries / n))
                result["burst"] = self.measure(server, pool, publisher, seq, count, rate=0.0)
                seq += count
                # Steady: a fixed rate for a while; does it keep up?
                count = max(3, round(config.steady_rate * config.steady_seconds))
                result["steady"] = self.measure(server, pool, publisher, seq, count, rate=config.steady_rate)
                seq += count
                if config.profile and n == 1000:
                    result["profile"] = self.profile(server, pool, publisher, seq, count)
                    seq += max(3, round(config.burst_deliveries / n))
            finally:
                pool.close()
        finally:
            publisher.close()
            server.stop()
        return result

    def measure(
        self, server: Server, pool: ClientPool, publisher: LineProcess, start: int, count: int, *, rate: float
    ) -> dict[str, Any]:
        config = self.config
        seqs = list(range(start, start + count))
        pool.reset()
        cpu_before = processes_cpu(server)
        threads_before = thread_cpu_seconds(server.pid)
        sent = publisher.call({"cmd": "steady" if rate else "burst", "start": start, "count": count, "rate": rate})
        timeout = (sent["last_ts"] - sent["first_ts"]) + config.drain_seconds
        got = pool.collect(seqs, timeout=timeout, idle=min(10.0, config.drain_seconds))
        per_process = [after - before for after, before in zip(processes_cpu(server), cpu_before, strict=True)]
        cpu = sum(per_process)
        threads_after = thread_cpu_seconds(server.pid)
        latencies = got["latencies"]
        delivered = got["delivered"]
        last_arrival = max((value[0] for value in got["last_arrival"].values()), default=sent["first_ts"])
        span = max(last_arrival - sent["first_ts"], 1e-6)
        summary: dict[str, Any] = {
            "messages": count,
            "expected": got["expected"],
            "delivered": delivered,
            "lost": got["expected"] - delivered,
            "duplicates": got["duplicates"],
            "out_of_order": got["out_of_order"],
            "closed_sockets": got["closed_sockets"],
            "close_codes": got["close_codes"],
            "latency_ms": {
                "p50": ms(percentile(latencies, 50)),
                "p95": ms(percentile(latencies, 95)),
                "p99": ms(percentile(latencies, 99)),
                "max": ms(max(latencies) if latencies else None),
            },
            "publish_seconds": round(sent["last_ts"] - sent["first_ts"], 3),
            "publish_ms_p50": sent["publish_ms_p50"],
            "seconds_to_last_delivery": round(span, 3),
            "deliveries_per_second": round(delivered / span, 1),
            "server_cpu_seconds": round(cpu, 3),
            "server_cpu_ms_per_1000": round(cpu * 1000 / delivered * 1000, 2) if delivered else None,
            "server_cpu_seconds_main_thread": round(threads_after[0] - threads_before[0], 3),
            "server_cpu_seconds_other_threads": round(threads_after[1] - threads_before[1], 3),
        }
        if len(per_process) > 1:
            summary["server_cpu_seconds_per_process"] = [round(value, 3) for value in per_process]
        if rate:
            # Keeping up: the last fifth of the messages reach their last socket no later than the first fifth.
            by_seq = [got["last_arrival"][seq][1] for seq in seqs if seq in got["last_arrival"]]
            fifth = max(1, len(by_seq) // 5)
            if by_seq:
                early, late = statistics.median(by_seq[:fifth]), statistics.median(by_seq[-fifth:])
                summary["last_client_ms_first_fifth"] = ms(early)
                summary["last_client_ms_last_fifth"] = ms(late)
                summary["keeps_up"] = bool(late <= 2 * early + 0.05 and summary["lost"] == 0)
            else:
                summary["keeps_up"] = False
        return summary

    def profile(
        self, server: Server, pool: ClientPool, publisher: LineProcess, start: int, steady: int
    ) -> dict[str, Any]:
        """An extra, unmeasured burst under py-spy (sampling costs CPU, so never during a measurement)."""
        out = self.config.out / f"profile-{server.kind}.txt"
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
        count = max(3, round(self.config.burst_deliveries / 1000))
        self.measure(server, pool, publisher, start, count, rate=0.0)
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
        return {"file": str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)}

    # -- Redis commands per notify() ------------------------------------------------------------------

    def redis_per_notify(self, pool: ClientPool, publisher: LineProcess, start: int, n: int) -> dict[str, Any]:
        """MONITOR, keeping only commands that name this run's prefix, around three notify() calls."""
        monitor = RedisMonitor(self.config.redis_url, self.prefix)
        monitor.start()
        time.sleep(0.5)
        for index in range(3):
            pool.reset()
            publisher.call({"cmd": "burst", "start": start + index, "count": 1})
            pool.collect([start + index], timeout=30, idle=10)
            time.sleep(0.3)
        monitor.stop()
        return monitor.summary(notifies=3, group_size=n)

    def redis_phase(self) -> None:
        """Commands per notify() with 10 and with 1,000 sockets in the role group, each on a fresh, idle server."""
        for n in (10, 1000):
            self.reset_project_state(n)
            server = Server("project", self.server_env("project"), self.log_dir / f"project-redis{n}.log")
            server.start()
            publisher = self.publisher(server)
            pool = ClientPool(1 if n < 200 else self.config.client_procs, self.base_env(), self.log_dir)
            try:
                connect = pool.connect(server, n, self.cookies[:n])
                if connect["connected"] < n:
                    raise RuntimeError(f"Redis phase: only {connect['connected']} of {n} sockets connected")
                publisher.call({"cmd": "burst", "start": 0, "count": 1})
                pool.collect([0], timeout=30, idle=10)
                time.sleep(2.0)
                self.results.setdefault("redis_per_notify", {})[str(n)] = self.redis_per_notify(pool, publisher, 1, n)
            finally:
                pool.close()
                publisher.close()
                server.stop()
            self.clear_redis()

    # -- reconnect flush and notify() scaling -----------------------------------------------------------

    def database_phase(self) -> None:
        self.reset_project_state(0)
        out = self.log_dir / "db.json"
        subprocess.run(
            [PYTHON, "-m", "bench.django_tasks", "db", "--out", str(out)],
            cwd=CODE.root,
            env=self.server_env("project"),
            check=True,
        )
        measured = json.loads(out.read_text())
        server = Server("project", self.server_env("project"), self.log_dir / "project-reconnect.log")
        server.start()
        try:
            for _backlog, details in measured["reconnect"].items():
                timings = [asyncio.run(time_replay(server, details["cookie"])) for _ in range(3)]
                details["over_daphne"] = {
                    "replayed": timings[-1][0],
                    "open_ms": [ms(t[1]) for t in timings],
                    "last_notification_ms": [ms(t[2]) for t in timings],
                    "synced_ms": [ms(t[3]) for t in timings],
                    "last_notification_ms_median": ms(statistics.median(t[2] for t in timings)),
                }
                details.pop("cookie")
        finally:
            server.stop()
        self.results["reconnect"] = measured["reconnect"]
        self.results["notify"] = measured["notify"]

    # -- permessage-deflate ------------------------------------------------------------------------------

    def compression_phase(self) -> None:
        n = 100 if self.config.mode != "smoke" else 5
        large, small = (20, 50) if self.config.mode != "smoke" else (2, 3)
        results: dict[str, Any] = {"sockets": n, "large_bytes": 50_000, "small_bytes": 200}
        variants: tuple[tuple[str, bool, dict[str, str]], ...] = (
            ("stock", False, {}),
            ("deflate", True, {}),  # realtime.server as deployed: its defaults
            ("deflate-window-15", True, {"REALTIME_DEFLATE_WINDOW_BITS": "15", "REALTIME_DEFLATE_MEM_LEVEL": "8"}),
        )
        for variant, deflate, extra_env in variants:
            env = {**self.server_env("b0"), **extra_env}
            server = Server("b0", env, self.log_dir / f"deflate-{variant}.log", deflate=deflate)
            server.start()
            publisher = self.publisher(server)
            pool = ClientPool(1, self.base_env(), self.log_dir)
            try:
                connect = pool.connect(server, n, None, compression=True, count_bytes=True)
                time.sleep(1.0)
                rss_idle = rss_kib(server.pid)
                row: dict[str, Any] = {"extensions": connect["extensions"]}
                seq = 0
                for label, count, size in (("small", small, 0), ("large", large, 50_000)):
                    pool.reset()
                    cpu_before = cpu_seconds(server.pid)
                    if size:
                        sent = publisher.call({"cmd": "large", "start": seq, "count": count, "bytes": size})
                    else:
                        sent = publisher.call({"cmd": "burst", "start": seq, "count": count})
                    got = pool.collect(list(range(seq, seq + count)), timeout=60, idle=10)
                    cpu = cpu_seconds(server.pid) - cpu_before
                    seq += count
                    delivered = got["delivered"]
                    row[label] = {
                        "delivered": delivered,
                        "lost": got["expected"] - delivered,
                        "wire_bytes_per_delivery": round(got["wire_bytes"] / max(delivered, 1), 1),
                        "server_cpu_ms_per_1000": round(cpu * 1e6 / max(delivered, 1), 2),
                        "latency_ms_p50": ms(percentile(got["latencies"], 50)),
                        "latency_ms_max": ms(max(got["latencies"]) if got["latencies"] else None),
                        "publish_seconds": round(sent["last_ts"] - sent["first_ts"], 3),
                    }
                time.sleep(1.0)
                row["rss_kib_per_connection_after_large"] = round((rss_kib(server.pid) - rss_idle) / n, 1)
                if variant == "deflate":
                    # A decompression bomb: 64 MiB of one character (4 MiB in a smoke run), 1/1000 compressed.
                    inflated = (4 if self.config.mode == "smoke" else 64) * 1024 * 1024
                    squeeze = zlib.compressobj(wbits=-15)
                    compressed = len(squeeze.compress(b"a" * inflated) + squeeze.flush(zlib.Z_SYNC_FLUSH))
                    bomb = ClientPool(1, self.base_env(), self.log_dir)
                    bomb.connect(server, 1, None, compression=True)
                    rss_before_bomb = rss_kib(server.pid)
                    codes = bomb.send_all("a", inflated)
                    row["bomb"] = {
                        "inflated_bytes": inflated,
                        "compressed_bytes": compressed,
                        "close_codes": codes[0]["close_codes"],
                        "server_rss_growth_kib": rss_kib(server.pid) - rss_before_bomb,
                    }
                    bomb.close()
                results[variant] = row
            finally:
                pool.close()
                publisher.close()
                server.stop()
        self.results["compression"] = results

    # -- orchestration ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        config = self.config
        log(f"run {self.run_id}: database {self.db_name}, redis prefix {self.prefix}, load {os.getloadavg()}")
        self.create_database()
        try:
            stopped: set[str] = set()
            # Size by size, every server at each: a spent time budget cuts the largest size for all of them.
            # --only-sse and --only-chat run that phase alone.
            alone = config.only_sse or config.only_chat
            for n in [] if alone else config.sizes:
                for kind in config.servers:
                    if kind in stopped:
                        continue
                    if self.over_budget():
                        log(f"time budget spent; skipping {kind} at {n}")
                        self.results["fanout"][kind][str(n)] = {"n": n, "skipped": "time budget"}
                        continue
                    log(f"{kind}: {n} sockets")
                    result = self.run_fanout(kind, n)
                    self.results["fanout"][kind][str(n)] = result
                    log(f"{kind} at {n}: {summary_line(result)}")
                    self.clear_redis()
                    if result.get("refused"):
                        log(f"{kind}: {result['connect']['failed']} of {n} sockets refused; not going higher")
                        stopped.add(kind)
            if "project" in config.servers and config.server_procs > 1 and not alone:
                self.results["fanout_procs"] = {"server_procs": config.server_procs, "project": {}}
                for n in config.procs_sizes:
                    if self.over_budget():
                        log(f"time budget spent; skipping {config.server_procs} server processes at {n}")
                        continue
                    log(f"project on {config.server_procs} server processes: {n} sockets")
                    result = self.run_fanout("project", n, server_procs=config.server_procs)
                    self.results["fanout_procs"]["project"][str(n)] = result
                    log(f"project x{config.server_procs} at {n}: {summary_line(result)}")
                    self.clear_redis()
            if "project" in config.servers and not alone:
                from bench import direct

                self.results["direct"] = direct.run_phase(self, sys.modules[__name__])
            if config.sse and not config.only_chat:
                self.results["sse"] = sse.run_phase(self)
            if config.chat and not config.only_sse:
                from bench import chat

                self.results["chat"] = chat.chat_phase(self)
            if not alone:
                log("reconnect storm")
                self.results["storm"] = storm.storm_phase(self)
            if config.extras and not alone:
                log("redis commands per notify() at 10 and 1,000 sockets")
                self.redis_phase()
                log("reconnect flush and notify() to 1,000 / 10,000")
                self.database_phase()
            if not alone:
                log("permessage-deflate")
                self.compression_phase()
        finally:
            self.clear_redis()
            self.drop_database()
            self._snapshot.cleanup()
        profiles = {kind: self.config.out / f"profile-{kind}.txt" for kind in config.servers}
        summaries = {
            kind: summarise_profile(path) for kind, path in profiles.items() if config.profile and path.exists()
        }
        if summaries:
            self.results["profile_summary"] = summaries
        self.results["loadavg_end"] = os.getloadavg()
        self.results["seconds"] = round(time.monotonic() - self.started, 1)
        return self.results


async def time_replay(server: Server, cookie: str) -> tuple[int, float, float, float]:
    """Open a project socket with a backlog: (replayed, open, last notification, synced) seconds from the start."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    started = time.perf_counter()
    origin = Origin(f"http://127.0.0.1:{server.port}")
    async with connect(
        server.sub_url, additional_headers={"Cookie": cookie}, origin=origin, compression=None, max_size=2**24
    ) as socket_:
        opened = time.perf_counter() - started
        replayed, last = 0, 0.0
        async for message in socket_:
            frame = json.loads(message)
            if frame["type"] == "notification":
                replayed += 1
                last = time.perf_counter() - started
            elif frame["type"] == "synced":
                return replayed, opened, last, time.perf_counter() - started
    raise RuntimeError("socket closed before synced")


class RedisMonitor:
    """Redis MONITOR on a thread, keeping only lines that mention our prefix (others share this Redis)."""

    def __init__(self, url: str, prefix: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.prefix = prefix.encode()
        self.lines: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with socket.create_connection(self.address) as sock:
            sock.settimeout(0.2)
            sock.sendall(b"MONITOR\r\n")
            buffer = b""
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(1 << 20)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                buffer += chunk
                *complete, buffer = buffer.split(b"\r\n")
                self.lines.extend(line for line in complete if self.prefix in line)

    def summary(self, *, notifies: int, group_size: int) -> dict[str, Any]:
        by_command: dict[str, int] = {}
        counted, bytes_ = 0, 0
        background = 0
        for line in self.lines:
            try:
                command = line.split(b"] ", 1)[1].split(b" ", 1)[0].strip(b'"').decode().upper()
            except IndexError:
                continue
            # Periodic bookkeeping, not caused by notify(): sockets re-joining their groups
            # (ZADD/EXPIRE on group keys) and refreshing the socket registry, and client pings.
            if b":sockets" in line or (command in {"ZADD", "EXPIRE"} and b"group" in line):
                background += 1
                continue
            counted += 1
            bytes_ += len(line)
            by_command[command] = by_command.get(command, 0) + 1
        return {
            "group_size": group_size,
            "notifies": notifies,
            "commands_per_notify": round(counted / notifies, 1),
            "command_bytes_per_notify": round(bytes_ / notifies),
            "by_command_per_notify": {key: round(value / notifies, 1) for key, value in sorted(by_command.items())},
            "excluded_background_commands": background,
        }


# Where the event loop's sampled time goes, first match wins (py-spy's raw format: "frame;frame;... count").
# Other threads (asgiref's sync thread, executors) are counted apart: most of their samples are waits.
PROFILE_CATEGORIES = (
    (
        "the hop to the sync thread before each event (`aclose_old_connections` in `dispatch`)",
        ("aclose_old_connections",),
    ),
    ("channels-redis `receive` (Redis round trips, unpacking, per-channel buffers)", ("RedisChannelLayer.receive",)),
    (
        "the consumers' handlers and `send`, down to daphne's socket write",
        # send_held: frames held while a run of events was delivered, written when it ends (realtime.writes).
        ("notification_push", "bench_message", "handle_reply", ".send (", "send_held"),
    ),
    (
        "the project's fan-out reader: Redis pub/sub read and decode, once per message (`realtime.fanout`)",
        ("RedisSource", "LocalSource"),
    ),
    ("heartbeat and registry refresh", ("_heartbeat_loop", "Sweeper")),
    ("inbound frames (client pings)", ("websocket_receive", ".receive (realtime")),
    ("Twisted/asyncio I/O and scheduling, everything else", ("",)),
)


def summarise_profile(path: Path) -> dict[str, Any]:
    counts = [0] * len(PROFILE_CATEGORIES)
    total = other_threads = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, number = line.rpartition(" ")
        samples = int(number)
        total += samples
        if "run_forever" not in stack:
            other_threads += samples
            continue
        for index, (_, needles) in enumerate(PROFILE_CATEGORIES):
            if any(needle in stack for needle in needles):
                counts[index] += samples
                break
    loop = max(total - other_threads, 1)
    shares = [(name, 100 * count / loop) for (name, _), count in zip(PROFILE_CATEGORIES, counts, strict=True)]
    return {"samples": total, "event_loop_samples": total - other_threads, "shares": shares}


def summary_line(result: dict[str, Any]) -> str:
    if result.get("refused"):
        return f"refused {result['connect']['failed']}"
    burst, steady = result.get("burst", {}), result.get("steady", {})
    return (
        f"burst {burst.get('deliveries_per_second')}/s lost {burst.get('lost')}, "
        f"cpu {burst.get('server_cpu_ms_per_1000')} ms/1000; "
        f"steady p99 {steady.get('latency_ms', {}).get('p99')} ms lost {steady.get('lost')} "
        f"keeps_up {steady.get('keeps_up')}; rss {result.get('rss_kib_per_connection')} KiB/conn"
    )


def build_config(args: argparse.Namespace) -> Config:
    database_url = (
        args.database_url
        or os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL", "").strip()
        or "postgres://postgres@127.0.0.1:5432/charity"
    )
    if not database_url.startswith("postgres"):
        raise SystemExit(f"The benchmark needs PostgreSQL; DATABASE_URL is {database_url!r}.")
    redis_url = (
        args.redis_url or os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    )
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    presets: dict[str, dict[str, Any]] = {
        "full": {
            "sizes": [100, 1000, 2000, 5000],
            "burst": 20_000,
            "steady": 10.0,
            "drain": 30.0,
            "singles": 3,
            # The fan-out's climb and the chat's largest size stop when this is spent (the whole
            # run takes about 15 minutes on 2 quiet cores; a loaded machine cuts the largest sizes).
            "budget": 1500,
            "procs_sizes": [1000, 5000],
        },
        "quick": {
            "sizes": [100, 1000],
            "burst": 10_000,
            "steady": 5.0,
            "drain": 15.0,
            "singles": 2,
            "budget": 400,
            "procs_sizes": [1000],
        },
        "smoke": {
            "sizes": [5],
            "burst": 15,
            "steady": 0.3,
            "drain": 10.0,
            "singles": 1,
            "budget": 120,
            "procs_sizes": [5],
        },
    }
    preset = presets[mode]
    sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else preset["sizes"]
    return Config(
        mode=mode,
        sizes=sizes,
        servers=args.servers.split(",") if args.servers else list(SERVERS),
        burst_deliveries=preset["burst"],
        steady_seconds=preset["steady"],
        steady_rate=10.0,
        drain_seconds=preset["drain"],
        singles=preset["singles"],
        client_procs=args.client_procs,
        extras=not args.smoke and not args.no_extras,
        profile=args.profile,
        database_url=database_url,
        redis_url=redis_url,
        out=args.out.resolve(),
        docs=not args.no_docs,
        budget_seconds=preset["budget"],
        tuned_references=args.tuned_references,
        server_procs=args.server_procs,
        procs_sizes=preset["procs_sizes"],
        sse=not args.no_sse,
        only_sse=args.only_sse,
        chat=not args.no_chat,
        only_chat=args.only_chat,
        chat_rooms=[int(size) for size in args.chat_rooms.split(",")] if args.chat_rooms else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 sockets, shorter phases")
    parser.add_argument("--smoke", action="store_true", help="5 sockets, a few messages: checks the harness runs")
    parser.add_argument("--sizes", help="comma-separated socket counts, e.g. 100,1000")
    parser.add_argument("--servers", help="comma-separated subset of b0,b1,project")
    parser.add_argument("--client-procs", type=int, default=2, help="load client processes (default 2)")
    parser.add_argument("--profile", action="store_true", help="py-spy each server during an extra burst at 1,000")
    parser.add_argument("--no-extras", action="store_true", help="skip Redis, reconnect and notify() scaling phases")
    parser.add_argument(
        "--tuned-references",
        action="store_true",
        help="run B0 and B1 on realtime.server (its collector tuning) instead of stock daphne",
    )
    parser.add_argument(
        "--server-procs",
        type=int,
        default=2,
        help="also run the project's fan-out on this many server processes behind one Redis (1: skip; default 2)",
    )
    parser.add_argument("--no-sse", action="store_true", help="skip the SSE phase (bench/sse.py)")
    parser.add_argument("--only-sse", action="store_true", help="run only the SSE phase")
    parser.add_argument("--no-chat", action="store_true", help="skip the chat phase (bench/chat.py)")
    parser.add_argument("--only-chat", action="store_true", help="run the chat phase alone")
    parser.add_argument("--chat-rooms", help="comma-separated room counts for the chat phase, e.g. 50,200")
    parser.add_argument("--database-url", help="PostgreSQL server to create the benchmark database on")
    parser.add_argument("--redis-url")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md and the plot")
    args = parser.parse_args(argv)
    config = build_config(args)
    # Terminated (Ctrl-C, timeout, CI): unwind, so every server and client started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config.out.mkdir(parents=True, exist_ok=True)
    limit = raise_open_files()
    log(f"open files limit {limit}")
    results = Bench(config).run()
    path = config.out / f"{config.mode}-{results['run_id']}.json"
    path.write_text(json.dumps(results, indent=1))
    (config.out / f"latest-{config.mode}.json").write_text(json.dumps(results, indent=1))
    log(f"results: {path}")
    if config.docs:
        from bench import report

        report.write(results, ROOT / "docs")
        log("docs/performance.md and docs/performance.png updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
