from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from donations.models import Donation

pytestmark = pytest.mark.django_db


@pytest.fixture
def donor_client(make_user: Any, settings: Any) -> tuple[Client, Any]:
    settings.DONATIONS_PROCESSOR_DELAYS = ()
    donor = make_user(roles=("donor",))
    client = Client()
    client.force_login(donor)
    return client, donor


def test_donate_requires_login() -> None:
    response = Client().get("/donate/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_donation_form_creates_and_redirects_to_the_live_page(donor_client: tuple[Client, Any]) -> None:
    client, donor = donor_client
    response = client.post("/donate/", {"amount": "25.00"})
    donation = Donation.objects.get(donor=donor)
    assert response.status_code == 302 and response["Location"] == f"/donations/{donation.public_id}/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and str(donation.public_id) in page.content.decode()


@pytest.mark.parametrize("amount", ["", "0", "-5", "abc", "1000000"])
def test_bad_amount_is_a_form_error(donor_client: tuple[Client, Any], amount: str) -> None:
    client, donor = donor_client
    response = client.post("/donate/", {"amount": amount})
    assert response.status_code == 200 and response.context["form"].errors["amount"]
    assert not Donation.objects.filter(donor=donor).exists()


def test_someone_elses_donation_is_a_404(donor_client: tuple[Client, Any], make_user: Any) -> None:
    client, _ = donor_client
    other = make_user()
    from decimal import Decimal

    from donations.services import donation_create

    theirs = donation_create(donor=other, amount=Decimal("3"), simulate=False)
    assert client.get(f"/donations/{theirs.public_id}/").status_code == 404
