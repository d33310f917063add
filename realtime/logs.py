"""Logging filters that keep client addresses out of the log.

Daphne's development server (``manage.py runserver``) logs each request and socket as
``HTTP GET /path 404 [0.01, 203.0.113.7:53412]``: the client's address, which this project never
writes down. :class:`DropClientAddress` replaces it with ``-`` in every record that carries one, so
the line keeps its shape. ``charity.settings.LOGGING`` puts it on ``django.channels.server``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

__all__ = ["HIDDEN", "DropClientAddress"]

#: What a client address is replaced with.
HIDDEN = "-"


class DropClientAddress(logging.Filter):
    """Blank the ``client`` field of a record's mapping arguments (daphne's ``log_action``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, Mapping) and "client" in args:
            record.args = {**args, "client": HIDDEN}
        return True
