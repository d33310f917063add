from django.contrib import admin

from notifications.models import Notification, Recipient


class RecipientInline(admin.TabularInline):
    model = Recipient
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["delivered_at", "read_at"]
    max_num = 0
    show_change_link = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "title", "priority", "audience", "recipient_count", "created_at", "expires_at"]
    list_filter = ["priority", "kind"]
    search_fields = ["title", "kind"]
    readonly_fields = ["created_at", "expires_at", "recipient_count", "audience"]
    inlines = [RecipientInline]
