"""The notification kinds donations sends (notifications/kinds.py): one per status of a donation."""

from __future__ import annotations

from notifications.kinds import Channel, register_kind

register_kind(
    "donation.received",
    label="Donation received",
    description="We have your donation and are about to process it.",
    roles={"donor"},
    defaults={Channel.IN_APP},
)
register_kind(
    "donation.processing",
    label="Donation processing",
    description="Your donation is with the payment processor.",
    roles={"donor"},
    defaults={Channel.IN_APP},
)
register_kind(
    "donation.confirmed",
    label="Donation confirmed",
    description="Your donation went through: a thank-you and your receipt.",
    roles={"donor"},
    defaults={Channel.IN_APP, Channel.EMAIL},
    email_after=0,
)
register_kind(
    "donation.failed",
    label="Donation failed",
    description="Your donation could not be processed.",
    roles={"donor"},
    defaults={Channel.IN_APP, Channel.EMAIL},
    email_after=0,
)
