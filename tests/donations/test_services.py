from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dashboard.models import Activity
from donations.models import DonationStatus
from donations.services import donation_advance, donation_create
from notifications.models import Notification, Recipient

pytestmark = pytest.mark.django_db


def kinds_for(user: Any) -> list[str]:
    return list(
        Recipient.objects.filter(user=user).order_by("notification_id").values_list("notification__kind", flat=True)
    )


def test_create_notifies_received_and_advance_walks_to_confirmed(make_user: Any) -> None:
    donor = make_user(roles=("donor",))
    donation = donation_create(donor=donor, amount=Decimal("20"), simulate=False)
    assert donation.status == DonationStatus.RECEIVED
    donation_advance(donation_id=donation.pk)
    confirmed = donation_advance(donation_id=donation.pk)
    assert confirmed.status == DonationStatus.CONFIRMED and confirmed.confirmed_at is not None
    assert kinds_for(donor) == ["donation.received", "donation.processing", "donation.confirmed"]
    data = Notification.objects.filter(kind="donation.confirmed").get().data
    assert data == {"donation": str(donation.public_id), "status": "confirmed", "amount": "20.00"}
    assert Activity.objects.filter(kind="donation.confirmed").count() == 1


def test_advance_after_confirmed_changes_nothing(make_user: Any) -> None:
    donor = make_user()
    donation = donation_create(donor=donor, amount=Decimal("5"), simulate=False)
    donation_advance(donation_id=donation.pk, to=DonationStatus.CONFIRMED)
    again = donation_advance(donation_id=donation.pk)
    assert again.status == DonationStatus.CONFIRMED
    assert kinds_for(donor) == ["donation.received", "donation.confirmed"]


# PostgreSQL only: SQLite's in-memory test database (shared cache) answers a reader and the
# processor's thread with "table is locked" instead of waiting, which says nothing about the code.
@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
def test_simulated_processor_confirms_after_commit(make_user: Any, settings: Any) -> None:
    import time

    settings.DONATIONS_PROCESSOR_DELAYS = (0.05, 0.05)
    donor = make_user()
    donation = donation_create(donor=donor, amount=Decimal("7.50"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        donation.refresh_from_db()
        if donation.status == DonationStatus.CONFIRMED:
            break
        time.sleep(0.05)
    assert donation.status == DonationStatus.CONFIRMED
    assert kinds_for(donor) == ["donation.received", "donation.processing", "donation.confirmed"]
