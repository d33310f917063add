"""Work the benchmark does inside Django, against the run's own database (``DATABASE_URL``).

    python -m bench.django_tasks users --volunteers 5000 --out cookies.json
    python -m bench.django_tasks db --out db.json

``users`` creates volunteers with logged-in sessions (one user per socket, so the per-person socket
limit is never the reason a socket is refused) and writes their session cookies.

``db`` measures what needs no load client:

* reconnect flush: for people with a backlog of 1, 100 and 1,000 notifications, the SQL statements a
  socket's connect and replay execute, counted in this process through the real ASGI application
  (``WebsocketCommunicator``). The consumer runs its queries in asgiref's worker thread, where
  ``CaptureQueriesContext`` (one connection, one thread) sees nothing, so every cursor in the
  process is counted instead. Their cookies are written out so the orchestrator can time the same
  replay over a real daphne;
* ``notify_role()`` to 1,000 and 10,000 recipients on PostgreSQL: wall time (commit and
  ``group_send`` included) and statements, with ``CaptureQueriesContext`` (it runs in this thread);
  and, for contrast, ``notify_users()`` to 1,000 listed people.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.project_settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends import utils as db_utils  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

User = get_user_model()
PASSWORD = make_password("bench-password-1")


def create_users(prefix: str, count: int, group: str | None) -> list[Any]:
    """``count`` active users named ``<prefix><i>``, in ``group``, in a few bulk statements."""
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{index}", password=PASSWORD, is_active=True) for index in range(count)],
        batch_size=2000,
    )
    if group:
        role_group = Group.objects.get_or_create(name=group)[0]
        through = User.groups.through
        through.objects.bulk_create(
            [through(user_id=user.pk, group_id=role_group.pk) for user in users], batch_size=5000
        )
    return list(users)


def session_cookies(users: list[Any]) -> list[str]:
    """A logged-in session for each user (what ``login()`` stores), as ``Cookie`` header values."""
    # The first backend that can load a user, as Django's test client picks it (django-axes' comes first
    # and only guards authenticate()).
    backend = next(path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user"))
    expires = timezone.now() + timedelta(days=1)
    store = SessionStore()
    rows, cookies = [], []
    for user in users:
        key = secrets.token_hex(16)
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: backend, HASH_SESSION_KEY: user.get_session_auth_hash()}
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={key}")
    Session.objects.bulk_create(rows, batch_size=2000)
    return cookies


def command_users(args: argparse.Namespace) -> dict[str, Any]:
    users = create_users("vol", args.volunteers, "volunteer")
    return {"cookies": session_cookies(users)}


# -- counting every statement in the process -------------------------------------------------------


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self._lock = threading.Lock()
        self._original = db_utils.CursorWrapper._execute_with_wrappers  # type: ignore[attr-defined]

    def __enter__(self) -> StatementCounter:
        counter = self

        def counting(wrapper: Any, sql: str, params: Any, many: bool, executor: Any) -> Any:
            with counter._lock:
                counter.statements.append(sql)
            return counter._original(wrapper, sql, params, many, executor)

        db_utils.CursorWrapper._execute_with_wrappers = counting  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        db_utils.CursorWrapper._execute_with_wrappers = self._original  # type: ignore[attr-defined]


async def _connect_and_replay(cookie: str) -> tuple[int, float]:
    from channels.testing import WebsocketCommunicator

    from charity.asgi import application

    headers = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    started = time.perf_counter()
    connected, _ = await communicator.connect(timeout=30)
    assert connected
    replayed = 0
    while True:
        frame = json.loads(await communicator.receive_from(timeout=30))
        if frame["type"] == "notification":
            replayed += 1
        elif frame["type"] == "synced":
            break
    elapsed = time.perf_counter() - started
    await communicator.disconnect()
    return replayed, elapsed


def _short(sql: str) -> str:
    return " ".join(sql.split())[:110]


def reconnect_flush() -> dict[str, Any]:
    from notifications import api

    results: dict[str, Any] = {}
    for backlog in (1, 100, 1000):
        (user,) = create_users(f"backlog{backlog}_", 1, None)
        for index in range(backlog):
            api.notify_user(user, kind="bench.backlog", title=f"Backlog {index}", body="x" * 160, data={"i": index})
        (cookie,) = session_cookies([user])
        asyncio.run(_connect_and_replay(cookie))  # warm: imports, first connections
        with StatementCounter() as counter:
            replayed, elapsed = asyncio.run(_connect_and_replay(cookie))
        replay_sql = [sql for sql in counter.statements if "notifications_" in sql]
        results[str(backlog)] = {
            "cookie": cookie,
            "replayed": replayed,
            "in_process_seconds": round(elapsed, 4),
            "statements_total": len(counter.statements),
            "statements_replay": len(replay_sql),
            "statements": [_short(sql) for sql in counter.statements],
        }
    return results


def notify_scaling() -> dict[str, Any]:
    from notifications import api

    results: dict[str, Any] = {}
    create_users("donor_a", 1000, "donor")
    # 100,000 for the capacity model (docs/performance.md): how notify() grows with a role's size.
    for size in (1000, 10_000, 100_000):
        if size == 10_000:
            create_users("donor_b", 9000, "donor")
        if size == 100_000:
            create_users("donor_c", 90_000, "donor")
        runs = []
        for attempt in range(3):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                notification = api.notify_role("donor", kind="bench.scale", title=f"Scale {attempt}", body="x" * 160)
                elapsed = time.perf_counter() - started
            assert notification.recipient_count == size, notification.recipient_count
            runs.append((elapsed, len(queries.captured_queries), [_short(q["sql"]) for q in queries.captured_queries]))
        results[f"role_{size}"] = {
            "recipients": size,
            "seconds_median": round(statistics.median(run[0] for run in runs), 4),
            "seconds_all": [round(run[0], 4) for run in runs],
            "statements": runs[-1][1],
            "sql": runs[-1][2],
        }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('notifications_recipient'), (SELECT count(*) FROM notifications_recipient)"
        )
        size_bytes, receipts = cursor.fetchone()
    results["receipt_bytes"] = {"receipts": receipts, "bytes_per_receipt": round(size_bytes / max(receipts, 1), 1)}
    donors = list(User.objects.filter(username__startswith="donor_a").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        api.notify_users(donors, kind="bench.scale", title="Listed", body="x" * 160)
        elapsed = time.perf_counter() - started
    results["users_1000"] = {
        "recipients": len(donors),
        "seconds": round(elapsed, 4),
        "statements": len(queries.captured_queries),
        "note": "notify_users() sends one group_send per person (one user group each)",
    }
    return results


def command_db(args: argparse.Namespace) -> dict[str, Any]:
    return {"reconnect": reconnect_flush(), "notify": notify_scaling()}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    users = sub.add_parser("users")
    users.add_argument("--volunteers", type=int, required=True)
    users.add_argument("--out", type=Path, required=True)
    db = sub.add_parser("db")
    db.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = command_users(args) if args.command == "users" else command_db(args)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
