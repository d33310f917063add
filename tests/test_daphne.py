"""``realtime.server``: daphne that negotiates permessage-deflate, bounded and configured from the environment,
sends frames at once, and has its garbage collector tuned for many sockets.

The settings and the offer handling are tested directly, with autobahn's offer objects and websockets'
client-side checks of the answer; the rest against real server processes serving ``tests/echo_asgi.py``
(no database, no Redis), counting compressed bytes as the client receives them off the wire.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import urllib.request
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest
from autobahn.websocket.compress import (
    PerMessageDeflate,
    PerMessageDeflateOffer,
    PerMessageDeflateOfferAccept,
)
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketProtocol
from django.core.exceptions import ImproperlyConfigured
from twisted.internet import tcp
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IProtocol, IReactorFDSet
from twisted.internet.protocol import Protocol
from twisted.web import http
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.extensions.permessage_deflate import PerMessageDeflate as ClientPerMessageDeflate
from websockets.frames import OP_BINARY, OP_CONT, OP_TEXT, Frame
from websockets.headers import parse_extension
from websockets.typing import ExtensionParameter

from realtime import server as daphne_module
from realtime import writes
from realtime.server import (
    GC_THRESHOLD,
    DeflateSettings,
    DeflateWebSocketProtocol,
    ReleasingPerMessageDeflate,
    TunedWebRequest,
    TunedWebSocketProtocol,
    accept_deflate,
    check_app_frame_limit,
    deflate_settings,
    gc_threshold,
    tune_gc,
    write_now,
)
from tests.conftest import ROOT, DaphneServer, _free_port
from tests.echo_asgi import snapshot

ECHO_APP = "tests.echo_asgi:application"
DEFAULTS = DeflateSettings()

# -- settings -------------------------------------------------------------------------------------


def test_defaults_are_the_measured_production_values() -> None:
    assert deflate_settings({}) == DeflateSettings(
        enabled=True, window_bits=12, mem_level=4, min_bytes=1024, max_message_bytes=65536 + 1024
    )


def test_environment_overrides_each_setting() -> None:
    environ = {
        "REALTIME_DEFLATE_WINDOW_BITS": "9",
        "REALTIME_DEFLATE_MEM_LEVEL": "9",
        "REALTIME_DEFLATE_MIN_BYTES": "0",
        "REALTIME_DEFLATE_MAX_MESSAGE_BYTES": "1048576",
    }
    assert deflate_settings(environ) == DeflateSettings(
        window_bits=9, mem_level=9, min_bytes=0, max_message_bytes=1048576
    )


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_compression_can_be_switched_off(value: str) -> None:
    settings = deflate_settings({"REALTIME_DEFLATE": value})
    assert not settings.enabled
    assert accept_deflate([PerMessageDeflateOffer()], settings) is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REALTIME_DEFLATE_WINDOW_BITS", "8", "REALTIME_DEFLATE_WINDOW_BITS=8 is out of range: allowed 9..15"),
        ("REALTIME_DEFLATE_WINDOW_BITS", "16", "allowed 9..15"),
        ("REALTIME_DEFLATE_WINDOW_BITS", "twelve", "REALTIME_DEFLATE_WINDOW_BITS='twelve' is not an integer"),
        ("REALTIME_DEFLATE_MEM_LEVEL", "0", "REALTIME_DEFLATE_MEM_LEVEL=0 is out of range: allowed 1..9"),
        ("REALTIME_DEFLATE_MEM_LEVEL", "10", "allowed 1..9"),
        ("REALTIME_DEFLATE_MIN_BYTES", "-1", "REALTIME_DEFLATE_MIN_BYTES=-1 must not be negative"),
        ("REALTIME_DEFLATE_MIN_BYTES", "1k", "is not an integer"),
        ("REALTIME_DEFLATE_MAX_MESSAGE_BYTES", "0", "REALTIME_DEFLATE_MAX_MESSAGE_BYTES must be at least 1"),
        ("REALTIME_DEFLATE", "maybe", "REALTIME_DEFLATE='maybe': use 1 (compress) or 0 (decline)"),
    ],
)
def test_bad_values_are_refused_with_their_name(name: str, value: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        deflate_settings({name: value})
    assert message in str(error.value)


def test_default_bound_lets_a_frame_just_over_the_apps_limit_reach_the_app() -> None:
    """The app answers an oversized frame itself (error frame, 4413); the bound must not pre-empt it."""
    from realtime.conf import app_settings

    assert DEFAULTS.max_message_bytes > app_settings.MAX_FRAME_BYTES
    check_app_frame_limit(DEFAULTS)


def test_a_bound_below_the_apps_frame_limit_is_refused(settings: Any) -> None:
    settings.REALTIME_MAX_FRAME_BYTES = DEFAULTS.max_message_bytes + 1
    with pytest.raises(ImproperlyConfigured, match="below the app's frame limit REALTIME_MAX_FRAME_BYTES"):
        check_app_frame_limit(DEFAULTS)


# -- negotiation ----------------------------------------------------------------------------------


def offer_from(factory: ClientPerMessageDeflateFactory) -> PerMessageDeflateOffer:
    """The offer autobahn parses from what a websockets client with ``factory`` sends."""
    params: dict[str, list[str | bool]] = {}
    for name, value in factory.get_request_params():
        params.setdefault(name, []).append(True if value is None else value)
    offer: PerMessageDeflateOffer = PerMessageDeflateOffer.parse(params)
    return offer


def client_side(factory: ClientPerMessageDeflateFactory, accept: PerMessageDeflateOfferAccept) -> Any:
    """What the client makes of our answer; websockets raises NegotiationError on a parameter it never offered."""
    [(name, params)] = parse_extension(accept.get_extension_string())
    assert name == "permessage-deflate"
    return factory.process_response_params(params, [])


BROWSER = ClientPerMessageDeflateFactory()  # Chrome and Firefox offer "permessage-deflate; client_max_window_bits"


def test_a_browsers_offer_is_accepted_with_our_window_and_no_context_takeover() -> None:
    accept = accept_deflate([offer_from(BROWSER)], DEFAULTS)
    assert accept is not None
    assert accept.get_extension_string() == "permessage-deflate; client_no_context_takeover"
    server = PerMessageDeflate.create_from_offer_accept(True, accept)
    assert server.server_max_window_bits == 12
    assert server.mem_level == 4
    assert server.server_no_context_takeover and server.client_no_context_takeover
    assert server.max_message_size == DEFAULTS.max_message_bytes
    # The client's window is left as it is: the decompressor must take its default, 15.
    assert server.client_max_window_bits == 15
    client = client_side(BROWSER, accept)
    assert client.local_no_context_takeover


@pytest.mark.parametrize(
    "factory",
    [
        BROWSER,
        ClientPerMessageDeflateFactory(client_max_window_bits=None),
        ClientPerMessageDeflateFactory(client_max_window_bits=9),
        ClientPerMessageDeflateFactory(server_max_window_bits=10),
        ClientPerMessageDeflateFactory(server_max_window_bits=15),
        ClientPerMessageDeflateFactory(server_no_context_takeover=True),
        ClientPerMessageDeflateFactory(client_no_context_takeover=True, server_max_window_bits=9),
    ],
    ids=[
        "browser",
        "no-client-window",
        "client-window-9",
        "server-window-10",
        "server-window-15",
        "server-no-takeover",
        "client-no-takeover-server-window-9",
    ],
)
def test_the_answer_stays_within_every_offer(factory: ClientPerMessageDeflateFactory) -> None:
    accept = accept_deflate([offer_from(factory)], DEFAULTS)
    assert accept is not None
    client = client_side(factory, accept)  # raises if we answered outside the offer
    server = PerMessageDeflate.create_from_offer_accept(True, accept)
    # The server compresses with a window the client decodes: never above what it asked for.
    assert server.server_max_window_bits <= min(DEFAULTS.window_bits, client.remote_max_window_bits)
    # And decompresses with at least the window the client compresses with.
    assert server.client_max_window_bits >= client.local_max_window_bits


def test_the_servers_window_follows_the_client_down_never_up() -> None:
    small = accept_deflate([offer_from(ClientPerMessageDeflateFactory(server_max_window_bits=10))], DEFAULTS)
    large = accept_deflate([offer_from(ClientPerMessageDeflateFactory(server_max_window_bits=14))], DEFAULTS)
    assert small is not None and large is not None
    assert small.window_bits == 10
    assert large.window_bits == 12
    wide = DeflateSettings(window_bits=15)
    assert accept_deflate([offer_from(BROWSER)], wide).window_bits == 15  # type: ignore[union-attr]


def test_only_deflate_offers_are_considered_and_the_first_wins() -> None:
    assert accept_deflate([], DEFAULTS) is None
    assert accept_deflate([object()], DEFAULTS) is None
    first, second = PerMessageDeflateOffer(request_max_window_bits=10), PerMessageDeflateOffer()
    accept = accept_deflate([object(), first, second], DEFAULTS)
    assert accept is not None and accept.offer is first


# -- (de)compressors freed after each message ------------------------------------------------------


def test_without_context_takeover_the_compressors_are_freed_after_each_message() -> None:
    accept = accept_deflate([offer_from(BROWSER)], DEFAULTS)
    assert accept is not None
    server = ReleasingPerMessageDeflate.create_from_offer_accept(True, accept)
    client = client_side(BROWSER, accept)
    text = snapshot(5_000).encode()
    for _ in range(2):
        server.start_compress_message()
        wire = server.compress_message_data(text) + server.end_compress_message()
        assert server._compressor is None
        decoded = client.decode(Frame(OP_TEXT, wire, rsv1=True))
        assert decoded.data == text
        encoded = client.encode(Frame(OP_TEXT, text))
        server.start_decompress_message()
        assert server.decompress_message_data(encoded.data) == text
        server.end_decompress_message()
        assert server._decompressor is None


def test_with_context_takeover_they_are_kept() -> None:
    """The release is tied to the negotiated parameters, not unconditional."""
    kept = ReleasingPerMessageDeflate(True, False, False, 12, 15, 4, None)
    kept.start_compress_message()
    kept.compress_message_data(b"x" * 2000)
    kept.end_compress_message()
    assert kept._compressor is not None


def test_the_protocol_swaps_in_the_releasing_extension_on_open() -> None:
    accept = accept_deflate([offer_from(BROWSER)], DEFAULTS)
    negotiated = PerMessageDeflate.create_from_offer_accept(True, accept)
    protocol = DeflateWebSocketProtocol()
    protocol._perMessageCompress = negotiated
    protocol.websocket_extensions_in_use = [negotiated]
    protocol.server = mock.Mock()
    protocol.request = mock.Mock(path="/ws/echo")
    protocol.client_addr = None
    protocol.onOpen()
    swapped = protocol._perMessageCompress
    assert type(swapped) is ReleasingPerMessageDeflate
    assert protocol.websocket_extensions_in_use == [swapped]
    assert swapped.__json__() == negotiated.__json__()
    assert swapped.max_message_size == negotiated.max_message_size


# -- real servers ---------------------------------------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., DaphneServer]]:
    """Start a server: ``serve()`` is realtime.server on the echo app; ``serve(module="daphne")`` stock."""
    started: list[DaphneServer] = []

    def start(module: str = "realtime.server", env: dict[str, str] | None = None, app: str = ECHO_APP) -> DaphneServer:
        base = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("REALTIME_DEFLATE", "REALTIME_GC"))
        }
        port = _free_port()
        server = DaphneServer(
            port=port,
            env={**base, "PYTHONUNBUFFERED": "1", **(env or {})},
            log_path=tmp_path / f"{module}-{port}.log",
            module=module,
            app=app,
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


class RecordingDeflate(ClientPerMessageDeflate):
    """websockets' client extension, noting each data frame as it came off the wire: (RSV1, payload)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[bool, bytes]] = []

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            self.received.append((frame.rsv1, bytes(frame.data)))
        return super().decode(frame, max_size=max_size)


class RecordingFactory(ClientPerMessageDeflateFactory):
    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> RecordingDeflate:
        negotiated = super().process_response_params(params, accepted_extensions)
        return RecordingDeflate(
            negotiated.remote_no_context_takeover,
            negotiated.local_no_context_takeover,
            negotiated.remote_max_window_bits,
            negotiated.local_max_window_bits,
            negotiated.compress_settings,
        )


def open_socket(server: DaphneServer, **kwargs: Any) -> Any:
    kwargs.setdefault("extensions", [RecordingFactory()])
    return connect(f"{server.ws_base}/ws/echo", compression=None, max_size=2**24, **kwargs)


def recorder(socket: ClientConnection) -> RecordingDeflate:
    [extension] = socket.protocol.extensions
    assert isinstance(extension, RecordingDeflate)
    return extension


async def test_stock_daphne_declines_and_charity_daphne_accepts(serve: Callable[..., DaphneServer]) -> None:
    async with open_socket(serve(module="daphne")) as stock:
        assert stock.response is not None and "Sec-WebSocket-Extensions" not in stock.response.headers
        assert stock.protocol.extensions == []
    async with open_socket(serve()) as socket:
        assert socket.response is not None
        assert socket.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate; client_no_context_takeover"
        recorder(socket)


async def test_large_frames_are_compressed_on_the_wire_and_small_ones_are_not(
    serve: Callable[..., DaphneServer],
) -> None:
    async with open_socket(serve()) as socket:
        wire = recorder(socket)
        await socket.send("big 50000")
        first = await socket.recv()
        await socket.send("big 50000")
        assert await socket.recv() == first == snapshot(50_000)
        for size in (1023, 1024, 5):
            await socket.send("x" * size)
            assert await socket.recv() == "x" * size
    big, again, under, at, tiny = wire.received
    assert big[0] and again[0], "a 50 KB frame went out uncompressed"
    assert len(big[1]) < len(first) * 0.2, f"{len(big[1])} bytes on the wire for {len(first)}"
    assert (under[0], len(under[1])) == (False, 1023)
    assert at[0] and len(at[1]) < 100
    assert (tiny[0], tiny[1]) == (False, b"xxxxx")
    # Each compressed message decodes on its own (no context takeover) within a 2**12 window: a
    # wider window or a reference into the previous message would fail here.
    for _, payload in (big, again):
        assert zlib.decompressobj(-12).decompress(payload + b"\x00\x00\xff\xff").decode() == first


async def test_a_message_inflating_past_the_bound_closes_with_1009_and_the_server_carries_on(
    serve: Callable[..., DaphneServer],
) -> None:
    server = serve()
    async with open_socket(server) as socket:
        under = "y" * (DEFAULTS.max_message_bytes - 10)
        await socket.send(under)
        assert await socket.recv() == under
    for inflated in (DEFAULTS.max_message_bytes + 1, 16 * 1024 * 1024):
        async with open_socket(server) as socket:
            await socket.send("a" * inflated)  # a few hundred bytes, compressed
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)
            assert socket.protocol.close_rcvd is not None
            assert socket.protocol.close_rcvd.code == 1009
    assert server.process is not None and server.process.poll() is None
    async with open_socket(server) as socket:
        await socket.send("still there")
        assert await socket.recv() == "still there"


async def test_realtime_deflate_0_declines(serve: Callable[..., DaphneServer]) -> None:
    async with open_socket(serve(env={"REALTIME_DEFLATE": "0"})) as socket:
        assert socket.response is not None and "Sec-WebSocket-Extensions" not in socket.response.headers
        assert socket.protocol.extensions == []
        await socket.send("big 50000")
        assert len(await socket.recv()) >= 50_000


async def test_environment_reaches_the_server(serve: Callable[..., DaphneServer]) -> None:
    env = {"REALTIME_DEFLATE_MIN_BYTES": "10", "REALTIME_DEFLATE_MAX_MESSAGE_BYTES": "70000"}
    async with open_socket(serve(env=env)) as socket:
        wire = recorder(socket)
        await socket.send("z" * 20)
        assert await socket.recv() == "z" * 20
        await socket.send("a" * 70_001)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
        assert socket.protocol.close_rcvd is not None and socket.protocol.close_rcvd.code == 1009
    assert wire.received[0][0], "a 20-byte frame was not compressed with REALTIME_DEFLATE_MIN_BYTES=10"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def idle_cost_kib(server: DaphneServer, sockets: int) -> float:
    """RSS growth per socket once each has sent a small frame and received a 50 KB one, then idles."""
    assert server.process is not None
    async with open_socket(server) as warm:
        await warm.send("big 50000")
        await warm.recv()
    await asyncio.sleep(0.3)
    before = rss_kib(server.process.pid)
    opened = [await open_socket(server, ping_interval=None) for _ in range(sockets)]
    try:
        for socket in opened:
            await socket.send(json.dumps({"type": "ping"}))
            await socket.recv()
            await socket.send("big 50000")
            await socket.recv()
        await asyncio.sleep(0.5)
        return (rss_kib(server.process.pid) - before) / sockets
    finally:
        for socket in opened:
            await socket.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
async def test_an_idle_socket_costs_about_what_it_costs_without_compression(
    serve: Callable[..., DaphneServer],
) -> None:
    """With context takeover it would keep ~40 KiB of zlib state (250 KiB at zlib's defaults)."""
    stock = await idle_cost_kib(serve(module="daphne"), 200)
    deflate = await idle_cost_kib(serve(), 200)
    assert deflate - stock < 10, f"{deflate:.1f} KiB per idle socket against {stock:.1f} without compression"


# -- garbage collector ----------------------------------------------------------------------------


def test_gc_threshold_defaults_and_can_be_switched_off() -> None:
    assert gc_threshold({}) == GC_THRESHOLD == 50_000
    assert gc_threshold({"REALTIME_GC_THRESHOLD": "20000"}) == 20_000
    assert gc_threshold({"REALTIME_GC_THRESHOLD": "0"}) == 0
    with pytest.raises(ImproperlyConfigured, match="REALTIME_GC_THRESHOLD=-5 must not be negative"):
        gc_threshold({"REALTIME_GC_THRESHOLD": "-5"})


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_freezes_what_is_alive_and_raises_the_youngest_threshold() -> None:
    gc.unfreeze()
    _, middle, oldest = gc.get_threshold()
    alive_since_import = [["settings", "url map"]]
    assert gc.is_tracked(alive_since_import)
    tune_gc(12_345)
    assert gc.get_threshold() == (12_345, middle, oldest)
    assert gc.get_freeze_count() > 0
    assert not any(obj is alive_since_import for obj in gc.get_objects()), "left for every collection to walk"


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_0_leaves_the_collector_alone() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def server_gc(server: DaphneServer) -> dict[str, Any]:
    async with open_socket(server) as socket:
        await socket.send("gc")
        return dict(json.loads(await socket.recv()))


@pytest.mark.parametrize("env", [{}, {"REALTIME_DEFLATE": "0"}], ids=["deflate", "no-deflate"])
async def test_the_server_process_serves_with_the_tuned_collector(
    serve: Callable[..., DaphneServer], env: dict[str, str]
) -> None:
    state = await server_gc(serve(env=env))
    assert state["threshold"][0] == GC_THRESHOLD
    assert state["frozen"] > 1000, "the application's import was not frozen"


async def test_realtime_gc_threshold_0_serves_with_pythons_collector(serve: Callable[..., DaphneServer]) -> None:
    state = await server_gc(serve(env={"REALTIME_GC_THRESHOLD": "0"}))
    assert state == {"threshold": list(gc.get_threshold()), "frozen": 0}
    assert state["threshold"][0] == 700


# -- writes ---------------------------------------------------------------------------------------


class Reactor:
    """What a Twisted connection asks of its reactor when it buffers: to be told when it can write."""

    def __init__(self) -> None:
        self.writers: list[Any] = []

    def addWriter(self, writer: Any) -> None:
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer: Any) -> None:
        if writer in self.writers:
            self.writers.remove(writer)


Connected = tuple[tcp.Connection, socket.socket, Reactor]


@pytest.fixture
def connection() -> Iterator[Connected]:
    """A Twisted TCP connection on one end of a real socket pair, the peer's end, and its reactor."""
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.setblocking(False)
    reactor = Reactor()
    transport = tcp.Connection(ours, cast(IProtocol, Protocol()), cast(IReactorFDSet, reactor))
    transport.connected = True
    yield transport, peer, reactor
    ours.close()
    peer.close()


def received(peer: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_write_now_sends_at_once_without_the_reactor(connection: Connected) -> None:
    transport, peer, reactor = connection
    assert write_now(transport, b"frame one")
    assert write_now(transport, b"frame two")
    assert received(peer) == b"frame oneframe two"
    assert reactor.writers == []


def test_write_now_never_overtakes_what_twisted_holds(connection: Connected) -> None:
    transport, peer, reactor = connection
    transport.write(b"first ")
    assert reactor.writers == [transport]
    assert not write_now(transport, b"second")
    assert received(peer) == b""
    transport.write(b"second")
    transport.doWrite()
    assert received(peer) == b"first second"
    assert reactor.writers == []


def test_write_now_leaves_the_rest_of_a_partial_send_to_twisted(connection: Connected) -> None:
    transport, peer, reactor = connection
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    payload = bytes(range(256)) * 16384  # 4 MiB: far more than the socket takes at once
    assert write_now(transport, payload)
    assert reactor.writers == [transport], "the rest waits for the socket to be writable"
    assert not write_now(transport, b"after"), "and nothing may pass it"
    transport.write(b"after")
    got = b""
    while reactor.writers:
        got += received(peer)
        transport.doWrite()
    got += received(peer)
    assert got == payload + b"after"


def test_write_now_declines_what_twisted_must_handle(connection: Connected) -> None:
    transport, peer, _ = connection
    assert not write_now(object(), b"x"), "not a TCP connection"
    transport.TLS = True
    assert not write_now(transport, b"x"), "TLS: the bytes must go through the TLS layer"
    transport.TLS = False
    transport.disconnecting = True
    assert not write_now(transport, b"x"), "closing"
    transport.disconnecting = False
    transport.socket.shutdown(socket.SHUT_WR)
    assert not write_now(transport, b"x"), "the send failed: Twisted reports the lost connection"
    transport.connected = False
    assert not write_now(transport, b"x"), "gone"
    assert received(peer) == b""


def test_the_servers_protocol_writes_at_once_unless_autobahn_queued_a_write(connection: Connected) -> None:
    transport, peer, reactor = connection
    protocol = TunedWebSocketProtocol()
    protocol.transport = transport
    protocol.send_queue = deque()  # autobahn's, made when the connection is
    protocol.sendData(b"frame")
    assert received(peer) == b"frame"
    assert reactor.writers == []
    # autobahn queues chopped and synchronous writes and drains them later: those keep their turn.
    with mock.patch.object(WebSocketProtocol, "sendData") as autobahn_send:
        protocol.sendData(b"chopped", chopsize=2)
        protocol.sendData(b"sync", sync=True)
        protocol.send_queue.append((b"queued", False))
        protocol.sendData(b"behind the queue")
    assert [call.args[0] for call in autobahn_send.call_args_list] == [b"chopped", b"sync", b"behind the queue"]
    assert received(peer) == b""


def test_the_servers_protocol_sends_held_frames_in_one_write_when_the_block_ends(connection: Connected) -> None:
    transport, peer, reactor = connection
    protocol = TunedWebSocketProtocol()
    protocol.transport = transport
    protocol.send_queue = deque()
    with mock.patch.object(transport, "writeSomeData", wraps=transport.writeSomeData) as send:
        with writes.held():
            protocol.sendData(b"frame 1 ")
            protocol.sendData(b"frame 2 ")
            protocol.sendData(b"frame 3")
            assert received(peer) == b""
        assert [call.args[0] for call in send.call_args_list] == [b"frame 1 frame 2 frame 3"]
    assert received(peer) == b"frame 1 frame 2 frame 3"
    assert reactor.writers == []


def test_held_frames_keep_their_turn_behind_what_waits_before_them(connection: Connected) -> None:
    transport, peer, _ = connection
    protocol = TunedWebSocketProtocol()
    protocol.transport = transport
    protocol.send_queue = deque()
    with mock.patch.object(WebSocketProtocol, "sendData") as autobahn_send:
        with writes.held():
            protocol.sendData(b"held behind autobahn's queue")
            protocol.send_queue.append((b"chopped", False))  # autobahn queued a write meanwhile
        protocol.send_queue.clear()
        with writes.held():
            protocol.sendData(b"held behind twisted's buffer")
            transport.write(b"buffered")  # Twisted holds bytes for the next turn
    assert [call.args[0] for call in autobahn_send.call_args_list] == [
        b"held behind autobahn's queue",
        b"held behind twisted's buffer",
    ]
    assert received(peer) == b""


@pytest.mark.parametrize("env", [{}, {"REALTIME_DEFLATE": "0"}], ids=["deflate", "no-deflate"])
async def test_frames_large_and_small_arrive_whole_and_in_order(
    serve: Callable[..., DaphneServer], env: dict[str, str]
) -> None:
    """1 MB frames (daphne's limit; partly sent, the rest through Twisted) between 10-byte ones (sent at once)."""
    async with open_socket(serve(env=env), extensions=None) as socket_:
        await socket_.send("protocols")
        assert "TunedWebSocketProtocol" in json.loads(await socket_.recv())
        await socket_.send("frames 12 1000000")
        for index in range(12):
            frame = await socket_.recv()
            assert frame.startswith(f"{index}:"), frame[:20]
            assert len(frame) == (1_000_000 if index % 2 == 0 else 10)
        assert await socket_.recv() == "done"


async def test_stock_daphne_serves_with_its_own_protocol(serve: Callable[..., DaphneServer]) -> None:
    """The same question to stock daphne, so the test above can tell our protocol from daphne's."""
    async with open_socket(serve(module="daphne"), extensions=None) as socket_:
        await socket_.send("protocols")
        assert json.loads(await socket_.recv()) == ["WebSocketProtocol"]


# -- Server-Sent Event streams --------------------------------------------------------------------


@pytest.fixture
def tcp_connection() -> Iterator[Connected]:
    """As ``connection``, on a loopback TCP connection (as an HTTP request's transport is)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    ours.setblocking(False)
    peer.setblocking(False)
    reactor = Reactor()
    transport = tcp.Connection(ours, cast(IProtocol, Protocol()), cast(IReactorFDSet, reactor))
    transport.connected = True
    transport.getPeer = transport.getHost = lambda: IPv4Address("TCP", "127.0.0.1", 8000)  # type: ignore[method-assign]
    yield transport, peer, reactor
    ours.close()
    peer.close()


def started_response(transport: tcp.Connection, content_type: bytes = b"text/event-stream") -> TunedWebRequest:
    """A request on ``transport`` whose response has started, headers and first chunk sent through Twisted."""
    channel = http.HTTPChannel()
    channel.transport = cast(Any, transport)  # a tcp.Connection provides ITransport; mypy cannot see it
    channel.factory = mock.Mock(server=mock.Mock(server_name="daphne"))
    request = TunedWebRequest(channel)
    channel.requests.append(request)
    request.method, request.clientproto = b"GET", b"HTTP/1.1"
    request.handle_reply({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
    request.handle_reply({"type": "http.response.body", "body": b": open\n\n", "more_body": True})
    transport.doWrite()
    return request


def test_an_event_streams_chunks_go_out_at_once(tcp_connection: Connected) -> None:
    transport, peer, reactor = tcp_connection
    request = started_response(transport)
    head = received(peer)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n8\r\n: open\n\n\r\n")
    request.handle_reply({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
    assert received(peer) == b"9\r\ndata: 1\n\n\r\n"
    assert reactor.writers == []


def test_an_event_streams_held_chunks_go_out_as_one_when_the_block_ends(tcp_connection: Connected) -> None:
    transport, peer, reactor = tcp_connection
    request = started_response(transport)
    received(peer)
    with writes.held():
        request.handle_reply({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})
        request.handle_reply({"type": "http.response.body", "body": b"data: 3\n\n", "more_body": True})
        assert received(peer) == b""
    assert received(peer) == b"12\r\ndata: 2\n\ndata: 3\n\n\r\n"
    assert reactor.writers == []


def test_an_event_streams_held_chunks_go_out_before_its_end(tcp_connection: Connected) -> None:
    """A stream that ends while the fan-out holds its events (a ``close`` event, then the end): the
    events still go out, before the end of the response."""
    transport, peer, _ = tcp_connection
    request = started_response(transport)
    request.channel.requestDone = mock.Mock()  # the channel's bookkeeping after a response
    received(peer)
    with writes.held():
        request.handle_reply({"type": "http.response.body", "body": b"event: close\n\n", "more_body": True})
        request.handle_reply({"type": "http.response.body", "body": b""})
    transport.doWrite()
    assert received(peer) == b"e\r\nevent: close\n\n\r\n0\r\n\r\n"


def test_an_event_streams_chunk_never_overtakes_what_twisted_holds(tcp_connection: Connected) -> None:
    transport, peer, _ = tcp_connection
    request = started_response(transport)
    received(peer)
    transport.write(b"4\r\nheld\r\n")  # Twisted holds it for the reactor's next turn
    request.handle_reply({"type": "http.response.body", "body": b"data: 4\n\n", "more_body": True})
    assert received(peer) == b""
    transport.doWrite()
    assert received(peer) == b"4\r\nheld\r\n9\r\ndata: 4\n\n\r\n"


def read_events(server: DaphneServer) -> list[str]:
    with urllib.request.urlopen(f"{server.http_base}/events", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        body = response.read().decode()  # http.client undoes the chunked encoding
    return [block.removeprefix("data: ") for block in body.split("\n\n") if block]


def test_the_server_streams_events_through_its_own_request(serve: Callable[..., DaphneServer]) -> None:
    *events, info = read_events(serve())
    assert events == ["0", "1", "2"]
    assert json.loads(info) == ["TunedWebRequest", "WebRequest"]


def test_stock_daphne_streams_events_through_its_own(serve: Callable[..., DaphneServer]) -> None:
    """The same stream from stock daphne, so the test above can tell our request from daphne's."""
    *events, info = read_events(serve(module="daphne"))
    assert events == ["0", "1", "2"]
    assert json.loads(info) == ["WebRequest"]


# -- startup errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "app", "message"),
    [
        ({"REALTIME_DEFLATE_WINDOW_BITS": "8"}, ECHO_APP, "REALTIME_DEFLATE_WINDOW_BITS=8 is out of range"),
        ({"REALTIME_DEFLATE_MEM_LEVEL": "high"}, ECHO_APP, "REALTIME_DEFLATE_MEM_LEVEL='high' is not an integer"),
        ({"REALTIME_GC_THRESHOLD": "lots"}, ECHO_APP, "REALTIME_GC_THRESHOLD='lots' is not an integer"),
        (
            {"REALTIME_DEFLATE_MAX_MESSAGE_BYTES": "1000"},
            "charity.asgi:application",
            "REALTIME_DEFLATE_MAX_MESSAGE_BYTES=1000 is below the app's frame limit",
        ),
    ],
)
def test_bad_settings_stop_the_server_at_startup_with_a_message(env: dict[str, str], app: str, message: str) -> None:
    base = {
        name: value for name, value in os.environ.items() if not name.startswith(("REALTIME_DEFLATE", "REALTIME_GC"))
    }
    port = _free_port()
    result = subprocess.run(
        [sys.executable, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port), app],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stderr
    assert f"realtime.server: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Listening" not in result.stderr


# -- the internals it relies on -------------------------------------------------------------------


def test_the_pinned_twisted_autobahn_and_daphne_have_every_internal_it_uses() -> None:
    assert daphne_module.missing_internals() == []


def test_a_missing_internal_is_named() -> None:
    class Upgraded:
        def __init__(self) -> None:
            self.kept = 1

    internals = ((Upgraded, "kept", "Upgraded.kept"), (Upgraded, "_gone", "Upgraded._gone"))
    assert daphne_module.missing_internals(internals) == ["Upgraded._gone"]


def test_without_its_internals_it_serves_as_stock_daphne_after_one_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(daphne_module, "missing_internals", lambda: ["twisted.internet.tcp.Connection.TLS"])
    monkeypatch.setattr(CommandLineInterface, "run", lambda self, args: ran.append((type(self).__name__, args)))

    daphne_module.main(["-p", "8001", "charity.asgi:application"], environ={})

    assert ran == [("CommandLineInterface", ["-p", "8001", "charity.asgi:application"])]
    warning = capsys.readouterr().err
    assert warning.count("WARNING") == 1 and "twisted.internet.tcp.Connection.TLS" in warning


def test_autobahns_per_connection_settings_dump_is_made_only_when_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    """autobahn pretty-prints every socket's settings for a debug line; realtime.server defers it."""
    import pprint

    from autobahn.websocket import protocol as autobahn_protocol

    from realtime import server

    monkeypatch.setattr(autobahn_protocol, "pformat", autobahn_protocol.pformat)
    server.lazy_connection_log()
    calls: list[Any] = []

    def pformat(value: Any) -> str:
        calls.append(value)
        return "dumped"

    monkeypatch.setattr(pprint, "pformat", pformat)
    settings = [("openHandshakeTimeout", 5, "factory")]
    deferred = autobahn_protocol.pformat(settings)
    assert calls == []  # nothing worked out while the debug line is dropped
    assert f"\n{deferred}" == "\ndumped"
    assert calls == [settings]
