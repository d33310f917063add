"""charity.broadcast: pushes after commit, retried briefly while the channel layer is away."""

from __future__ import annotations

from typing import Any

import pytest

from charity import broadcast


class FlakyLayer:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, event: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis restarting")
        self.sent.append((group, event))


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broadcast, "RETRY_DELAYS", (0.001, 0.001, 0.001, 0.001))


async def test_a_short_outage_is_ridden_out(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = FlakyLayer(failures=3)
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    await broadcast.agroup_send_now_unsafe(("a", "b"), {"type": "x.y"})
    assert layer.sent == [("a", {"type": "x.y"}), ("b", {"type": "x.y"})]


async def test_a_long_outage_gives_up_quietly_and_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = FlakyLayer(failures=10**6)
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: layer)
    await broadcast.agroup_send_now_unsafe(tuple(f"g{i}" for i in range(100)), {"type": "x.y"})
    # Five tries for the first group, then one each: it does not retry a hundred times over.
    assert layer.failures == 10**6 - 5 - 99
