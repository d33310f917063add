"""Settings of the daphne servers and publishers the fault tests start: the project's own, plus one
setting and a diagnostic hook.

Every test socket comes from 127.0.0.1, and these tests reconnect hundreds of times on purpose; the
per-address backstop is lifted as the suite's ``_suite_wide_ip_limit`` fixture lifts it in-process
(``tests/test_limits.py`` tests it on its own).

Nothing else differs from ``charity.settings``: same fan-out, heartbeat, limits, database.
"""

from __future__ import annotations

import faulthandler
import signal

from charity.settings import *  # noqa: F403

REALTIME_CONNECTIONS_PER_IP = 1_000_000
# The publisher posts into a few rooms far faster than people write; the room rate is tested on its own.
CHAT_ROOM_MESSAGES_PER_MINUTE = 1_000_000

# Diagnostics: a test that finds clients still missing messages sends SIGUSR2 to the servers, which
# then print every thread's stack to their logs (in the test's tmp_path).
faulthandler.register(signal.SIGUSR2, all_threads=True)
