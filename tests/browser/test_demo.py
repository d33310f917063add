"""The README's demo, as written, on the embedded default: SQLite, no Redis, `manage.py runserver`.

The first thing the README suggests: log in as vera and, in a terminal, run `manage.py notify --role
volunteer ...`. That command is another process; its notification must reach vera's open page live
(``realtime.localbus``), not only on her next reconnect.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import log_in, wait_live
from tests.conftest import ROOT, _free_port, _port_open

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


def demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo's environment: none of the scale-out variables, a fresh SQLite file, DEBUG on."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "REALTIME_LOCAL_BUS_DIR", "SECRET_KEY"}
    }
    env.update({"DEBUG": "1", "SQLITE_PATH": str(tmp_path / "db.sqlite3"), "PYTHONUNBUFFERED": "1"})
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=120)


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[str]:
    """`make demo`'s steps: migrate, seed, runserver (the escalation loop is not needed here)."""
    env = demo_env(tmp_path)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    port = _free_port()
    log = (tmp_path / "runserver.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # runserver's autoreloader has a child: stop the whole group
    )
    try:
        deadline = time.monotonic() + 60
        while not _port_open("127.0.0.1", port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "runserver.log").read_text()[-4000:])
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


async def test_readme_notify_from_a_terminal_shows_a_toast_on_volunteer_page(
    demo_site: str, new_context: Any, tmp_path: Path
) -> None:
    page = await (await new_context()).new_page()
    await log_in(page, demo_site, "vera", "charity-demo")
    await wait_live(page)

    # As the README says, in another terminal (another process, the same database).
    command = ["notify", "--role", "volunteer", "--kind", "shift.changed", "--title", "Saturday moved"]
    manage(demo_env(tmp_path), *command)

    toast = page.locator("#rt-toasts .toast", has_text="Saturday moved")
    await toast.wait_for(timeout=5_000)
