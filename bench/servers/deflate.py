"""A daphne that negotiates permessage-deflate (RFC 7692): a prototype, not wired into production.

Daphne 4.2 never sets autobahn's ``perMessageCompressionAccept``, so it declines every browser's
``permessage-deflate`` offer. This entry point is stock daphne (same CLI, same arguments) whose
server sets that option on the WebSocket factory the moment daphne creates it, and whose protocol
compresses only frames of at least ``DEFLATE_MIN_BYTES`` (small frames cost more CPU to compress
than they save). Decompression of client frames is bounded by ``max_message_size``: a client that
sends a small compressed frame inflating past it is closed (1009) before more is inflated.

    python -m bench.servers.deflate -b 127.0.0.1 -p 9002 charity.asgi:application

Environment: ``DEFLATE_MIN_BYTES`` (default 1024), ``DEFLATE_MAX_MESSAGE_BYTES`` (default 1 MiB,
the bound on an inbound message after decompression), ``DEFLATE_WINDOW_BITS`` (default 15; fewer
bits use less memory per socket for a slightly worse ratio), ``DEFLATE_MEM_LEVEL`` (default 8).
"""

from __future__ import annotations

import os
from typing import Any

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

MIN_BYTES = int(os.environ.get("DEFLATE_MIN_BYTES", "1024"))
MAX_MESSAGE_BYTES = int(os.environ.get("DEFLATE_MAX_MESSAGE_BYTES", str(1024 * 1024)))
WINDOW_BITS = int(os.environ.get("DEFLATE_WINDOW_BITS", "15"))
MEM_LEVEL = int(os.environ.get("DEFLATE_MEM_LEVEL", "8"))


def accept_deflate(offers: list[Any]) -> PerMessageDeflateOfferAccept | None:
    """Accept the first permessage-deflate offer, bounded; decline anything else."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            # A smaller window than the client allows is always decodable by it; 15 is zlib's default.
            window_bits = None if WINDOW_BITS >= 15 else min(WINDOW_BITS, offer.request_max_window_bits or 15)
            return PerMessageDeflateOfferAccept(
                offer,
                window_bits=window_bits,
                mem_level=MEM_LEVEL,
                max_message_size=MAX_MESSAGE_BYTES,
            )
    return None


class ThresholdWebSocketProtocol(WebSocketProtocol):
    """Daphne's protocol, but frames under ``MIN_BYTES`` go out uncompressed."""

    def sendMessage(
        self,
        payload: bytes,
        isBinary: bool = False,
        fragmentSize: int | None = None,
        sync: bool = False,
        doNotCompress: bool = False,
    ) -> None:
        super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress or len(payload) < MIN_BYTES)


class DeflateServer(Server):
    """Daphne's server; its WebSocket factory negotiates permessage-deflate.

    ``Server.run`` assigns ``self.ws_factory`` and then configures it; intercepting that assignment
    adds one option without copying any of daphne's code.
    """

    _ws_factory: Any = None

    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        factory.protocol = ThresholdWebSocketProtocol
        factory.setProtocolOptions(perMessageCompressionAccept=accept_deflate)
        self._ws_factory = factory


class DeflateCommandLineInterface(CommandLineInterface):
    server_class = DeflateServer


if __name__ == "__main__":
    DeflateCommandLineInterface.entrypoint()
