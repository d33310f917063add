"""What happened, for whoever watches: apps report activity here, and the app that shows it listens.

The control room's activity feed (``dashboard``) connects a receiver in its ``AppConfig.ready()``;
the apps that report (chat, donations, shifts) never import it. Receivers run synchronously, inside
the reporter's transaction, so a report rolls back with the change it describes.
"""

from __future__ import annotations

from django.dispatch import Signal

#: Sent with ``kind`` (dotted, e.g. ``help_request.created``) and ``text`` (one line, shown as text).
activity_reported = Signal()


def activity_report(*, kind: str, text: str) -> None:
    """Report one line of activity (no-op when nothing listens)."""
    activity_reported.send(sender=None, kind=kind, text=text)
