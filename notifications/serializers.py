"""REST input and output shapes of the notifications API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.models import Recipient
from notifications.validators import MAX_IDS
from realtime.validators import StrictIntegerField

MAX_ID = 2**63 - 1


class NotificationOut(serializers.Serializer[Recipient]):
    """A person's notification, as on the socket plus ``read`` and ``delivered``."""

    id = serializers.IntegerField(source="notification_id")
    kind = serializers.CharField(source="notification.kind")
    title = serializers.CharField(source="notification.title")
    body = serializers.CharField(source="notification.body")
    data = serializers.JSONField(source="notification.data")
    priority = serializers.CharField(source="notification.priority")
    created_at = serializers.DateTimeField(source="notification.created_at")
    expires_at = serializers.DateTimeField(source="notification.expires_at")
    read = serializers.SerializerMethodField()
    delivered = serializers.SerializerMethodField()

    def get_read(self, receipt: Recipient) -> bool:
        return receipt.read_at is not None

    def get_delivered(self, receipt: Recipient) -> bool:
        return receipt.delivered_at is not None


class ReadIn(serializers.Serializer[dict[str, Any]]):
    ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID), allow_empty=False, max_length=MAX_IDS
    )


class AckIn(serializers.Serializer[dict[str, Any]]):
    up_to = StrictIntegerField(min_value=0, max_value=MAX_ID)


class CountOut(serializers.Serializer[dict[str, Any]]):
    count = serializers.IntegerField()


class UnreadOut(serializers.Serializer[dict[str, Any]]):
    unread = serializers.IntegerField()
