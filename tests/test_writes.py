"""realtime.writes: frames held while the fan-out delivers a run of events, sent joined per connection."""

from __future__ import annotations

import asyncio

import pytest

from realtime import writes


class Wire:
    """A connection as the server's protocol is one: writes are held when they can be, else sent."""

    def __init__(self, fail: bool = False) -> None:
        self.writes: list[bytes] = []
        self.fail = fail

    def send(self, data: bytes) -> None:
        if not writes.hold(self, data):
            self.writes.append(data)

    def send_held(self, data: bytes) -> None:
        if self.fail:
            raise OSError("gone")
        self.writes.append(data)


def test_outside_a_block_nothing_is_held() -> None:
    wire = Wire()
    assert not writes.hold(wire, b"x")
    wire.send(b"one")
    wire.send(b"two")
    assert wire.writes == [b"one", b"two"]


def test_a_blocks_frames_go_out_joined_per_connection_in_order_when_it_ends() -> None:
    first, second = Wire(), Wire()
    with writes.held():
        first.send(b"a1 ")
        second.send(b"b1 ")
        first.send(b"a2 ")
        first.send(b"a3")
        assert first.writes == [] and second.writes == []
    assert first.writes == [b"a1 a2 a3"]
    assert second.writes == [b"b1 "]
    first.send(b"after")
    assert first.writes == [b"a1 a2 a3", b"after"]


def test_nested_blocks_join_the_outermost() -> None:
    wire = Wire()
    with writes.held():
        wire.send(b"1")
        with writes.held():
            wire.send(b"2")
        assert wire.writes == []
        wire.send(b"3")
    assert wire.writes == [b"123"]


def test_a_failing_connection_is_logged_and_the_others_still_get_theirs(caplog: pytest.LogCaptureFixture) -> None:
    broken, fine = Wire(fail=True), Wire()
    with writes.held():
        broken.send(b"lost with its connection")
        fine.send(b"delivered")
    assert fine.writes == [b"delivered"]
    assert any("sending held frames failed" in record.getMessage() for record in caplog.records)


def test_the_block_ends_even_when_its_body_raises() -> None:
    wire = Wire()
    with pytest.raises(RuntimeError), writes.held():
        wire.send(b"before the error")
        raise RuntimeError("delivery failed")
    assert wire.writes == [b"before the error"]
    wire.send(b"next")
    assert wire.writes == [b"before the error", b"next"]


async def test_a_task_started_in_a_block_never_loses_what_it_writes_after_the_block() -> None:
    """Tasks copy their context, block included: once the block is over they must write at once."""
    wire = Wire()
    written_late = asyncio.Event()
    go = asyncio.Event()

    async def background() -> None:
        wire.send(b"early ")  # while the block is open: sent with it
        await go.wait()
        wire.send(b"late")
        written_late.set()

    with writes.held():
        task = asyncio.create_task(background())
        await asyncio.sleep(0)
        wire.send(b"mine")
    assert wire.writes == [b"early mine"]
    go.set()
    await asyncio.wait_for(written_late.wait(), 5)
    await task
    assert wire.writes == [b"early mine", b"late"]


async def test_another_tasks_writes_are_not_held() -> None:
    wire, others = Wire(), Wire()
    started = asyncio.Event()
    release = asyncio.Event()

    async def other_task() -> None:
        await started.wait()
        others.send(b"not held")
        release.set()

    task = asyncio.create_task(other_task())  # its context has no block
    with writes.held():
        wire.send(b"held")
        started.set()
        await release.wait()  # the other task writes while this block is open
        assert others.writes == [b"not held"]
        assert wire.writes == []
    await task
    assert wire.writes == [b"held"]


def test_a_connection_can_take_back_what_is_held_for_it_and_only_that() -> None:
    first, second = Wire(), Wire()
    assert writes.release(first) is None, "outside a block nothing is held"
    with writes.held():
        first.send(b"a1 ")
        first.send(b"a2")
        second.send(b"b1")
        assert writes.release(first) == b"a1 a2"
        assert writes.release(first) is None
        first.send(b"a3")
    assert first.writes == [b"a3"]
    assert second.writes == [b"b1"]
