from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from donations.forms import DonationForm
from donations.models import Donation, DonationStatus
from donations.services import donation_create

STEPS = [DonationStatus.RECEIVED, DonationStatus.PROCESSING, DonationStatus.CONFIRMED]


@login_required
def donate(request: HttpRequest) -> HttpResponse:
    form = DonationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        donation = donation_create(donor=request.user, amount=form.cleaned_data["amount"])
        return redirect("donation-detail", public_id=donation.public_id)
    return render(request, "donations/donate.html", {"form": form})


@login_required
def donation_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    """A donation's progress, live: the page listens for donation.* notifications about it."""
    donation = get_object_or_404(Donation, public_id=public_id, donor_id=request.user.pk)
    return render(request, "donations/detail.html", {"donation": donation, "steps": STEPS})
