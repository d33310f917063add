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
from chat.app_settings import app_settings
from chat.models import HelperLimit, HelpRequest, Message, ReadCursor, VisitorBlock


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


class BlockForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=1000, help_text="Required; seen by staff only."
    )
    days = forms.IntegerField(min_value=1, max_value=365, label="Block for (days)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = app_settings.BLOCK_DAYS


@admin.action(description="Block the visitor (abuse)…")
def block_visitor(modeladmin: Any, request: HttpRequest, queryset: QuerySet[HelpRequest]) -> HttpResponse | None:
    """Through ``services.visitor_block``: the request closes, the visitor's device and address are
    blocked for the chosen days; they see only the neutral text with the alternatives."""
    form = BlockForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        for help_request in queryset:
            try:
                services.visitor_block(
                    help_request=help_request,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    days=form.cleaned_data["days"],
                )
            except services.ChatError as exc:
                messages.error(request, f"{help_request.name}: {exc.detail}")
            else:
                messages.info(request, f"Blocked the visitor of {help_request.name}'s request.")
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Block visitors",
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/chat/helprequest/block.html", context)


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
        "queued_at",
    ]
    exclude = ["address_check"]
    inlines = [MessageInline]
    actions = [assign_to_volunteer, block_visitor]

    @admin.display(description="Room")
    def join_room(self, help_request: HelpRequest) -> str:
        return format_html(
            '<a href="{}" target="_blank">Join the conversation live</a>', help_request.get_absolute_url()
        )


@admin.register(ReadCursor)
class ReadCursorAdmin(admin.ModelAdmin):
    list_display = ["help_request", "participant", "author_name", "up_to", "updated_at"]
    raw_id_fields = ["help_request"]


@admin.register(HelperLimit)
class HelperLimitAdmin(admin.ModelAdmin):
    """A person's own cap on active conversations (over ``CHAT_MAX_ACTIVE_PER_HELPER``)."""

    list_display = ["user", "max_active", "note"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]

    def save_model(self, request: HttpRequest, obj: HelperLimit, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.capacity_announce(obj.user_id)  # their open queue pages learn the new limit

    def delete_model(self, request: HttpRequest, obj: HelperLimit) -> None:
        user_id = obj.user_id
        super().delete_model(request, obj)
        services.capacity_announce(user_id)


@admin.register(VisitorBlock)
class VisitorBlockAdmin(admin.ModelAdmin):
    """Blocks are made from a help request (its action); here they are read, shortened or lifted."""

    list_display = ["created_at", "expires_at", "created_by", "help_request", "reason"]
    fields = ["help_request", "reason", "created_by", "created_at", "expires_at"]
    readonly_fields = ["help_request", "reason", "created_by", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
