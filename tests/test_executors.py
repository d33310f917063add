"""realtime.executors: the connect-time reads' thread pool and its connection checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError, connection

from realtime import executors

pytestmark = pytest.mark.django_db


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time ``_read`` runs Django's request-boundary checks; a thread that never checked before."""
    ran: list[str] = []
    monkeypatch.setattr(executors, "close_old_connections", lambda: ran.append("checked"))
    monkeypatch.setattr(executors, "_checked", type(executors._checked)())
    return ran


def test_the_checks_run_at_most_once_per_interval_per_thread(
    checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 100.2, 100.9, 101.1, 101.2])
    monkeypatch.setattr(executors, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    for _ in range(5):
        assert executors._read(lambda: 1) == 1
    assert checks == ["checked", "checked"]  # at 100.0 and 101.1


@pytest.mark.django_db(transaction=True)  # outside a transaction, as on the pool's threads
def test_a_read_that_finds_its_connection_gone_runs_once_more(checks: list[str], monkeypatch: Any) -> None:
    closed: list[bool] = []
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    attempts: list[int] = []

    def read() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return "rows"

    assert executors._read(read) == "rows"
    assert (len(attempts), closed[:1]) == (2, [True])


@pytest.mark.django_db(transaction=True)
def test_a_read_failing_twice_raises(checks: list[str], monkeypatch: Any) -> None:
    monkeypatch.setattr(connection, "close", lambda: None)
    monkeypatch.setattr(connection, "is_usable", lambda: False)

    def read() -> None:
        raise OperationalError("no server")

    with pytest.raises(OperationalError):
        executors._read(read)


def test_with_conn_max_age_zero_the_connection_closes_after_every_read(checks: list[str], monkeypatch: Any) -> None:
    closed: list[bool] = []
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    executors._read(lambda: None)
    executors._read(lambda: None)
    assert closed == [True, True]
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    executors._read(lambda: None)
    assert closed == [True, True]


def test_inside_a_transaction_a_failed_read_is_not_repeated(checks: list[str]) -> None:
    attempts: list[int] = []

    def read() -> None:
        attempts.append(1)
        raise OperationalError("deadlock")

    with pytest.raises(OperationalError):
        executors._read(read)  # the test's transaction: its work so far would be lost
    assert attempts == [1]


@pytest.mark.django_db(transaction=True)
def test_a_statement_that_fails_on_a_live_connection_is_not_repeated(checks: list[str]) -> None:
    """A timeout or "too many clients" is not a connection gone: a storm would only double it."""
    attempts: list[int] = []

    def read() -> None:
        attempts.append(1)
        connection.ensure_connection()  # the statement ran on a connection that is there
        raise OperationalError("canceling statement due to statement timeout")

    with pytest.raises(OperationalError):
        executors._read(read)
    assert attempts == [1]
