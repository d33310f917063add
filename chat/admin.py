"""Admin for help requests. State changes go through the room pages (services send the live events),
so status and assignee are read-only here. The admin escapes everything a visitor typed."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from charity.roles import helpers
from chat import services
from chat.models import HelpRequest, Message, ReadCursor
from chat.participants import user_participant


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


@admin.action(description="Delete the conversation (keep the anonymous statistic)…", permissions=["change"])
def erase_conversations(modeladmin: Any, request: HttpRequest, queryset: QuerySet[HelpRequest]) -> HttpResponse | None:
    """Erasure by staff (e.g. at a visitor's request by phone), through the visitor's own service:
    after a confirmation page, each conversation and its personal fields go, the room sees it live."""
    if "apply" in request.POST:
        by = user_participant(request.user)
        done = 0
        for help_request in queryset:
            try:
                services.help_request_erase(help_request=help_request, by=by)
                done += 1
            except services.ChatError as exc:
                messages.error(request, f"{help_request.public_id}: {exc.detail}")
        if done:
            messages.info(request, f"Deleted {done} conversation(s); their anonymous statistics stay.")
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Delete conversations",
        "queryset": queryset,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/chat/helprequest/erase.html", context)


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
    list_filter = ["status", "category"]
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
        "transcript_email_requested",
        "anonymised_at",
        "erased_at",
        "erased_by",
    ]
    inlines = [MessageInline]
    actions = [assign_to_volunteer, erase_conversations]

    @admin.display(description="Room")
    def join_room(self, help_request: HelpRequest) -> str:
        return format_html(
            '<a href="{}" target="_blank">Join the conversation live</a>', help_request.get_absolute_url()
        )


@admin.register(ReadCursor)
class ReadCursorAdmin(admin.ModelAdmin):
    list_display = ["help_request", "participant", "author_name", "up_to", "updated_at"]
    raw_id_fields = ["help_request"]
