"""Admin for help requests. State changes go through the room pages (services send the live events),
so status and assignee are read-only here. The admin escapes everything a visitor typed."""

from django.contrib import admin

from chat.models import HelpRequest, Message, ReadCursor


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
    list_display = ["name", "category", "status", "assigned_to", "created_at", "public_id"]
    list_filter = ["status", "category"]
    search_fields = ["name", "contact", "description"]
    readonly_fields = [
        "public_id",
        "status",
        "assigned_to",
        "visitor_session_key",
        "created_at",
        "updated_at",
        "assigned_at",
        "resolved_at",
        "assignee_notified_at",
    ]
    inlines = [MessageInline]


@admin.register(ReadCursor)
class ReadCursorAdmin(admin.ModelAdmin):
    list_display = ["help_request", "participant", "author_name", "up_to", "updated_at"]
    raw_id_fields = ["help_request"]
