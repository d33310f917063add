"""The kinds of notification the site sends, declared in code, and the channels each can use.

Each app declares its kinds in a ``notification_kinds`` module, which the notifications app imports
at startup (``apps.py``, like the admin's ``admin`` modules)::

    from notifications.kinds import Channel, register_kind

    register_kind(
        "shift.changed",
        label="Shift changes",
        description="A shift you signed up for moved or changed.",
        defaults={Channel.IN_APP, Channel.EMAIL},
        email_after=15 * 60,
    )

A kind says which channels are on for a person who chose nothing (``defaults``), whether a person
may turn it off in-app (``optional``; a critical kind never can), whether its text is too private to
show on a lock screen (``sensitive``: a push then says only ``push_text``), and how long a
notification may stay unread in-app before it is emailed (``email_after``).

``notify()`` with a kind nobody declared still works: in-app only, and a warning is logged once
per kind so the missing declaration is noticed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from threading import Lock

logger = logging.getLogger(__name__)


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    PUSH = "push"


CHANNEL_LABELS = {Channel.IN_APP: "On the site", Channel.EMAIL: "Email", Channel.PUSH: "Push on this device"}


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    description: str = ""
    defaults: frozenset[Channel] = field(default_factory=lambda: frozenset({Channel.IN_APP}))
    #: Whether a person may turn it off in-app. Critical kinds never can.
    optional: bool = True
    #: Critical: always in-app, emailed past quiet hours, and pushed past them.
    critical: bool = False
    #: Its title and body stay off lock screens: a push says ``push_text`` instead.
    sensitive: bool = False
    push_text: str = "You have a new notification"
    #: Seconds a notification may stay unread in-app before it is emailed (when email is on).
    email_after: int = 15 * 60
    #: The roles it is sent to, for the preferences page (empty: anyone; staff see every kind).
    roles: frozenset[str] = frozenset()

    def shown_to(self, roles: Iterable[str]) -> bool:
        held = {str(role) for role in roles}
        return not self.roles or "staff" in held or bool(self.roles & held)

    @property
    def may_turn_off_in_app(self) -> bool:
        return self.optional and not self.critical

    def push_title_body(self, *, title: str, body: str) -> tuple[str, str]:
        """What a push may show on a lock screen."""
        return (self.push_text, "") if self.sensitive else (title, body)


_kinds: dict[str, Kind] = {}
_warned: set[str] = set()
_lock = Lock()


def register_kind(
    name: str,
    *,
    label: str,
    description: str = "",
    defaults: Iterable[Channel] = (Channel.IN_APP,),
    optional: bool = True,
    critical: bool = False,
    sensitive: bool = False,
    push_text: str = "You have a new notification",
    email_after: int = 15 * 60,
    roles: Iterable[str] = (),
) -> Kind:
    """Declare a kind (idempotent for the same declaration; a different one for a taken name raises)."""
    from notifications.services import KIND_RE  # the one rule of what a kind's name looks like

    if not KIND_RE.fullmatch(name) or len(name) > 100:
        raise ValueError(f"kind must be dotted lowercase words like 'donation.confirmed', got {name!r}.")
    channels = frozenset(Channel(channel) for channel in defaults)
    if critical:
        channels |= {Channel.IN_APP}
    kind = Kind(
        name=name,
        label=label,
        description=description,
        defaults=channels,
        optional=optional and not critical,
        critical=critical,
        sensitive=sensitive,
        push_text=push_text,
        email_after=max(0, int(email_after)),
        roles=frozenset(str(role) for role in roles),
    )
    with _lock:
        existing = _kinds.get(name)
        if existing is not None and existing != kind:
            raise ValueError(f"Notification kind {name!r} is declared twice, differently.")
        _kinds[name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Forget a kind (for tests)."""
    with _lock:
        _kinds.pop(name, None)
        _warned.discard(name)


def kind_get(name: str) -> Kind | None:
    return _kinds.get(name)


def kind_for(name: str) -> Kind:
    """The declared kind, or an in-app-only stand-in for an undeclared one (logged once per kind)."""
    kind = _kinds.get(name)
    if kind is not None:
        return kind
    with _lock:
        first = name not in _warned
        _warned.add(name)
    if first:
        logger.warning("Notification kind %r is not declared (notifications.kinds): sent in-app only.", name)
    return Kind(name=name, label=name, optional=False)


def kinds_all() -> list[Kind]:
    """Every declared kind, by label."""
    return sorted(_kinds.values(), key=lambda kind: (kind.label.lower(), kind.name))


def declared(name: str) -> bool:
    return name in _kinds
