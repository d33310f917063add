"""Writes of donations. Each status change notifies the donor (``donation.<status>``) after commit.

The payment processor is simulated: ``donation_create`` schedules ``donation_advance`` calls on a
background thread (delays in ``DONATIONS_PROCESSOR_DELAYS``). A real processor's webhook would call
``donation_advance`` instead.
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from donations.models import Donation, DonationStatus
from notifications import api as notifications
from realtime import activity

logger = logging.getLogger("donations")

_NEXT = {DonationStatus.RECEIVED: DonationStatus.PROCESSING, DonationStatus.PROCESSING: DonationStatus.CONFIRMED}
_TITLES = {
    DonationStatus.RECEIVED: "We received your donation",
    DonationStatus.PROCESSING: "Your donation is being processed",
    DonationStatus.CONFIRMED: "Thank you! Your donation is confirmed",
    DonationStatus.FAILED: "Your donation could not be processed",
}


def _notify_status(donation: Donation) -> None:
    notifications.notify_user(
        donation.donor_id,
        kind=f"donation.{donation.status}",
        title=_TITLES[DonationStatus(donation.status)],
        body=f"{donation.amount} {donation.currency}",
        data={"donation": str(donation.public_id), "status": donation.status, "amount": str(donation.amount)},
    )


def donation_create(*, donor: Any, amount: Decimal, currency: str = "GBP", simulate: bool = True) -> Donation:
    with transaction.atomic():
        donation = Donation.objects.create(donor=donor, amount=amount, currency=currency)
        _notify_status(donation)
        if simulate:
            transaction.on_commit(lambda: _simulate_processor(donation.pk))
    return donation


def donation_advance(*, donation_id: int, to: DonationStatus | None = None) -> Donation:
    """Move a donation to its next status (or ``to``); a no-op once it is confirmed or failed."""
    with transaction.atomic():
        donation = Donation.objects.select_for_update().get(pk=donation_id)
        target = to or _NEXT.get(DonationStatus(donation.status))
        if target is None or donation.status in (DonationStatus.CONFIRMED, DonationStatus.FAILED):
            return donation
        donation.status = target
        if target == DonationStatus.CONFIRMED:
            donation.confirmed_at = timezone.now()
            activity.activity_report(
                kind="donation.confirmed", text=f"Donation of {donation.amount} {donation.currency} confirmed"
            )
        donation.save(update_fields=["status", "confirmed_at", "updated_at"])
        _notify_status(donation)
    return donation


def _simulate_processor(donation_id: int) -> None:
    delays = tuple(getattr(settings, "DONATIONS_PROCESSOR_DELAYS", (1.5, 2.5)))

    def run() -> None:
        try:
            for delay in delays:
                time.sleep(delay)
                donation_advance(donation_id=donation_id)
        except Exception:
            logger.exception("simulated processor failed donation=%s", donation_id)
        finally:
            close_old_connections()

    threading.Thread(target=run, name=f"donation-{donation_id}", daemon=True).start()
