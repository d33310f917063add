"""Daphne for many long-lived sockets: the production entry point, in place of ``daphne``.

It adds four things to stock daphne: permessage-deflate (RFC 7692); frames sent on the socket at
once when nothing waits before them, rather than on the reactor's next turn (``write_now``); the
same for the events of Server-Sent Event streams (``TunedWebRequest``); and a garbage collector
tuned for a process that holds thousands of sockets (``tune_gc``).

Daphne 4.2 never sets autobahn's ``perMessageCompressionAccept``, so it declines every browser's
``permessage-deflate`` offer and a 50 KB dashboard snapshot costs 50 KB on the wire. This is stock
daphne (same CLI, same arguments, none of its code copied) whose server sets that option on the
WebSocket factory the moment daphne's own ``run()`` creates it:

    python -m realtime.server -b 127.0.0.1 -p 8001 charity.asgi:application

What it negotiates, and why (docs/operations.md has the measurements):

* the server compresses with a small window and memLevel (zlib's defaults cost 250 KiB per socket),
  and only frames of at least ``REALTIME_DEFLATE_MIN_BYTES``: small frames cost more CPU to
  compress than they save;
* no context takeover in either direction, and each (de)compressor is freed when its message is
  done: with takeover, every socket would keep a compressor and a 32 KiB inflate window for its
  lifetime (browsers compress even their pings), for a few per cent of ratio at most;
* an inbound message is bounded *after* decompression (``REALTIME_DEFLATE_MAX_MESSAGE_BYTES``,
  checked while inflating): a small frame that inflates past it closes the socket with 1009.

Settings are environment variables, read and checked once at startup; a bad value exits with a
message before anything listens. ``REALTIME_DEFLATE=0`` declines compression as stock daphne does;
``REALTIME_GC_THRESHOLD=0`` leaves Python's collector as it is.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import pprint
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from autobahn.websocket import protocol as autobahn_protocol
from autobahn.websocket.compress import (
    PerMessageDeflate,
    PerMessageDeflateOffer,
    PerMessageDeflateOfferAccept,
)
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnWebSocketProtocol
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.core.exceptions import ImproperlyConfigured
from twisted.internet import abstract, tcp

from realtime import writes

__all__ = [
    "DeflateCommandLineInterface",
    "DeflateServer",
    "DeflateSettings",
    "TunedHTTPFactory",
    "TunedServer",
    "TunedWebRequest",
    "TunedWebSocketProtocol",
    "accept_deflate",
    "deflate_settings",
    "gc_threshold",
    "lazy_connection_log",
    "main",
    "missing_internals",
    "tune_gc",
    "write_now",
]

logger = logging.getLogger("realtime.server")

PREFIX = "REALTIME_DEFLATE"
# zlib turns a raw deflate window of 8 bits into 9 when compressing, and autobahn rejects 8 in an
# offer: RFC 7692's 8 is not usable here.
WINDOW_BITS_RANGE = range(9, 16)
MEM_LEVEL_RANGE = range(1, 10)


@dataclass(frozen=True)
class DeflateSettings:
    """What the server negotiates; defaults measured for a good ratio at little memory per socket."""

    enabled: bool = True
    window_bits: int = 12
    """LZ77 window of the server's compressor, 2**bits bytes (zlib's default is 15)."""
    mem_level: int = 4
    """zlib's memLevel of the server's compressor, 1..9 (zlib's default is 8)."""
    min_bytes: int = 1024
    """Frames shorter than this go out uncompressed."""
    max_message_bytes: int = 64 * 1024 + 1024
    """Bound on an inbound message after decompression. Kept above REALTIME_MAX_FRAME_BYTES, so
    a frame just over the app's limit still reaches the app, which answers it with an error frame."""


def _int(environ: Mapping[str, str], name: str, default: int, allowed: range | None = None) -> int:
    """The integer in environment variable ``name`` (``default`` when unset or blank), checked."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if allowed is not None and value not in allowed:
        raise ImproperlyConfigured(f"{name}={value} is out of range: allowed {allowed.start}..{allowed.stop - 1}")
    if value < 0:
        raise ImproperlyConfigured(f"{name}={value} must not be negative")
    return value


def deflate_settings(environ: Mapping[str, str]) -> DeflateSettings:
    """Read and check the ``REALTIME_DEFLATE*`` variables; raise ImproperlyConfigured naming the bad one."""
    default = DeflateSettings()
    switch = environ.get(PREFIX, "1").strip().lower()
    if switch not in ("0", "1", "false", "true", "off", "on", "no", "yes", ""):
        raise ImproperlyConfigured(f"{PREFIX}={environ[PREFIX]!r}: use 1 (compress) or 0 (decline)")
    settings = DeflateSettings(
        enabled=switch not in ("0", "false", "off", "no"),
        window_bits=_int(environ, f"{PREFIX}_WINDOW_BITS", default.window_bits, WINDOW_BITS_RANGE),
        mem_level=_int(environ, f"{PREFIX}_MEM_LEVEL", default.mem_level, MEM_LEVEL_RANGE),
        min_bytes=_int(environ, f"{PREFIX}_MIN_BYTES", default.min_bytes),
        max_message_bytes=_int(environ, f"{PREFIX}_MAX_MESSAGE_BYTES", default.max_message_bytes),
    )
    if settings.max_message_bytes < 1:
        raise ImproperlyConfigured(f"{PREFIX}_MAX_MESSAGE_BYTES must be at least 1")
    return settings


GC_THRESHOLD_VARIABLE = "REALTIME_GC_THRESHOLD"
#: Objects the youngest generation may gain before the collector runs (Python's default is 700).
#: A fan-out keeps about three tracked objects alive per socket until its frame is written (the
#: reactor's write registration and selector key): with 700, a broadcast to 1,000 sockets triggers
#: collections that find them alive and promote them to the oldest generation, whose every
#: collection walks the whole process (a third of a second at 1,000 sockets). 50,000 stays above a
#: broadcast to some 15,000 sockets of one process.
GC_THRESHOLD = 50_000


def gc_threshold(environ: Mapping[str, str]) -> int:
    """``REALTIME_GC_THRESHOLD``: the youngest generation's threshold, or 0 to leave the GC alone."""
    return _int(environ, GC_THRESHOLD_VARIABLE, GC_THRESHOLD)


def tune_gc(threshold: int) -> None:
    """Keep the collector's pauses off the delivery path of a process that serves many sockets.

    Once the application is imported: collect, then ``gc.freeze()`` what is left (modules,
    classes, settings, the URL map: alive as long as the process), so no later collection walks it
    again; and raise the youngest generation's threshold (``GC_THRESHOLD``) so that short-lived
    objects are freed by reference counting before a collection can promote them. Cycles are still
    collected, later and in fewer passes. ``threshold`` 0 leaves Python's collector as it is.
    """
    if threshold == 0:
        return
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(threshold, middle, oldest)


class LazyPformat:
    """``pprint.pformat(value)``, worked out only if the log line that holds it is written."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def lazy_connection_log() -> None:
    """Autobahn pretty-prints a socket's twenty-odd settings for a debug line on every connection,
    whether or not debug logging is on: about a twelfth of a reconnect storm's CPU. Now only when
    that line is written."""
    autobahn_protocol.pformat = LazyPformat  # type: ignore[assignment]


def check_app_frame_limit(settings: DeflateSettings) -> None:
    """Refuse a bound below the app's own frame limit, once the app has configured Django.

    Under it, a frame the app accepts (or answers with its ``too_large`` error frame) would instead
    close the socket with 1009. Apps that do not configure Django (the benchmark's) are not checked.
    """
    from django.conf import settings as django_settings

    if not django_settings.configured:
        return
    from realtime.conf import app_settings

    if settings.max_message_bytes < app_settings.MAX_FRAME_BYTES:
        raise ImproperlyConfigured(
            f"{PREFIX}_MAX_MESSAGE_BYTES={settings.max_message_bytes} is below the app's frame limit "
            f"REALTIME_MAX_FRAME_BYTES={app_settings.MAX_FRAME_BYTES}"
        )


def accept_deflate(offers: Sequence[Any], settings: DeflateSettings) -> PerMessageDeflateOfferAccept | None:
    """Accept the first ``permessage-deflate`` offer on our terms, or decline (None).

    Every parameter stays within what the client offered: the server's window never exceeds a
    ``server_max_window_bits`` it asked for, and ``client_no_context_takeover`` is a request every
    client must honour (RFC 7692 7.1.1.2). The client's window is not narrowed: autobahn drops the
    value of an offered ``client_max_window_bits``, and answering above it fails the handshake.
    """
    if not settings.enabled:
        return None
    for offer in offers:
        if not isinstance(offer, PerMessageDeflateOffer):
            continue
        window_bits = settings.window_bits
        if offer.request_max_window_bits:
            window_bits = min(window_bits, offer.request_max_window_bits)
        return PerMessageDeflateOfferAccept(
            offer,
            request_no_context_takeover=offer.accept_no_context_takeover,
            no_context_takeover=True,
            window_bits=window_bits,
            mem_level=settings.mem_level,
            max_message_size=settings.max_message_bytes,
        )
    return None


class ReleasingPerMessageDeflate(PerMessageDeflate):  # type: ignore[misc]
    """autobahn's deflate, but a (de)compressor without context takeover is freed after its message.

    autobahn re-creates it per message in that case yet keeps the last one until the next, which
    costs an idle socket the same memory as context takeover would.
    """

    def end_compress_message(self) -> bytes:
        data: bytes = super().end_compress_message()
        if self.server_no_context_takeover:
            self._compressor = None
        return data

    def end_decompress_message(self) -> None:
        super().end_decompress_message()
        if self.client_no_context_takeover:
            self._decompressor = None


def write_now(transport: Any, data: bytes) -> bool:
    """Send ``data`` on a plain TCP ``transport`` at once if nothing is waiting before it.

    Twisted's ``write`` only buffers: the frame waits for the reactor to register the socket for
    writing, report it writable and send, then unregister it (two ``epoll_ctl`` calls and a turn
    of the loop per frame). A broadcast writes one small frame to each of thousands of sockets
    whose buffers are empty, so this sends it straight away, as asyncio's own transports do.

    Returns False, having sent nothing, when the transport is not plain TCP, is closing, already has
    data waiting, or the send failed or would block: the caller then writes through Twisted as
    usual, which keeps the order of the bytes and reports a lost connection its own way. A partial
    send leaves the rest to Twisted.
    """
    if (
        not isinstance(transport, tcp.Connection)
        or transport.TLS
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
        or transport._tempDataLen
        or len(transport.dataBuffer) != transport.offset
    ):
        return False
    sent = transport.writeSomeData(data)
    if isinstance(sent, Exception) or sent <= 0:
        return False
    if sent < len(data):
        transport.write(data[sent:])
    return True


class TunedWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]
    """Daphne's protocol, sending each frame at once when nothing is queued before it (``write_now``).

    Inside ``realtime.writes.held()`` (the fan-out delivering several events to each socket) its
    frames are kept and sent joined when the block ends: one write for the lot.
    """

    send_queue: Any  # autobahn's queue of chopped or synchronous writes

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        if sync or chopsize or self.send_queue:
            super().sendData(data, sync, chopsize)
        elif not writes.hold(self, data) and not write_now(self.transport, data):
            super().sendData(data)

    def send_held(self, data: bytes) -> None:
        if self.send_queue or not write_now(self.transport, data):
            super().sendData(data)


class TunedWebRequest(WebRequest):  # type: ignore[misc]
    """Daphne's HTTP request, for Server-Sent Event streams (``realtime.sse``) that stay open for hours.

    Each chunk of a streaming body after the first goes out at once when nothing waits before it
    (``write_now``), as a socket's frames do, rather than through Twisted's buffer on the reactor's
    next turn (two ``epoll_ctl`` calls and a callback per chunk); inside ``realtime.writes.held()``
    a stream's chunks are kept and sent as one. Other responses, and a stream's headers, first
    chunk and end, take daphne's own path. (Twisted's HTTP channel already sets ``TCP_NODELAY``.)
    """

    def handle_reply(self, message: dict[str, Any]) -> None:
        body = message.get("body", b"")
        if (
            message["type"] != "http.response.body"
            or not message.get("more_body", False)
            or not body
            or not self.startedWriting
            or not self.chunked  # Twisted chunks only bodies it sends: never HEAD's, a 204's or a 304's
            or self.finished
            or self._disconnected
            or self.channel is None
        ):
            pending = writes.release(self) if message["type"] == "http.response.body" else None
            if pending:
                self.send_held(pending)  # what is held goes before the end of the response
            super().handle_reply(message)
            return
        self.sentLength += len(body)
        if not writes.hold(self, body):
            self.send_held(body)

    def send_held(self, data: bytes) -> None:
        """One chunk of the body (chunked transfer encoding), at once if nothing waits before it."""
        if self.finished or self._disconnected or self.channel is None:
            return
        chunk = b"%x\r\n%s\r\n" % (len(data), data)
        transport = self.channel.transport
        if not write_now(transport, chunk):
            transport.write(chunk)


class TunedHTTPFactory(HTTPFactory):  # type: ignore[misc]
    """Daphne's HTTP factory, whose requests are ``TunedWebRequest``."""

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = TunedWebRequest
        return protocol


class DeflateWebSocketProtocol(TunedWebSocketProtocol):
    """Daphne's protocol: frames under ``min_bytes`` go out uncompressed; (de)compressors are freed."""

    deflate: DeflateSettings = DeflateSettings()
    # Set by autobahn during the opening handshake (declared for mypy: autobahn leaves them untyped).
    _perMessageCompress: Any
    websocket_extensions_in_use: list[Any]

    def onOpen(self) -> None:
        # autobahn built its extension from the accepted offer during the handshake, before any
        # data frame; swap it for the releasing twin, with the same negotiated parameters.
        negotiated = self._perMessageCompress
        if type(negotiated) is PerMessageDeflate:
            releasing = ReleasingPerMessageDeflate(
                True,
                negotiated.server_no_context_takeover,
                negotiated.client_no_context_takeover,
                negotiated.server_max_window_bits,
                negotiated.client_max_window_bits,
                negotiated.mem_level,
                negotiated.max_message_size,
            )
            self._perMessageCompress = releasing
            self.websocket_extensions_in_use = [
                releasing if extension is negotiated else extension for extension in self.websocket_extensions_in_use
            ]
        super().onOpen()

    def sendMessage(
        self,
        payload: bytes,
        isBinary: bool = False,
        fragmentSize: int | None = None,
        sync: bool = False,
        doNotCompress: bool = False,
    ) -> None:
        small = len(payload) < self.deflate.min_bytes
        super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress or small)


class TunedServer(Server):  # type: ignore[misc]
    """Daphne's server: its sockets send at once (``TunedWebSocketProtocol``), and the garbage
    collector is tuned (``tune_gc``) just before it serves.

    ``Server.run`` assigns ``self.ws_factory`` and then configures it; intercepting that assignment
    (``configure_ws_factory``) sets the protocol and options without copying any of daphne's code.
    Its ``http_factory`` is likewise swapped for a ``TunedHTTPFactory`` (event streams).
    """

    _ws_factory: Any = None
    _http_factory: Any = None

    def __init__(self, *args: Any, gc_threshold: int = GC_THRESHOLD, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gc_threshold = gc_threshold

    def run(self) -> None:
        # daphne's CLI imported the application before building the server: what it left is
        # what the process keeps, and is frozen here.
        tune_gc(self.gc_threshold)
        super().run()

    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        self.configure_ws_factory(factory)
        self._ws_factory = factory

    def configure_ws_factory(self, factory: Any) -> None:
        factory.protocol = TunedWebSocketProtocol

    @property
    def http_factory(self) -> Any:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: Any) -> None:
        self._http_factory = TunedHTTPFactory(self) if type(factory) is HTTPFactory else factory


class DeflateServer(TunedServer):
    """Daphne's server (``TunedServer``); its WebSocket factory negotiates permessage-deflate."""

    def __init__(self, *args: Any, deflate: DeflateSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deflate = deflate

    def run(self) -> None:
        # The application is imported by now, so its Django settings are configured.
        try:
            check_app_frame_limit(self.deflate)
        except ImproperlyConfigured as error:
            raise SystemExit(f"realtime.server: {error}") from None
        super().run()

    def configure_ws_factory(self, factory: Any) -> None:
        factory.protocol = type(
            "ConfiguredDeflateWebSocketProtocol", (DeflateWebSocketProtocol,), {"deflate": self.deflate}
        )
        factory.setProtocolOptions(
            perMessageCompressionAccept=partial(accept_deflate, settings=self.deflate),
            # Close a failed connection with its code (1009 for an inbound message over the bound)
            # rather than dropping it (1006 for the client), so a client can tell why.
            failByDrop=False,
        )


class DeflateCommandLineInterface(CommandLineInterface):  # type: ignore[misc]
    """Daphne's CLI, serving with ``DeflateServer`` (``TunedServer`` when compression is off)."""

    def __init__(self, deflate: DeflateSettings, gc_threshold: int = GC_THRESHOLD) -> None:
        super().__init__()
        if deflate.enabled:
            self.server_class = partial(DeflateServer, deflate=deflate, gc_threshold=gc_threshold)
        else:
            self.server_class = partial(TunedServer, gc_threshold=gc_threshold)


def _defines(owner: Any, name: str) -> bool:
    """``owner`` has ``name`` as a class attribute, or its source assigns it (an instance attribute)."""
    if hasattr(owner, name):
        return True
    try:
        return f"self.{name} =" in inspect.getsource(owner)
    except (OSError, TypeError):
        return False


#: The private parts of Twisted, autobahn and daphne this module relies on (pinned in requirements.txt).
INTERNALS: tuple[tuple[Any, str, str], ...] = (
    (tcp.Connection, "TLS", "twisted.internet.tcp.Connection.TLS"),
    (tcp.Connection, "writeSomeData", "twisted.internet.tcp.Connection.writeSomeData"),
    (abstract.FileDescriptor, "_tempDataLen", "twisted.internet.abstract.FileDescriptor._tempDataLen"),
    (abstract.FileDescriptor, "dataBuffer", "twisted.internet.abstract.FileDescriptor.dataBuffer"),
    (abstract.FileDescriptor, "offset", "twisted.internet.abstract.FileDescriptor.offset"),
    (abstract.FileDescriptor, "_writeDisconnected", "twisted.internet.abstract.FileDescriptor._writeDisconnected"),
    (PerMessageDeflate, "_compressor", "autobahn PerMessageDeflate._compressor"),
    (PerMessageDeflate, "_decompressor", "autobahn PerMessageDeflate._decompressor"),
    (AutobahnWebSocketProtocol, "send_queue", "autobahn WebSocketProtocol.send_queue"),
    (AutobahnWebSocketProtocol, "_perMessageCompress", "autobahn WebSocketProtocol._perMessageCompress"),
    (Server, "ws_factory", "daphne.server.Server.run assigning self.ws_factory"),
    (Server, "http_factory", "daphne.server.Server.run assigning self.http_factory"),
    (WebRequest, "startedWriting", "twisted.web.http.Request.startedWriting"),
    (WebRequest, "chunked", "twisted.web.http.Request.chunked"),
    (WebRequest, "_disconnected", "twisted.web.http.Request._disconnected"),
    (autobahn_protocol, "pformat", "autobahn.websocket.protocol.pformat"),
)


def missing_internals(internals: Sequence[tuple[Any, str, str]] = INTERNALS) -> list[str]:
    """The names in ``internals`` that the installed Twisted, autobahn or daphne no longer have."""
    return [label for owner, name, label in internals if not _defines(owner, name)]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Check the settings, then run daphne's CLI with ``argv`` (default: the command line).

    When an internal this module relies on is missing (Twisted, autobahn or daphne upgraded past
    the pinned versions), it serves as stock daphne does, after one warning naming what is missing.
    """
    environ = os.environ if environ is None else environ
    arguments = list(sys.argv[1:] if argv is None else argv)
    missing = missing_internals()
    if missing:
        print(
            "realtime.server: WARNING: serving as stock daphne (no compression, no immediate writes, "
            f"no GC tuning): these internals are missing: {', '.join(missing)}. "
            "Install the versions pinned in requirements.txt.",
            file=sys.stderr,
        )
        CommandLineInterface().run(arguments)
        return
    lazy_connection_log()
    try:
        deflate = deflate_settings(environ)
        threshold = gc_threshold(environ)
    except ImproperlyConfigured as error:
        raise SystemExit(f"realtime.server: {error}") from None
    try:
        DeflateCommandLineInterface(deflate, threshold).run(arguments)
    except ImproperlyConfigured as error:  # the application's own settings (system checks)
        raise SystemExit(f"realtime.server: {error}") from None


if __name__ == "__main__":
    main()
