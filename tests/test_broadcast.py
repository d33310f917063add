"""realtime.publish and realtime.fanout's publishing: after commit, one round trip, retried briefly."""

from __future__ import annotations

import logging

import pytest

from realtime import fanout, publish


class FlakyTransport:
    """Stands in for the Redis round trip: fails ``failures`` times, then records what it sends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.sent: list[tuple[tuple[str, ...], dict[str, object]]] = []

    def send(self, groups: tuple[str, ...], payload: bytes) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis restarting")
        self.sent.append((groups, fanout.decode(payload)))

    async def asend(self, groups: tuple[str, ...], payload: bytes) -> None:
        self.send(groups, payload)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PUBLISH_RETRY_DELAYS", (0.001, 0.001, 0.001, 0.001))


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> FlakyTransport:
    flaky = FlakyTransport(failures=0)
    monkeypatch.setattr(fanout, "_send", flaky.send)
    monkeypatch.setattr(fanout, "_asend", flaky.asend)
    return flaky


async def test_a_short_outage_is_ridden_out(transport: FlakyTransport) -> None:
    transport.failures = 3
    await publish.agroup_send_now_unsafe(("a", "b"), {"type": "x.y"})
    assert transport.sent == [(("a", "b"), {"type": "x.y"})]


def test_a_short_outage_is_ridden_out_from_sync_code(transport: FlakyTransport) -> None:
    transport.failures = 4
    publish.group_send_now_unsafe(("a",), {"type": "x.y", "n": 1})
    assert transport.sent == [(("a",), {"type": "x.y", "n": 1})]


async def test_a_long_outage_gives_up_quietly_and_fast(
    transport: FlakyTransport, caplog: pytest.LogCaptureFixture
) -> None:
    transport.failures = 10**6
    with caplog.at_level(logging.ERROR, logger="realtime.fanout"):
        await publish.agroup_send_now_unsafe(tuple(f"g{i}" for i in range(100)), {"type": "x.y"})
    # A hundred groups go in one round trip, so they share five tries in all, not five each.
    assert transport.calls == 5
    assert [record.getMessage() for record in caplog.records] == [
        "publish failed groups=" + ",".join(f"g{i}" for i in range(100)) + " type=x.y"
    ]


@pytest.mark.parametrize("bad", ["", "a b", "x" * 100, "é", "user/1"])
def test_bad_group_names_are_refused_before_anything_is_sent(transport: FlakyTransport, bad: str) -> None:
    with pytest.raises(ValueError, match="Invalid group name"):
        fanout.publish(["ok", bad], {"type": "x.y"})
    assert transport.calls == 0


def test_events_redis_could_not_carry_are_refused_in_every_mode(transport: FlakyTransport) -> None:
    with pytest.raises(TypeError):
        fanout.publish(["ok"], {"type": "x.y", "when": object()})
    assert transport.calls == 0
