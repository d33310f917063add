from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from charity.roles import roles_for
from notifications import selectors, services
from notifications.kinds import Channel
from notifications.preferences import preferences_state
from notifications.serializers import PreferencesIn


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The person's notifications, newest first; the page's script keeps it live."""
    assert request.user.pk is not None  # login_required
    receipts = selectors.recipient_list(user_id=int(request.user.pk))[:100]
    return render(request, "notifications/list.html", {"receipts": receipts})


def _form_data(request: HttpRequest, kinds: list[dict[str, Any]]) -> dict[str, Any]:
    """The page's form as the REST API's input, so both are checked by one serializer."""
    post = request.POST
    entries = []
    for row in kinds:
        name = str(row["kind"])
        entry: dict[str, Any] = {"kind": name}
        for channel in Channel:
            entry[channel.value] = f"{name}:{channel.value}" in post
        if not row["may_turn_off_in_app"]:
            entry.pop(Channel.IN_APP.value)
        entry["email_digest"] = post.get(f"{name}:email_mode") == "digest"
        entries.append(entry)
    start, end = post.get("quiet_start", "").strip(), post.get("quiet_end", "").strip()
    return {
        "time_zone": post.get("time_zone", ""),
        "quiet_start": start or None,
        "quiet_end": end or None,
        "kinds": entries,
    }


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """What reaches the person, where and when: a row per kind, a column per channel, quiet hours,
    and this device's Web Push (the page's script asks the browser only when a button is pressed)."""
    assert request.user.pk is not None  # login_required
    user_id = int(request.user.pk)
    state = preferences_state(user_id=user_id, roles=roles_for(request.user))
    errors: dict[str, Any] = {}
    if request.method == "POST":
        serializer = PreferencesIn(data=_form_data(request, state["kinds"]))  # type: ignore[arg-type]
        if serializer.is_valid():
            data = serializer.validated_data
            services.preferences_update(
                user_id=user_id,
                kinds=data["kinds"],
                time_zone=data["time_zone"],
                quiet=(data["quiet_start"], data["quiet_end"]),
            )
            messages.success(request, "Your notification settings are saved.")
            return redirect("notification-preferences")
        errors = dict(serializer.errors)
    return render(
        request,
        "notifications/preferences.html",
        {
            "state": state,
            "errors": errors,
            "time_zones": sorted(available_timezones()),
            "push_config": {"publicKey": state["push"]["public_key"]},  # type: ignore[index]
        },
        status=400 if errors else 200,
    )


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The Web Push service worker, from the site's root so its scope is the whole site."""
    response = render(request, "notifications/sw.js", content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
