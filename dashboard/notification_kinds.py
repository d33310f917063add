"""The notification kinds the control room sends (notifications/kinds.py): announcements, the
demo's welcome and impact updates."""

from __future__ import annotations

from dashboard.models import AnnouncementKind
from notifications.kinds import Channel, register_kind

register_kind(
    AnnouncementKind.SYSTEM_ALERT.value,
    label="Announcements",
    description="News and alerts from the charity's staff.",
    defaults={Channel.IN_APP},
)
register_kind(
    AnnouncementKind.MAINTENANCE.value,
    label="Maintenance",
    description="When the site will be briefly unavailable.",
    defaults={Channel.IN_APP},
)
register_kind(
    AnnouncementKind.EMERGENCY.value,
    label="Emergencies",
    description="Urgent alerts for everyone's safety. Always shown on the site, and emailed when unseen.",
    # Email: the escalation of critical notifications already emails whoever has not seen it.
    defaults={Channel.IN_APP, Channel.PUSH},
    critical=True,
)
register_kind(
    "system.welcome",
    label="Welcome",
    description="A hello when live updates start.",
    defaults={Channel.IN_APP},
)
register_kind(
    "impact.update",
    label="Impact updates",
    description="What your gifts achieved.",
    roles={"donor"},
    defaults={Channel.IN_APP},
    email_after=24 * 3600,
)
