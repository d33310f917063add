from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from shifts.models import Shift


@login_required
def my_shifts(request: HttpRequest) -> HttpResponse:
    """The volunteer's upcoming shifts; the page reloads its list when a shift.changed arrives."""
    assert request.user.pk is not None  # login_required
    shifts = Shift.objects.filter(volunteers__pk=request.user.pk, ends_at__gte=timezone.now()).order_by("starts_at")
    return render(request, "shifts/mine.html", {"shifts": shifts})
