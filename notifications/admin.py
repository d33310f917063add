"""Notifications in the admin: what was sent, and per person whether it was delivered, read,
expired or escalated; and the role-wide defaults of notification preferences."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from notifications.kinds import kinds_all
from notifications.models import Notification, NotificationPreference, Recipient


class RecipientInline(admin.TabularInline):
    model = Recipient
    extra = 0
    raw_id_fields = ["user"]
    readonly_fields = ["user", "delivered_at", "read_at", "escalated_at", "email_outcome"]
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Recipient]:
        # Joined with the user: one query, and no row for a user deleted meanwhile (models.Recipient).
        return super().get_queryset(request).select_related("user")


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Expired"), ("no", "Live")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        field = "expires_at" if queryset.model is Notification else "notification__expires_at"
        if self.value() == "yes":
            return queryset.filter(**{f"{field}__lte": timezone.now()})
        if self.value() == "no":
            return queryset.filter(**{f"{field}__gt": timezone.now()})
        return queryset


def _null_filter(field: str, title: str, yes: str, no: str) -> type[admin.SimpleListFilter]:
    class Filter(admin.SimpleListFilter):
        parameter_name = field.removesuffix("_at")

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            return [("yes", yes), ("no", no)]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            if self.value() in ("yes", "no"):
                return queryset.filter(**{f"{field}__isnull": self.value() == "no"})
            return queryset

    Filter.title = title
    return Filter


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "title", "priority", "audience", "recipient_count", "created_at", "expires_at"]
    list_filter = ["priority", "kind", ExpiredFilter]
    search_fields = ["title", "kind"]
    readonly_fields = ["created_at", "expires_at", "recipient_count", "audience"]
    inlines = [RecipientInline]


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    """One row per person per notification: the place to see who did not get an alert."""

    list_display = ["notification", "user", "priority", "delivered_at", "read_at", "escalated_at", "email_outcome"]
    list_filter = [
        "notification__kind",
        "notification__priority",
        _null_filter("delivered_at", "delivered", "Delivered", "Not delivered"),
        _null_filter("read_at", "read", "Read", "Unread"),
        _null_filter("escalated_at", "escalated by email", "Escalated or emailed", "Not escalated"),
        "email_outcome",
        ExpiredFilter,
    ]
    list_select_related = ["notification", "user"]
    search_fields = ["user__username", "notification__title"]
    readonly_fields = ["notification", "user", "delivered_at", "read_at", "escalated_at", "email_outcome"]

    @admin.display(description="priority", ordering="notification__priority")
    def priority(self, receipt: Recipient) -> str:
        return receipt.notification.priority

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class RoleDefaultForm(forms.ModelForm):  # type: ignore[type-arg]
    kind = forms.ChoiceField(choices=())

    class Meta:
        model = NotificationPreference
        fields = ["role", "kind", "channel", "enabled", "digest"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(kind.name, f"{kind.label} ({kind.name})") for kind in kinds_all()]  # type: ignore[attr-defined]
        self.fields["role"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("digest") and data.get("channel") != "email":
            self.add_error("digest", "A digest is for email only.")
        return data


@admin.register(NotificationPreference)
class RoleDefaultAdmin(admin.ModelAdmin):
    """Role-wide defaults: a kind's channel for the people of a role who have not chosen themselves.
    People's own choices are theirs (their preferences page); the admin shows only the defaults."""

    form = RoleDefaultForm
    list_display = ["role", "kind", "channel", "enabled", "digest"]
    list_filter = ["role", "channel", "enabled"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationPreference]:
        return super().get_queryset(request).filter(user__isnull=True)
