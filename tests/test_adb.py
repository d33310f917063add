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


@pytest.mark.scaleout
@pytest.mark.usefixtures("require_scaleout")
@pytest.mark.django_db(transaction=True)
async def test_timestamps_come_back_in_djangos_time_zone_whatever_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """As Django's own connections (``ensure_timezone``): a replay read here encodes the same times."""
    from datetime import timedelta

    wrapper_class = type(connections["default"])
    original = wrapper_class.get_connection_params

    def in_paris(self: BaseDatabaseWrapper) -> dict[str, object]:
        return {**original(self), "options": "-c TimeZone=Europe/Paris"}

    monkeypatch.setattr(wrapper_class, "get_connection_params", in_paris)
    row = await adb.fetchone("SELECT now(), current_setting('TimeZone')", [], pool_size=1, pool="test")
    assert row is not None
    assert (row[0].utcoffset(), row[1]) == (timedelta(0), connections["default"].timezone_name)
    rows = await adb.fetchall("SELECT 1 UNION ALL SELECT 2", [], pool_size=1, pool="test")
    assert rows == [(1,), (2,)]
