"""REST input and output shapes of the notifications API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.kinds import kind_get
from notifications.models import Recipient
from notifications.preferences import valid_time_zone
from notifications.push import endpoint_allowed
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


class KindPreferenceOut(serializers.Serializer[dict[str, Any]]):
    kind = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    may_turn_off_in_app = serializers.BooleanField()
    critical = serializers.BooleanField()
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()
    push = serializers.BooleanField()
    email_digest = serializers.BooleanField(help_text="One daily email for this kind instead of one each.")


class PushInfoOut(serializers.Serializer[dict[str, Any]]):
    public_key = serializers.CharField(help_text="The VAPID public key (applicationServerKey); empty: push is off.")
    devices = serializers.IntegerField(help_text="How many of the person's devices are subscribed.")


class PreferencesOut(serializers.Serializer[dict[str, Any]]):
    time_zone = serializers.CharField()
    quiet_start = serializers.TimeField(format="%H:%M", allow_null=True)
    quiet_end = serializers.TimeField(format="%H:%M", allow_null=True)
    kinds = KindPreferenceOut(many=True)
    push = PushInfoOut()


class KindPreferenceIn(serializers.Serializer[dict[str, Any]]):
    kind = serializers.CharField(max_length=100)
    in_app = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)
    email_digest = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = kind_get(attrs["kind"])
        if kind is None:
            raise serializers.ValidationError({"kind": [f"No such notification kind: {attrs['kind']!r}."]})
        if attrs.get("in_app") is False and not kind.may_turn_off_in_app:
            raise serializers.ValidationError({"in_app": [f"{kind.label} cannot be turned off on the site."]})
        return attrs


class PreferencesIn(serializers.Serializer[dict[str, Any]]):
    """Any part may be left out; kinds not listed keep their settings."""

    time_zone = serializers.CharField(max_length=64, required=False, help_text="An IANA zone, e.g. Europe/London.")
    quiet_start = serializers.TimeField(required=False, allow_null=True, input_formats=["%H:%M"])
    quiet_end = serializers.TimeField(required=False, allow_null=True, input_formats=["%H:%M"])
    kinds = KindPreferenceIn(many=True, required=False, max_length=200)

    def validate_time_zone(self, value: str) -> str:
        if not valid_time_zone(value):
            raise serializers.ValidationError("Not a known time zone (an IANA name such as Europe/London).")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("quiet_start" in attrs) != ("quiet_end" in attrs) or (
            (attrs.get("quiet_start") is None) != (attrs.get("quiet_end") is None)
        ):
            raise serializers.ValidationError({"quiet_end": ["Give both ends of the quiet hours, or neither."]})
        kinds = [entry["kind"] for entry in attrs.get("kinds", [])]
        if len(kinds) != len(set(kinds)):
            raise serializers.ValidationError({"kinds": ["Each kind at most once."]})
        return attrs


class PushKeysIn(serializers.Serializer[dict[str, Any]]):
    p256dh = serializers.RegexField(r"^[A-Za-z0-9_-]{80,100}={0,2}$", max_length=200)
    auth = serializers.RegexField(r"^[A-Za-z0-9_-]{16,30}={0,2}$", max_length=100)


class PushSubscriptionIn(serializers.Serializer[dict[str, Any]]):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint = serializers.URLField(max_length=1000)
    keys = PushKeysIn()

    def validate_endpoint(self, value: str) -> str:
        if not endpoint_allowed(value):
            raise serializers.ValidationError("Not a browser push service's address.")
        return value


class PushEndpointIn(serializers.Serializer[dict[str, Any]]):
    endpoint = serializers.URLField(max_length=1000)
