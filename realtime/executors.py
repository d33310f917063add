"""The worker threads that read the database for connecting sockets.

A connect's reads (its session, user and roles; then its replay) do not depend on the thread they
run on, so they do not queue on asgiref's one thread-sensitive thread behind every other socket's
database work (in a reconnect storm, every other socket's). They get a small pool of their own
(``REALTIME_CONNECT_THREADS``) rather than the loop's default one: a few threads overlap the round
trips to PostgreSQL; more would contend for the GIL with the event loop, and each holds a database
connection of its own (``database_sync_to_async`` closes it past ``CONN_MAX_AGE``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from realtime.conf import app_settings

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def connect_reads() -> ThreadPoolExecutor:
    """The process's pool for connect-time reads, made on first use."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=app_settings.CONNECT_THREADS, thread_name_prefix="connect-reads")
        return _pool
