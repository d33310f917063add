"""realtime.sockets: how the engine's socket base ends a connection it cannot serve."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

from realtime import fanout
from realtime.protocol import CloseCode
from realtime.sockets import JsonSocketConsumer


class WithoutFanout(JsonSocketConsumer):
    """Accepted, then its join fails as it does while Redis is away."""

    endpoint = "test"

    async def connect(self) -> None:
        await self.accept()
        raise fanout.FanoutUnavailable("Redis is away")


async def test_a_socket_without_fan_out_is_closed_with_4503_and_the_client_retries() -> None:
    communicator = WebsocketCommunicator(WithoutFanout.as_asgi(), "/ws/test/")
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_output() == {"type": "websocket.close", "code": CloseCode.UNAVAILABLE}
    await communicator.wait()


def test_every_close_code_is_one_an_application_may_send() -> None:
    """autobahn (under daphne) raises on any other code, and the client then sees 1011 and the log a
    traceback for every socket."""
    codes = {name: value for name, value in vars(CloseCode).items() if name.isupper()}
    assert codes
    for name, code in codes.items():
        assert code == 1000 or 3000 <= code <= 4999, name
