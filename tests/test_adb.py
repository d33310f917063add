"""realtime.adb: which database the async paths may use, decided without a connection per task."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from realtime import adb, executors


def test_available_follows_the_default_databases_vendor() -> None:
    assert adb.available() is (connections["default"].vendor == "postgresql")


@pytest.mark.parametrize("check", [adb.available, lambda: executors.connect_read(len)])
def test_deciding_builds_no_database_wrapper_in_the_sockets_task(
    check: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the event loop, ``connections["default"]`` is local to the task: asking it in each
    socket's task would build (and keep, for the socket's life) one wrapper per socket."""
    built: list[BaseDatabaseWrapper] = []
    original = BaseDatabaseWrapper.__init__

    def counting(self: BaseDatabaseWrapper, *args: object, **kwargs: object) -> None:
        built.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BaseDatabaseWrapper, "__init__", counting)

    async def in_a_new_socket_task() -> None:
        check()  # type: ignore[operator]

    async def main() -> None:
        # A socket's task starts from a context that holds no connection of its own.
        await asyncio.get_running_loop().create_task(in_a_new_socket_task(), context=contextvars.Context())

    asyncio.run(main())
    assert built == []
