"""realtime.localbus: in the embedded mode, events published by another process reach this one's sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime import fanout, localbus
from tests.conftest import ROOT
from tests.test_fanout import Recorder


@pytest.fixture
def bus_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """An embedded-mode process with a bus of its own (the suite's database is in memory: no bus)."""
    settings.REDIS_URL = ""
    settings.REALTIME_LOCAL_BUS_DIR = str(tmp_path / "bus")
    fanout.reset()
    localbus.stop()
    yield tmp_path / "bus"
    localbus.stop()
    fanout.reset()


def publish_from_another_process(bus: Path, script: str) -> None:
    """Run ``script`` in a separate Django process (a management command, cron, a WSGI worker)."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "REDIS_PREFIX"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "charity.settings",
            "DEBUG": "1",
            "REALTIME_LOCAL_BUS_DIR": str(bus),
            "SQLITE_PATH": str(bus.parent / "other.sqlite3"),
        }
    )
    prelude = "import django; django.setup(); from realtime import fanout\n"
    subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)], cwd=ROOT, env=env, check=True, timeout=60)


@pytest.mark.usefixtures("db")
async def test_events_published_by_another_process_arrive_in_order(bus_dir: Path) -> None:
    hub = fanout.get_hub()
    member, outsider = Recorder(), Recorder()
    await hub.join(member, ["role.volunteer"])
    await hub.join(outsider, ["role.donor"])
    assert (bus_dir / f"{os.getpid()}.sock").exists()

    await asyncio.to_thread(
        publish_from_another_process,
        bus_dir,
        """
        for n in range(200):
            fanout.publish(["role.volunteer"], {"type": "test.ping", "n": n})
        """,
    )

    events = await member.wait_for(200)
    assert [event["n"] for event in events] == list(range(200))
    assert outsider.events == []
    await hub.leave(member, ["role.volunteer"])
    await hub.leave(outsider, ["role.donor"])


@pytest.mark.usefixtures("db")
async def test_an_event_published_here_reaches_this_process_once(bus_dir: Path) -> None:
    hub = fanout.get_hub()
    member = Recorder()
    await hub.join(member, ["g.a"])
    fanout.publish(["g.a"], {"type": "test.ping", "n": 1})
    await member.wait_for(1)
    await asyncio.sleep(0.2)
    assert [event["n"] for event in member.events] == [1]
    await hub.leave(member, ["g.a"])


def test_a_socket_left_by_a_dead_process_is_removed_and_publishing_goes_on(bus_dir: Path) -> None:
    bus_dir.mkdir(mode=0o700)
    stale = bus_dir / "999999.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(stale))
    dead.close()  # bound, then gone without removing its file (kill -9)

    assert localbus.send(("g.a",), fanout.encode({"type": "test.ping"})) == 0
    assert not stale.exists()


def test_without_any_server_publishing_costs_no_error(bus_dir: Path) -> None:
    assert not bus_dir.exists()
    assert localbus.send(("g.a",), fanout.encode({"type": "test.ping"})) == 0


def test_a_database_in_memory_has_no_bus() -> None:
    assert localbus.derived_directory({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}, "p") is None
    memory = {"ENGINE": "django.db.backends.sqlite3", "NAME": "file:memorydb_default?mode=memory&cache=shared"}
    assert localbus.derived_directory(memory, "p") is None


def test_processes_that_share_a_database_share_a_private_directory(tmp_path: Path) -> None:
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    first = localbus.derived_directory(database, "charity")
    assert first is not None and first == localbus.derived_directory(dict(database), "charity")
    assert localbus.derived_directory({**database, "NAME": str(tmp_path / "other.sqlite3")}, "charity") != first
    assert localbus.derived_directory(database, "other-prefix") != first
    assert f"-{os.getuid()}-" in first.name


@pytest.mark.usefixtures("db")
async def test_the_directory_and_socket_are_private_to_the_user(bus_dir: Path) -> None:
    hub = fanout.get_hub()
    member = Recorder()
    await hub.join(member, ["g.a"])
    assert bus_dir.stat().st_mode & 0o777 == 0o700
    assert (bus_dir / f"{os.getpid()}.sock").stat().st_mode & 0o077 == 0
    await hub.leave(member, ["g.a"])


def test_a_folder_another_user_could_enter_is_never_used(bus_dir: Path) -> None:
    """The folder's name is predictable: someone else may make it first, open to all, and listen."""
    bus_dir.mkdir(mode=0o777)
    os.chmod(bus_dir, 0o777)
    eavesdropper = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    eavesdropper.bind(str(bus_dir / "evil.sock"))
    eavesdropper.setblocking(False)
    try:
        assert localbus.listen(lambda groups, payload: None) is False
        assert localbus.send(("g.a",), fanout.encode({"type": "test.ping"})) == 0
        with pytest.raises(BlockingIOError):
            eavesdropper.recv(1024)
    finally:
        eavesdropper.close()


async def test_a_malformed_event_from_the_bus_is_dropped_and_delivery_goes_on(bus_dir: Path) -> None:
    import msgpack

    hub = fanout.get_hub()
    member = Recorder()
    await hub.join(member, ["g.a"])
    fanout._publish_locally(("g.a",), msgpack.packb(5))
    fanout._publish_locally(("g.a",), msgpack.packb({"type": "test.ping", "created": "x"}))
    fanout._publish_locally(("g.a",), fanout.encode({"type": "test.ping", "n": 2}))
    events = await member.wait_for(2)
    assert [event.get("n") for event in events] == [None, 2]
    await hub.leave(member, ["g.a"])
