"""Validation helpers shared by every socket's inbound frame validators (DRF serializers)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


def _reject_surrogates(value: str) -> None:
    # JSON may carry "\ud800": a lone surrogate is a valid Python str but no database can store it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise serializers.ValidationError("Text must be valid Unicode (no lone surrogates).") from exc


class TextField(serializers.CharField):
    """A CharField that refuses non-strings (no silent int → str) and lone surrogates."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        _reject_surrogates(data)
        return str(super().to_internal_value(data))


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that refuses strings, floats and booleans ("5", 5.0 and true are not ids)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be an integer.")
        return int(super().to_internal_value(data))


def plain_text(value: Any) -> bool:
    """Whether ``value`` is a string ``TextField`` would take as it is: valid Unicode, no NUL."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Frame(serializers.Serializer[dict[str, Any]]):
    """Base of every inbound frame validator. ``type`` is checked before a validator is chosen.

    ``quick()`` is the validated data of a frame that is plainly valid, found without building the
    serializer (a serializer copies its fields on every instance: most of the cost of a frame that
    carries a chat message); None sends the frame through the serializer, which says what is wrong.
    A frame of ``type`` alone (ping, typing) is always quick; a subclass with fields overrides it."""

    type = serializers.CharField()

    @classmethod
    def quick(cls, payload: dict[str, Any]) -> dict[str, Any] | None:
        if cls._declared_fields.keys() == {"type"}:  # type: ignore[attr-defined]
            return {"type": payload["type"]}
        return None


class PingFrame(Frame):
    pass
