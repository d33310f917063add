"""Admin for help requests. State changes go through the room pages (services send the live events),
so status and assignee are read-only here. The admin escapes everything a visitor typed."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import format_html

from charity.roles import helpers
from chat import selectors, services
from chat.models import Alternative, HelplineSettings, HelpRequest, Message, OpeningHours, ReadCursor


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=helpers(), label="Assign to")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = helpers()  # type: ignore[attr-defined]


@admin.action(description="Assign to a volunteer…")
def assign_to_volunteer(modeladmin: Any, request: HttpRequest, queryset: QuerySet[HelpRequest]) -> HttpResponse | None:
    """Through the same service as the room page: the assignee is notified, the visitor sees it live."""
    form = AssignForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        assignee = form.cleaned_data["assignee"]
        done = 0
        for help_request in queryset:
            try:
                services.help_request_assign(help_request=help_request, assignee=assignee, by=request.user)
                done += 1
            except services.ChatError as exc:
                messages.error(request, f"{help_request.name}: {exc.detail}")
        if done:
            messages.info(request, f"Assigned {done} request(s) to {assignee.get_username()}.")
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Assign help requests",
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/chat/helprequest/assign.html", context)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("created_at", "author_kind", "author_name", "body", "client_id")
    readonly_fields = fields
    show_change_link = False


@admin.register(HelpRequest)
class HelpRequestAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "status", "assigned_to", "created_at", "join_room"]
    list_filter = ["status", "category", "left_offline", "urgent"]
    search_fields = ["name", "contact", "description"]
    readonly_fields = [
        "join_room",
        "public_id",
        "status",
        "assigned_to",
        "created_at",
        "updated_at",
        "assigned_at",
        "resolved_at",
        "assignee_notified_at",
        "first_reply_at",
        "left_offline",
        "urgent",
        "urgent_reason",
    ]
    inlines = [MessageInline]
    actions = [assign_to_volunteer]

    @admin.display(description="Room")
    def join_room(self, help_request: HelpRequest) -> str:
        return format_html(
            '<a href="{}" target="_blank">Join the conversation live</a>', help_request.get_absolute_url()
        )


@admin.register(ReadCursor)
class ReadCursorAdmin(admin.ModelAdmin):
    list_display = ["help_request", "participant", "author_name", "up_to", "updated_at"]
    raw_id_fields = ["help_request"]


# -- the waiting room's configuration (saving any of it clears the cached copy: chat.apps) -----------


@admin.register(HelplineSettings)
class HelplineSettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it (made with the defaults on first visit)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        row = selectors.helpline_settings_get()
        return redirect("admin:chat_helplinesettings_change", row.pk)


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ["weekday", "opens", "closes"]
    list_filter = ["weekday"]


@admin.register(Alternative)
class AlternativeAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "phone", "url", "order", "active"]
    list_editable = ["order", "active"]
    list_filter = ["kind", "active"]
