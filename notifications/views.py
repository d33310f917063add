from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from notifications.models import Recipient


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    assert request.user.pk is not None  # login_required
    receipts = (
        Recipient.objects.filter(user_id=request.user.pk)
        .select_related("notification")
        .order_by("-notification_id")[:100]
    )
    return render(request, "notifications/list.html", {"receipts": receipts})
