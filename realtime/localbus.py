"""Embedded mode across processes: every process on this machine that holds sockets gets every event.

Without ``REDIS_URL``, fan-out is in-process (``realtime.fanout.LocalSource``), so an event published by
another process (``manage.py notify``, the escalation loop, a cron job, a WSGI server beside daphne)
would reach its sockets only by replay, on their next connect. This bus closes that gap with nothing to
install or start:

* a process that holds sockets or streams (it has a fan-out hub) binds a Unix datagram socket
  ``<directory>/<pid>.sock`` and reads it in a daemon thread, idle in ``recv`` when nobody publishes;
* every embedded ``publish()`` also sends the event, as one datagram, to each other socket in the
  directory. The directory is derived from the database (so processes that share it share the bus) or
  set with ``REALTIME_LOCAL_BUS_DIR``; it is private to the user running the processes (mode 0700).

Unix datagrams on one machine are reliable and kept in order per sender, so one publisher's events
reach each server in the order they were published. A server that is down misses nothing it needs:
what was published is persisted (notifications, chat messages) and comes back by replay when its
clients reconnect. A socket file left by a process that died is removed by the next publisher that
finds nobody reading it. A server whose buffer stays full for a second (it is not reading) loses that
event for its live sockets, with an error logged; it too comes back by replay.

An in-memory SQLite database is never shared with another process, so it has no bus (test runs).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import logging
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgpack
from django.conf import settings

logger = logging.getLogger("realtime.localbus")

#: A datagram larger than this is not sent (events are small; the kernel's limit is near 200 KiB).
MAX_DATAGRAM = 200_000
#: How long a publisher waits for a server whose receive buffer is full.
SEND_TIMEOUT = 1.0
#: The receive buffer a server asks for (the kernel caps it at ``net.core.rmem_max``).
RECEIVE_BUFFER = 4 * 1024 * 1024

Deliver = Callable[[tuple[str, ...], bytes], None]


def directory() -> Path | None:
    """Where this process's server sockets live; None when the database is not shared (in memory)."""
    configured = str(getattr(settings, "REALTIME_LOCAL_BUS_DIR", "") or "")
    if configured:
        return Path(configured)
    return derived_directory(settings.DATABASES["default"], str(getattr(settings, "REDIS_PREFIX", "")))


def derived_directory(database: Mapping[str, Any], prefix: str) -> Path | None:
    """One folder per database (and key prefix), in the temporary folder, named for the user."""
    name = str(database.get("NAME") or "")
    if "sqlite" in str(database.get("ENGINE", "")) and (not name or name == ":memory:" or "mode=memory" in name):
        return None
    identity = "|".join(str(database.get(key)) for key in ("ENGINE", "HOST", "PORT", "NAME")) + f"|{prefix}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    # The user's own runtime folder where there is one (not shared with other users, unlike /tmp).
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"charity-bus-{os.getuid()}-{digest}"


def _private_directory(path: Path) -> bool:
    """Whether ``path`` is a real folder of this user that nobody else can enter. Another user may
    have made the name first (its name is predictable): then it is not used, for reading or sending."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def _socket_name(pid: int) -> str:
    return f"{pid}.sock"


# -- receiving --------------------------------------------------------------------------------------


class _Receiver:
    def __init__(self, path: Path, deliver: Deliver) -> None:
        self.path = path
        self.pid = os.getpid()
        self.deliver = deliver
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by an earlier process with this pid
        self.sock.bind(str(path))
        os.chmod(path, 0o600)
        self.thread = threading.Thread(target=self._run, name="charity-localbus", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_DATAGRAM + 1024)
            except OSError:
                return  # closed
            if not data:
                return  # shut down (stop())
            try:
                groups, payload = msgpack.unpackb(data, raw=False)
                self.deliver(tuple(groups), payload)
            except Exception:
                logger.exception("undecodable local bus datagram (%d bytes)", len(data))

    def close(self) -> None:
        if os.getpid() != self.pid:
            return  # a forked child: the socket file is the parent's
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


_receiver: _Receiver | None = None
_receiver_lock = threading.Lock()


def listen(deliver: Deliver) -> bool:
    """Receive what other processes publish (idempotent; once per process). False: no bus here."""
    global _receiver
    with _receiver_lock:
        if _receiver is not None and _receiver.pid == os.getpid():
            return True
        where = directory()
        if where is None:
            return False
        try:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _private_directory(where):
                logger.error("local bus not used: %s is not a private folder of this user", where)
                return False
            _receiver = _Receiver(where / _socket_name(os.getpid()), deliver)
        except OSError as exc:
            logger.warning("local bus unavailable in %s (%s): events from other processes come by replay", where, exc)
            return False
        atexit.register(_receiver.close)
        return True


def stop() -> None:
    """Stop receiving and remove this process's socket (tests; the process's exit does it too)."""
    global _receiver
    with _receiver_lock:
        receiver, _receiver = _receiver, None
    if receiver is not None:
        receiver.close()


# -- sending ----------------------------------------------------------------------------------------

_sender: socket.socket | None = None
_sender_lock = threading.Lock()


def _sending_socket() -> socket.socket:
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _sender.settimeout(SEND_TIMEOUT)
        return _sender


def send(groups: tuple[str, ...], payload: bytes, *, wait: bool = True) -> int:
    """Send one event to every other process's server socket; returns how many got it. Never raises.

    ``wait=False`` (from an event loop) gives up at once on a server whose buffer is full instead of
    waiting up to ``SEND_TIMEOUT``: only events nothing persisted (typing, presence) are sent so.
    """
    where = directory()
    if where is None:
        return 0
    if not _private_directory(where):
        return 0  # no server listens here, or the folder is not ours to trust
    try:
        names = os.listdir(where)
    except OSError:
        return 0
    own = _socket_name(os.getpid())
    targets = [name for name in names if name.endswith(".sock") and name != own]
    if not targets:
        return 0
    data = msgpack.packb([list(groups), payload], use_bin_type=True)
    if len(data) > MAX_DATAGRAM:
        logger.error("event too large for the local bus (%d bytes) groups=%s", len(data), ",".join(groups))
        return 0
    sock = _sending_socket()
    reached = 0
    for name in targets:
        path = str(where / name)
        try:
            if wait:
                sock.sendto(data, path)
            else:
                sock.sendto(data, socket.MSG_DONTWAIT, path)
            reached += 1
        except ConnectionRefusedError:
            with contextlib.suppress(OSError):
                os.unlink(path)  # nobody reads it: its process is gone
        except FileNotFoundError:
            pass  # its process removed it meanwhile
        except (TimeoutError, BlockingIOError):
            logger.error("local bus: %s is not reading; its sockets get this event by replay", name)
        except OSError as exc:
            if exc.errno != errno.ECONNREFUSED:
                logger.error("local bus send to %s failed: %s", name, exc)
    return reached
