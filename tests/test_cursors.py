"""The one resume-cursor parser (realtime.cursors) behind every ``since``, ``after`` and Last-Event-ID."""

from __future__ import annotations

import pytest

from chat.rooms import parse_after
from notifications.streams import parse_since
from realtime.cursors import parse_cursor


@pytest.mark.parametrize("raw", [None, ""])
def test_no_cursor_is_no_error(raw: str | None) -> None:
    assert parse_cursor(raw, name="since", fallback="x") == (None, None)


@pytest.mark.parametrize("raw", ["0", "42", "9" * 18])
def test_ascii_digits_are_a_cursor(raw: str) -> None:
    assert parse_cursor(raw, name="since", fallback="x") == (int(raw), None)


@pytest.mark.parametrize("raw", ["²", "٣", "\uff11", "1²", "abc", "-1", "+1", " 1", "1.0", "9" * 19])
def test_anything_else_is_an_error_naming_the_parameter(raw: str) -> None:
    value, error = parse_cursor(raw, name="after", fallback="sending the latest messages")
    assert value is None and error is not None and error.startswith("after ")


def test_every_path_uses_it() -> None:
    assert parse_since("²")[1] is not None and parse_after("²")[1] is not None
    assert parse_since("7") == parse_after("7") == (7, None)
