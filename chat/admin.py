"""Admin for help requests. State changes go through the room pages (services send the live events),
so status and assignee are read-only here. The admin escapes everything a visitor typed.

Opening a request's page, a message's page or a list of messages is a read of those conversations:
each is recorded in the audit trail (``chat.audit``, channel ``admin``). Staff redact messages from
the message list (an action asking for a reason) and export a request's data from its page
(``chat.exports``, channel ``export``). Audit entries are read-only for everyone, superusers included,
and shown only with ``chat.view_accessrecord``.
"""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from charity.roles import helpers
from chat import audit, selectors, services
from chat.app_settings import app_settings
from chat.exports import help_request_export
from chat.models import (
    MAX_REASON_CHARS,
    AccessAction,
    AccessChannel,
    AccessRecord,
    Alternative,
    CannedReply,
    HelperLimit,
    HelplineSettings,
    HelpRequest,
    Message,
    OpeningHours,
    ReadCursor,
    RiskTerm,
    VisitorBlock,
)
from chat.participants import user_participant


def _audit_admin_read(request: HttpRequest, help_request_ids: set[int]) -> None:
    """The admin showed these requests' conversations to the logged-in staff member."""
    participant = user_participant(request.user)
    for help_request_id in sorted(help_request_ids):
        audit.access_read(
            help_request_id=help_request_id, participant=participant, user=request.user, channel=AccessChannel.ADMIN
        )


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
    fields = ("created_at", "author_kind", "author_name", "body", "redacted_at", "client_id")
    readonly_fields = fields
    show_change_link = True


class AccessRecordInline(admin.TabularInline):
    """Who opened, redacted or exported this conversation (``chat.view_accessrecord`` only)."""

    model = AccessRecord
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("at", "username", "user", "channel", "action", "message_number", "reason")
    readonly_fields = fields
    verbose_name = "audit entry"
    verbose_name_plural = "audit trail: who read, redacted or exported this conversation"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return audit.may_view_audit(request.user)


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
        "export",
        "transcript_email_requested",
        "anonymised_at",
        "erased_at",
        "erased_by",
        "first_reply_at",
        "left_offline",
        "urgent",
        "urgent_reason",
        "queued_at",
    ]
    exclude = ["address_check"]
    inlines = [MessageInline, AccessRecordInline]
    actions = [assign_to_volunteer, erase_conversations, block_visitor]

    @admin.display(description="Room")
    def join_room(self, help_request: HelpRequest) -> str:
        return format_html(
            '<a href="{}" target="_blank">Join the conversation live</a>', help_request.get_absolute_url()
        )

    @admin.display(description="Subject access export")
    def export(self, help_request: HelpRequest) -> str:
        url = reverse("admin:chat_helprequest_export", args=[help_request.pk])
        return format_html('<a href="{}">Download everything held about this request (JSON)</a>', url)

    def get_urls(self) -> list[Any]:
        export = self.admin_site.admin_view(self.export_view)
        return [path("<path:object_id>/export/", export, name="chat_helprequest_export"), *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            original = getattr(response, "context_data", {}).get("original")
            if original is not None:
                _audit_admin_read(request, {original.pk})
        return response

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Everything held about one request, as a JSON attachment (a subject access request).
        Staff who may view both the requests and the audit trail only; the export is audited."""
        if not audit.may_export(request.user):
            raise PermissionDenied("Exporting needs the permissions to view help requests and audit entries.")
        help_request = self.get_object(request, object_id)
        if help_request is None:
            raise Http404("No such help request.")
        audit.access_record(
            help_request_id=help_request.pk, user=request.user, channel=AccessChannel.EXPORT, action=AccessAction.EXPORT
        )
        data = help_request_export(help_request=help_request)
        response = HttpResponse(
            json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="help-request-{help_request.public_id}.json"'
        add_never_cache_headers(response)  # Cache-Control: no-store (and no-cache, must-revalidate)
        return response


class RedactForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the text is removed; kept in the audit trail. Do not repeat the removed text.",
    )


@admin.action(description="Remove the text of the selected messages (redact)…", permissions=["redact"])
def redact_messages(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Message]) -> HttpResponse | None:
    """Through the service the REST endpoint uses: the text is gone, the room sees it live."""
    form = RedactForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        done = 0
        for message in queryset:
            try:
                services.message_redact(
                    message=message, by=request.user, reason=form.cleaned_data["reason"], channel=AccessChannel.ADMIN
                )
                done += 1
            except services.ChatError as exc:
                messages.error(request, f"Message {message.pk}: {exc.detail}")
        if done:
            messages.info(request, f"Removed the text of {done} message(s).")
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Remove the text of messages",
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/chat/message/redact.html", context)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages, read-only; the one change is redaction (an action with a reason)."""

    list_display = ["id", "request_id", "created_at", "author_kind", "author_name", "body", "redacted_at"]
    list_filter = ["author_kind", ("redacted_at", admin.EmptyFieldListFilter)]
    search_fields = ["=help_request__public_id"]
    search_help_text = "The help request's public id, exactly."
    fields = ("help_request", "created_at", "author_kind", "author_name", "body", "redacted_at", "client_id")
    readonly_fields = fields
    list_select_related = ["help_request"]
    actions = [redact_messages]

    @admin.display(description="Help request")
    def request_id(self, message: Message) -> str:
        return str(message.help_request.public_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_redact_permission(self, request: HttpRequest) -> bool:
        return audit.may_redact(request.user)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Message], search_term: str) -> Any:
        try:
            return super().get_search_results(request, queryset, search_term)
        except (ValidationError, ValueError):  # a malformed id matches nothing, rather than an error page
            return queryset.none(), False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if request.method == "GET" and changelist is not None:
            _audit_admin_read(request, {message.help_request_id for message in changelist.result_list})
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        original = getattr(response, "context_data", {}).get("original")
        if request.method == "GET" and original is not None:
            _audit_admin_read(request, {original.help_request_id})
        return response


@admin.register(AccessRecord)
class AccessRecordAdmin(admin.ModelAdmin):
    """The audit trail, per person (filter by user) or per request (search its public id). Read-only
    for everyone: no one adds, changes or deletes an entry here (the retention purge does)."""

    list_display = ["at", "username", "channel", "action", "request_id", "message_number", "reason"]
    list_filter = [("user", admin.RelatedOnlyFieldListFilter), "channel", "action", ("at", admin.DateFieldListFilter)]
    search_fields = ["help_request__public_id", "username"]
    search_help_text = "A help request's public id, or a username."
    list_select_related = ["help_request"]
    date_hierarchy = "at"
    fields = ("at", "username", "user", "help_request", "channel", "action", "message_number", "reason")
    readonly_fields = fields

    @admin.display(description="Help request")
    def request_id(self, entry: AccessRecord) -> str:
        return str(entry.help_request.public_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return audit.may_view_audit(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return audit.may_view_audit(request.user)


@admin.register(ReadCursor)
class ReadCursorAdmin(admin.ModelAdmin):
    list_display = ["help_request", "participant", "author_name", "up_to", "updated_at"]
    raw_id_fields = ["help_request"]


@admin.register(RiskTerm)
class RiskTermAdmin(admin.ModelAdmin):
    """The risk list (chat.triage). The shipped terms are a starting point for the safeguarding lead."""

    list_display = ["phrase", "severity", "active", "note", "updated_at"]
    list_editable = ["severity", "active"]
    list_filter = ["severity", "active"]
    search_fields = ["phrase", "note"]


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Replies helpers insert in a room by typing ``/`` or from the list, and edit before sending."""

    list_display = ["title", "category", "language", "active", "updated_at"]
    list_filter = ["active", "category", "language"]
    search_fields = ["title", "text"]


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
