"""The load client: one process holding many WebSocket subscribers, driven over stdin/stdout.

The orchestrator (``bench/run.py``) starts one or more of these and sends one JSON command per
line; each command gets one JSON line back:

* ``{"cmd": "connect", "url": ..., "n": ..., "kind": "b0"|"b1"|"project", "cookies": [...]}`` opens
  ``n`` sockets (a project socket is ready once its ``synced`` frame arrives);
* ``{"cmd": "reset"}`` forgets what was received so far;
* ``{"cmd": "collect", "seqs": [...], "timeout": s}`` waits until every socket has every sequence
  number (or the timeout, or ``idle`` seconds without progress) and reports deliveries, losses,
  duplicates, reordering and latencies; with ``"direct": true`` each number is meant for one socket
  only (the one-to-one phase): it waits for the timeout or ``idle`` and reports every number
  received (``received``), so the orchestrator counts each once across all the client processes;
* ``{"cmd": "send_all", "char": "a", "length": n}`` makes every socket send one frame of n characters
  (the compression phase's decompression bomb);
* ``{"cmd": "close"}`` closes every socket and exits.

Every published frame carries ``seq`` and ``ts`` (the publisher's ``time.time()`` just before it
published); latency is the receive time minus ``ts``, on the same machine's clock. It includes the
time a frame waits in this client, so an overloaded client inflates it: sockets are handled in
``data_received`` on websockets' Sans-I/O protocol (no task per socket), and the orchestrator can
spread them over several processes (``--client-procs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Origin
from websockets.uri import parse_uri

from bench.sse import SseSubscriber

# Project sockets must talk at least every REALTIME_HEARTBEAT_TIMEOUT (90 s); browsers ping every 25 s.
PROJECT_PING_SECONDS = 25.0


class Subscriber(asyncio.Protocol):
    """One socket on websockets' Sans-I/O protocol: frames are handled in ``data_received``.

    No task and no queue per socket: with thousands of sockets on two shared cores, the client must
    cost far less per frame than the fastest server it measures, or it measures itself.
    """

    def __init__(self, client: Client, url: str, headers: dict[str, str], origin: str, compression: bool) -> None:
        extensions = [ClientPerMessageDeflateFactory()] if compression else None
        self.client = client
        self.protocol = ClientProtocol(parse_uri(url), origin=Origin(origin), extensions=extensions, max_size=2**24)
        self.request = self.protocol.connect()
        for name, value in headers.items():
            self.request.headers[name] = value
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[Response] = loop.create_future()
        self.synced: asyncio.Future[bool] = loop.create_future()  # project sockets: replay done
        self.transport: asyncio.Transport | None = None
        self.fragments: list[bytes] = []
        self.closed_code: int | None = None
        self.extensions = ""
        self.reset()

    def reset(self) -> None:
        self.last_seq = -1
        self.seen: set[int] = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.latencies: list[float] = []
        self.arrivals: dict[int, tuple[float, float]] = {}  # seq → (when, latency)

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    self.opened.set_exception(self.protocol.handshake_exc)
                else:
                    self.extensions = ",".join(type(ext).__name__ for ext in self.protocol.extensions) or "none"
                    self.opened.set_result(event)
            elif isinstance(event, Frame):
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.CONT:
                    self.fragments.append(event.data)
                    if event.fin:
                        text = b"".join(self.fragments)
                        self.fragments = []
                        self.client.on_text(self, text)
                elif event.opcode is Opcode.CLOSE:
                    self.closed_code = Close.parse(event.data).code if event.data else 1005
                    self._not_synced()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_code is None:
            self.closed_code = self.protocol.close_code or 1006
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        self._not_synced()

    def _not_synced(self) -> None:
        """A project socket closed before ``synced`` (refused: 4429, 4401, ...) fails at once, with its code."""
        opened = self.opened.done() and self.opened.exception() is None
        if self.client.kind == "project" and opened and not self.synced.done():
            self.synced.set_exception(ConnectionError(f"closed code={self.closed_code}"))

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    # -- sending ----------------------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        if self.closed_code is None and self.transport is not None and not self.transport.is_closing():
            self.protocol.send_text(text.encode())
            self._flush()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(Exception):
                self.protocol.send_close(1000)
                self._flush()
            self.transport.close()


class CountingProxy:
    """A loopback TCP proxy that counts the bytes the server sends (the compressed size on the wire)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.downstream_bytes = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if count:
                        self.downstream_bytes += len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(pump(client_reader, server_writer, False), pump(server_reader, client_writer, True))


class Client:
    def __init__(self) -> None:
        self.subscribers: list[Subscriber | SseSubscriber] = []
        self.kind = "b0"
        self.tasks: list[asyncio.Task[None]] = []
        self.received = 0
        self.proxy: CountingProxy | None = None
        self.extensions: Counter[str] = Counter()

    # -- connect ------------------------------------------------------------------------------------

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        self.kind = command["kind"]
        url: str = command["url"]
        cookies: list[str] | None = command.get("cookies")
        n: int = command["n"]
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        if command.get("count_bytes"):
            self.proxy = CountingProxy(host, port)
            await self.proxy.start()
            port = self.proxy.port
        origin = f"http://{parts.hostname}:{parts.port}"
        gate = asyncio.Semaphore(int(command.get("concurrency", 50)))
        # "transport": "sse" reads Server-Sent Event streams instead (bench/sse.py).
        factory: Any = SseSubscriber if command.get("transport") == "sse" else Subscriber
        errors: Counter[str] = Counter()
        # Per socket, seconds from its turn at the gate to open (B0, B1) or synced (project).
        times: list[float] = []
        started = time.monotonic()
        loop = asyncio.get_running_loop()

        async def open_one(index: int) -> None:
            headers = {"Cookie": cookies[index % len(cookies)]} if cookies else {}
            async with gate:
                subscriber: Subscriber | SseSubscriber | None = None
                began = time.monotonic()
                try:
                    _, subscriber = await loop.create_connection(
                        lambda: factory(self, url, headers, origin, bool(command.get("compression"))), host, port
                    )
                    await asyncio.wait_for(subscriber.opened, 120)
                    if self.kind == "project":
                        # Ready once the replay is over: the server has joined the groups by then.
                        await asyncio.wait_for(subscriber.synced, 120)
                except Exception as exc:
                    errors[type(exc).__name__ + ":" + str(exc)[:80]] += 1
                    if subscriber is not None:
                        subscriber.close()
                    return
                times.append(time.monotonic() - began)
                self.extensions[subscriber.extensions] += 1
                self.subscribers.append(subscriber)

        await asyncio.gather(*(open_one(index) for index in range(n)))
        if self.kind == "project":
            self.tasks.append(asyncio.ensure_future(self._pinger()))
        return {
            "connected": len(self.subscribers),
            "failed": n - len(self.subscribers),
            "errors": dict(errors.most_common(5)),
            "seconds": round(time.monotonic() - started, 3),
            "extensions": dict(self.extensions),
            **({"connect_times": [round(value, 5) for value in times]} if command.get("timings") else {}),
        }

    def on_text(self, subscriber: Subscriber | SseSubscriber, text: bytes) -> None:
        now = time.time()
        frame = json.loads(text)
        if self.kind == "project":
            kind = frame.get("type")
            if kind != "notification":
                if kind == "synced" and not subscriber.synced.done():
                    subscriber.synced.set_result(True)
                return
            frame = frame["data"]
        seq = int(frame["seq"])
        self.received += 1
        if seq in subscriber.seen:
            subscriber.duplicates += 1
            return
        subscriber.seen.add(seq)
        if seq < subscriber.last_seq:
            subscriber.out_of_order += 1
        subscriber.last_seq = max(seq, subscriber.last_seq)
        latency = now - float(frame["ts"])
        subscriber.latencies.append(latency)
        subscriber.arrivals[seq] = (now, latency)

    async def _pinger(self) -> None:
        """Project sockets say something every 25 s, as browsers do, spread evenly over that time."""
        while True:
            subscribers = list(self.subscribers)
            step = PROJECT_PING_SECONDS / max(len(subscribers), 1)
            for subscriber in subscribers:
                subscriber.send_text('{"type":"ping"}')
                await asyncio.sleep(step)

    # -- measure ------------------------------------------------------------------------------------

    def reset(self) -> dict[str, Any]:
        for subscriber in self.subscribers:
            subscriber.reset()
        if self.proxy is not None:
            self.proxy.downstream_bytes = 0
        return {}

    def _unique_received(self, expected: set[int]) -> int:
        return sum(len(subscriber.seen & expected) for subscriber in self.subscribers)

    async def collect(self, command: dict[str, Any]) -> dict[str, Any]:
        expected = set(command["seqs"])
        timeout = float(command.get("timeout", 30))
        idle = float(command.get("idle", timeout))
        direct = bool(command.get("direct"))
        target = len(expected) * len(self.subscribers) if not direct else None
        deadline = time.monotonic() + timeout
        last_progress = time.monotonic()
        last_count = -1
        while True:
            count = self._unique_received(expected)
            now = time.monotonic()
            if count != last_count:
                last_count, last_progress = count, now
            if (target is not None and count >= target) or now >= deadline or now - last_progress >= idle:
                break
            await asyncio.sleep(0.05)
        latencies: list[float] = []
        # Per sequence number: when the last socket got it, and that socket's latency.
        last_arrival: dict[int, tuple[float, float]] = {}
        for subscriber in self.subscribers:
            latencies.extend(subscriber.latencies)
            for seq, (when, latency) in subscriber.arrivals.items():
                if seq in expected and when > last_arrival.get(seq, (0.0, 0.0))[0]:
                    last_arrival[seq] = (when, latency)
        return {
            "sockets": len(self.subscribers),
            "expected": target if target is not None else 0,
            "delivered": count,
            "duplicates": sum(subscriber.duplicates for subscriber in self.subscribers),
            "out_of_order": sum(subscriber.out_of_order for subscriber in self.subscribers),
            "closed": sum(1 for subscriber in self.subscribers if subscriber.closed_code is not None),
            "close_codes": dict(Counter(str(s.closed_code) for s in self.subscribers if s.closed_code is not None)),
            "latencies": [round(value, 5) for value in latencies],
            "last_arrival": {str(seq): [round(when, 6), round(lat, 6)] for seq, (when, lat) in last_arrival.items()},
            "wire_bytes": self.proxy.downstream_bytes if self.proxy is not None else None,
            "received": [seq for s in self.subscribers for seq in s.seen if seq in expected] if direct else None,
        }

    async def send_all(self, command: dict[str, Any]) -> dict[str, Any]:
        """Every socket sends one text frame of ``length`` times ``char`` (probes the server's inbound limits)."""
        text = command["char"] * int(command["length"])
        for subscriber in self.subscribers:
            subscriber.send_text(text)
        await asyncio.sleep(float(command.get("wait", 1.0)))
        return {"close_codes": dict(Counter(str(s.closed_code) for s in self.subscribers))}

    async def close(self) -> dict[str, Any]:
        for task in self.tasks:
            task.cancel()
        for subscriber in self.subscribers:
            subscriber.close()
        await asyncio.sleep(0.2)
        return {}


async def serve() -> None:
    client = Client()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        name = command["cmd"]
        try:
            if name == "connect":
                reply = await client.connect(command)
            elif name == "reset":
                reply = client.reset()
            elif name == "collect":
                reply = await client.collect(command)
            elif name == "send_all":
                reply = await client.send_all(command)
            elif name == "close":
                reply = await client.close()
            else:
                reply = {"error": f"unknown command {name}"}
        except Exception as exc:  # report, keep serving: the orchestrator decides
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if name == "close":
            return


def main() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve())


if __name__ == "__main__":
    main()
