"""The control room in the Django admin: the live dashboard on the index page, announcements,
and the activity feed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from dashboard.models import Activity, Announcement, AnnouncementKind
from dashboard.selectors import audience_sizes
from dashboard.services import announcement_send

# DRF's token admin lists every API key in plain text: a replayable credential of its account on a
# page. Keys are made with `manage.py drf_create_token <username>`, which prints one once.
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    """Adding an announcement sends it. Sent ones are a record and cannot be changed."""

    list_display = ["title", "kind", "audience", "priority", "reached", "sent_by", "created_at"]
    list_filter = ["kind", "audience", "priority"]
    fields = ["kind", "audience", "title", "body"]
    change_form_template = "admin/dashboard/announcement/change_form.html"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "audience_sizes": audience_sizes()}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Announcement, form: Any, change: bool) -> None:
        sent = announcement_send(
            audience=obj.audience, title=obj.title, body=obj.body, kind=AnnouncementKind(obj.kind), by=request.user
        )
        # The admin goes on to save `obj`; hand it the saved row so nothing is written twice.
        obj.pk, obj.priority, obj.reached, obj.notification_id = (
            sent.pk,
            sent.priority,
            sent.reached,
            sent.notification_id,
        )
        obj._state.adding = False
        messages.info(request, f"Sent to {sent.reached} people.")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no relations to save; the row was written by announcement_send


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "text"]
    list_filter = ["kind"]
    readonly_fields = ["created_at", "kind", "text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
