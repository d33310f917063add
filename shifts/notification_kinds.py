"""The notification kinds shifts sends (notifications/kinds.py)."""

from __future__ import annotations

from notifications.kinds import Channel, register_kind

register_kind(
    "shift.changed",
    label="Shift changes",
    description="A shift you signed up for moved, changed or was cancelled.",
    roles={"volunteer"},
    defaults={Channel.IN_APP, Channel.EMAIL},
    email_after=15 * 60,
)
