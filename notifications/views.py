from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from notifications import selectors


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The person's notifications, newest first; the page's script keeps it live."""
    assert request.user.pk is not None  # login_required
    receipts = selectors.recipient_list(user_id=int(request.user.pk))[:100]
    return render(request, "notifications/list.html", {"receipts": receipts})
