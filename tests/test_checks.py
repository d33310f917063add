"""realtime/checks.py: the proxy and /metrics settings are checked at startup, not per request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parent.parent


def ids(*, deploy: bool = False) -> list[str]:
    return [message.id or "" for message in checks.run_checks(include_deployment_checks=deploy)]


def test_an_invalid_trusted_proxy_entry_fails_manage_py_check(settings: Any) -> None:
    settings.REALTIME_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/33"]
    with pytest.raises(SystemCheckError, match=r"realtime\.E001.*10\.0\.0\.0/33"):
        call_command("check")
    settings.REALTIME_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8", "::1"]
    call_command("check")


def test_an_invalid_metrics_allow_list_entry_is_an_error(settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = ["prometheus.internal"]
    assert "realtime.E002" in ids()


@pytest.mark.parametrize(
    ("debug", "bind", "proxies", "warned"),
    [
        (False, "127.0.0.1", [], True),
        (False, "::1", [], True),
        (False, "localhost", [], True),
        (False, "127.0.0.1", ["127.0.0.1"], False),
        (False, "0.0.0.0", [], False),  # daphne faces the clients: their addresses are real
        (True, "127.0.0.1", [], False),
    ],
)
def test_behind_a_proxy_with_no_trusted_proxy_is_a_deploy_warning(
    settings: Any, debug: bool, bind: str, proxies: list[str], warned: bool
) -> None:
    settings.DEBUG = debug
    settings.REALTIME_BIND = bind
    settings.REALTIME_TRUSTED_PROXIES = proxies
    assert ("realtime.W001" in ids(deploy=True)) is warned


def test_daphne_refuses_to_start_with_an_invalid_proxy_entry() -> None:
    """The server stops before it listens, naming the setting, instead of serving with a bad list."""
    environ = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    environ.update(DEBUG="1", REALTIME_TRUSTED_PROXIES="10.0.0.0/8,nginx")
    command = [sys.executable, "-m", "realtime.server", "-b", "127.0.0.1", "-p", "0", "charity.asgi:application"]
    try:
        result = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("daphne started serving with an invalid REALTIME_TRUSTED_PROXIES")
    assert result.returncode != 0
    assert "realtime.E001" in result.stderr and "'nginx'" in result.stderr
