"""The notification kinds the help-request chat sends (notifications/kinds.py).

Every one of them is sensitive: a push or an email says only that something happened, never a
visitor's name or words (the notification in the site's bell still does, for the helper).
"""

from __future__ import annotations

from notifications.kinds import Channel, register_kind

HELPERS = {"volunteer", "staff"}

register_kind(
    "help_request.assigned",
    label="Help requests given to you",
    description="A help request was assigned or handed over to you.",
    roles=HELPERS,
    defaults={Channel.IN_APP, Channel.PUSH},
    sensitive=True,
    push_text="A help request is now yours",
    email_after=10 * 60,
)
register_kind(
    "help_request.message",
    label="Messages in your help requests",
    description="A visitor wrote in a conversation you help with while you were not in it.",
    roles=HELPERS,
    defaults={Channel.IN_APP, Channel.PUSH},
    sensitive=True,
    push_text="New message in a help request",
    email_after=10 * 60,
)
register_kind(
    "help_request.unanswered",
    label="A conversation you took is waiting for your reply",
    roles=HELPERS,
    defaults={Channel.IN_APP, Channel.PUSH},
    sensitive=True,
    push_text="A visitor is waiting for your reply",
    email_after=24 * 3600,
)
register_kind(
    "help_request.idle",
    label="A visitor went quiet",
    description="A suggestion to close a conversation whose visitor stopped writing.",
    roles=HELPERS,
    sensitive=True,
    push_text="A conversation has gone quiet",
    email_after=24 * 3600,
)
register_kind(
    "help_request.requeued",
    label="Requests back in the queue",
    description="A claimed request went back to the queue because its helper did not reply.",
    roles={"staff"},
    defaults={Channel.IN_APP},
    sensitive=True,
    push_text="A help request went back to the queue",
)
register_kind(
    "help_request.support",
    label="A helper asks for support",
    roles={"staff"},
    critical=True,
    defaults={Channel.IN_APP, Channel.PUSH, Channel.EMAIL},
    sensitive=True,
    push_text="A helper asks for support",
    email_after=5 * 60,
)
register_kind(
    "help_request.urgent",
    label="Urgent help requests",
    description="A request matched the risk list, or a helper flagged it urgent.",
    roles={"staff"},
    critical=True,
    defaults={Channel.IN_APP, Channel.PUSH, Channel.EMAIL},
    sensitive=True,
    push_text="An urgent help request is waiting",
    email_after=5 * 60,
)
register_kind(
    "help_request.debrief",
    label="Debrief requests",
    description="A helper asks for a debrief after a difficult conversation.",
    roles={"staff"},
    defaults={Channel.IN_APP, Channel.PUSH, Channel.EMAIL},
    sensitive=True,
    push_text="A helper asks for a debrief",
    email_after=30 * 60,
)
