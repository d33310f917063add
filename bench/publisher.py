"""The publisher: a separate process, as a Django view or a management command is, driven over stdin.

``python -m bench.publisher b0 ws://127.0.0.1:PORT/ws/pub`` sends frames to B0's publisher socket;
``... b1`` calls ``group_send`` on channels-redis (settings ``bench.servers.b1_settings``);
``... eventstream CHANNEL`` calls django-eventstream's ``send_event(CHANNEL, "message", ...)``
(settings ``bench.servers.eventstream_settings``); ``... project`` calls
``notifications.api.notify_role("volunteer", ...)`` (settings ``bench.servers.project_settings``,
with the run's ``DATABASE_URL`` and ``REDIS_URL``).

Commands, one JSON line each, one JSON line back:

* ``{"cmd": "burst", "start": S, "count": C}``: C messages back to back, sequence numbers S..S+C-1;
* ``{"cmd": "steady", "start": S, "count": C, "rate": R}``: C messages at R per second on a fixed
  timeline (a slow publish delays the next one, never shifts the schedule);
* ``{"cmd": "large", "start": S, "count": C, "bytes": B}``: (B0 only) frames of about B bytes, a
  dashboard snapshot's shape, for the compression measurement;
* ``{"cmd": "direct", "start": S, "count": C, "rate": R}``: the one-to-one phase, message S+i for
  one person only, the (S+i modulo N)-th of N: for the project ``notify_user()`` to the i-th
  volunteer by id (the role is exactly the connected people); for B0 the raw reference, one
  committed ``INSERT`` (psycopg, autocommit) and the frame to the i-th subscriber only;
* ``{"cmd": "close"}``.

The reply carries how long each publish call took, so a slow publisher is visible.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

MESSAGE_BYTES = 200


def pad_frame(seq: int, ts: float, size: int = MESSAGE_BYTES) -> dict[str, Any]:
    """A frame of exactly ``size`` bytes of compact JSON carrying ``seq`` and ``ts``."""
    frame: dict[str, Any] = {"seq": seq, "ts": ts, "pad": ""}
    base = len(json.dumps(frame, separators=(",", ":")))
    frame["pad"] = "x" * max(0, size - base)
    return frame


def snapshot_frame(seq: int, ts: float, size: int) -> dict[str, Any]:
    """A dashboard-like JSON snapshot of about ``size`` bytes (repetitive keys, varied numbers)."""
    rows: list[dict[str, Any]] = []
    frame: dict[str, Any] = {"seq": seq, "ts": ts, "type": "dashboard.snapshot", "rows": rows}
    index = 0
    while len(json.dumps(frame, separators=(",", ":"))) < size:
        rows.append(
            {
                "id": 10_000 + index,
                "kind": ("donation.confirmed", "shift.changed", "help_request.assigned")[index % 3],
                "amount": round(5 + (index * 7919 % 1000) / 7.0, 2),
                "donor": f"donor{index * 31 % 997}",
                "volunteers": index * 13 % 41,
                "created_at": f"2026-11-25T20:{index % 60:02d}:{(index * 7) % 60:02d}.{index * 101 % 1000000:06d}Z",
            }
        )
        index += 1
    return frame


def make_publish(mode: str, target: str) -> Callable[[dict[str, Any]], None]:
    if mode == "b0":
        from websockets.sync.client import connect

        socket = connect(target, compression=None, max_size=2**24)

        def publish_b0(frame: dict[str, Any]) -> None:
            socket.send(json.dumps(frame, separators=(",", ":")))

        return publish_b0
    if mode == "b1":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.b1_settings")
        import django

        django.setup()
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        assert layer is not None
        group_send = async_to_sync(layer.group_send)

        def publish_b1(frame: dict[str, Any]) -> None:
            group_send("bench", {"type": "bench.message", "payload": frame})

        return publish_b1
    if mode == "project":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.project_settings")
        import django

        django.setup()
        from notifications import api

        def publish_project(frame: dict[str, Any]) -> None:
            # 200 bytes of content: seq and ts in ``data``, the rest in ``body``.
            data = {"seq": frame["seq"], "ts": frame["ts"]}
            body = "x" * (MESSAGE_BYTES - len(json.dumps(data, separators=(",", ":"))))
            api.notify_role("volunteer", kind="bench.message", title="Benchmark", body=body, data=data)

        return publish_project
    if mode == "eventstream":
        # django-eventstream's send_event() to the run's channel (``target``): stored and published in Redis.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.eventstream_settings")
        import django

        django.setup()
        from django_eventstream import send_event

        def publish_eventstream(frame: dict[str, Any]) -> None:
            send_event(target, "message", frame)

        return publish_eventstream
    raise SystemExit(f"unknown mode {mode}")


def make_direct(mode: str, target: str) -> Callable[[dict[str, Any]], None]:
    """One message for one person (``{"cmd": "direct"}``): what a view's ``notify_user()`` does."""
    if mode == "b0":
        import psycopg
        from websockets.sync.client import connect

        socket = connect(target, compression=None, max_size=2**24)
        database = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
        database.execute(
            "CREATE TABLE IF NOT EXISTS bench_direct (id bigserial PRIMARY KEY, seq integer NOT NULL, "
            "body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )

        def direct_b0(frame: dict[str, Any]) -> None:
            text = json.dumps(frame, separators=(",", ":"))
            database.execute("INSERT INTO bench_direct (seq, body) VALUES (%s, %s)", [frame["seq"], text])
            socket.send(f"@{frame['seq']}|{text}")

        return direct_b0
    if mode == "project":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.project_settings")
        import django

        django.setup()
        from django.contrib.auth import get_user_model

        from notifications import api

        people = list(
            get_user_model().objects.filter(groups__name="volunteer").order_by("pk").values_list("pk", flat=True)
        )

        def direct_project(frame: dict[str, Any]) -> None:
            data = {"seq": frame["seq"], "ts": frame["ts"]}
            body = "x" * (MESSAGE_BYTES - len(json.dumps(data, separators=(",", ":"))))
            api.notify_user(
                people[frame["seq"] % len(people)], kind="bench.message", title="Benchmark", body=body, data=data
            )

        return direct_project
    raise SystemExit(f"no one-to-one mode for {mode}")


def run(mode: str, target: str) -> None:
    broadcast = make_publish(mode, target)
    direct: Callable[[dict[str, Any]], None] | None = None
    for line in sys.stdin:
        command = json.loads(line)
        name = command["cmd"]
        if name == "close":
            sys.stdout.write("{}\n")
            sys.stdout.flush()
            return
        start, count = int(command["start"]), int(command["count"])
        rate = float(command.get("rate", 0))
        if name == "direct" and direct is None:
            direct = make_direct(mode, target)
        publish = direct if name == "direct" and direct is not None else broadcast
        durations = []
        began = time.time()
        for index in range(count):
            if rate:
                delay = began + index / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            ts = time.time()
            if name == "large":
                frame = snapshot_frame(start + index, ts, int(command["bytes"]))
            else:
                frame = pad_frame(start + index, ts)
            publish(frame)
            durations.append(time.time() - ts)
        reply = {
            "first_ts": began,
            "last_ts": time.time(),
            "publish_ms_p50": round(sorted(durations)[len(durations) // 2] * 1000, 3) if durations else None,
            "publish_ms_p99": round(sorted(durations)[int(len(durations) * 0.99)] * 1000, 3) if durations else None,
            "publish_ms_max": round(max(durations) * 1000, 3) if durations else None,
        }
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
