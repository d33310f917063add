from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dashboard.models import AnnouncementKind, Audience
from realtime.validators import TextField


class AnnouncementIn(serializers.Serializer[dict[str, Any]]):
    audience = serializers.ChoiceField(choices=Audience.choices)
    title = TextField(min_length=1, max_length=200)
    body = TextField(required=False, allow_blank=True, max_length=4000, default="")
    priority = serializers.ChoiceField(choices=["normal", "critical"], default="normal")
    kind = serializers.ChoiceField(choices=AnnouncementKind.choices, default=AnnouncementKind.SYSTEM_ALERT)


class AnnouncementOut(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    audience = serializers.CharField()
    kind = serializers.CharField()
    priority = serializers.CharField()
    reached = serializers.IntegerField()
    notification_id = serializers.IntegerField()
