"""Settings of the test suite (pyproject's ``DJANGO_SETTINGS_MODULE``) and of the type checker.

The project's own settings, with what a local run needs said explicitly: ``DEBUG`` is off unless
set (charity/settings.py), and with it off ``SECRET_KEY`` and ``EMAIL_BACKEND`` are required. The
values go into the environment before ``charity.settings`` reads it, so they reach every
subprocess the tests start too; a value already in the environment wins (the daphne servers the
tests start run with ``DEBUG=0``, see ``tests/conftest.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "1")

from charity.settings import *  # noqa: F403

CHAT_SWEEP_IN_PROCESS = False  # tests sweep explicitly, with their own clock (chat.sweep.sweep(now=...))
