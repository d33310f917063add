"""Validators of the notification socket's inbound frames, one per client frame type."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from realtime.validators import Frame, PingFrame, StrictIntegerField, TextField

TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_IDS = 1000
MAX_TOPICS = 50


class AckFrame(Frame):
    up_to = StrictIntegerField(min_value=0, max_value=2**63 - 1)


class ReadFrame(Frame):
    ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=2**63 - 1), allow_empty=False, max_length=MAX_IDS
    )


class TopicField(TextField):
    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not TOPIC_RE.match(value) or len(value) > 100:
            raise serializers.ValidationError("A topic is a dotted kind prefix such as 'donation' or 'shift.changed'.")
        return value


class TopicsFrame(Frame):
    topics = serializers.ListField(child=TopicField(), allow_empty=False, max_length=MAX_TOPICS)


FRAME_VALIDATORS: dict[str, type[Frame]] = {
    "ping": PingFrame,
    "ack": AckFrame,
    "read": ReadFrame,
    "subscribe": TopicsFrame,
    "unsubscribe": TopicsFrame,
}
