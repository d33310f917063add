"""Reads and rules of who wants what, where and when: preferences per kind and channel, role-wide
defaults, and quiet hours. Every channel decision of the module goes through ``Resolver``.

A person's channel for a kind is, in order: their own choice; else the role-wide defaults of their
roles (on if any of their roles has it on); else the kind's declared default. An undeclared kind is
in-app only. In-app is always on for a kind a person may not turn off (and for critical ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.utils import timezone

from charity.roles import Role
from notifications.kinds import Channel, Kind, declared, kind_for, kind_get
from notifications.models import DeliverySettings, NotificationPreference


@dataclass(frozen=True)
class Choice:
    enabled: bool
    digest: bool = False


def valid_time_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def quiet_until(settings: DeliverySettings | None, *, now: datetime | None = None) -> datetime | None:
    """When the person's quiet hours end, if ``now`` is inside them; else None.

    The window is a daily one in the person's own time zone and may cross midnight (22:00-07:00).
    """
    if settings is None or settings.quiet_start is None or settings.quiet_end is None:
        return None
    start, end = settings.quiet_start, settings.quiet_end
    if start == end:
        return None
    now = now or timezone.now()
    local = now.astimezone(ZoneInfo(settings.time_zone))
    at = local.time().replace(tzinfo=None)
    inside = start <= at < end if start < end else (at >= start or at < end)
    if not inside:
        return None
    day = local.date() if at < end else local.date() + timedelta(days=1)
    ends = datetime.combine(day, end, tzinfo=ZoneInfo(settings.time_zone))
    return ends.astimezone(ZoneInfo("UTC"))


def _fixed(kind: Kind, channel: Channel) -> Choice | None:
    """A choice nobody's preferences can change, or None."""
    if not declared(kind.name):
        return Choice(enabled=channel == Channel.IN_APP)
    if channel == Channel.IN_APP and not kind.may_turn_off_in_app:
        return Choice(enabled=True)
    return None


class Resolver:
    """Answers "is this channel on for this person and kind" for many people with few queries:
    the role-wide defaults once, each person's own choices once (``load``)."""

    def __init__(self, rows: Iterable[NotificationPreference] | None = None, *, user_id: int | None = None) -> None:
        """Reads every role-wide default; or, with ``rows`` (and the ``user_id`` they are all of),
        only those rows: role defaults and that person's own choices."""
        self._roles: dict[tuple[str, str, str], Choice] = {}
        self._own: dict[tuple[int, str, str], Choice] = {}
        self._loaded: set[int] = set()
        if rows is None:
            rows = NotificationPreference.objects.filter(user__isnull=True)
        elif user_id is not None:
            self._loaded.add(user_id)
        for pref in rows:
            if pref.user_id is None:
                self._roles[(pref.role, pref.kind, pref.channel)] = Choice(pref.enabled, pref.digest)
            else:
                self._own[(pref.user_id, pref.kind, pref.channel)] = Choice(pref.enabled, pref.digest)

    def load(self, user_ids: Iterable[int]) -> None:
        wanted = set(user_ids) - self._loaded
        if not wanted:
            return
        for pref in NotificationPreference.objects.filter(user_id__in=wanted):
            assert pref.user_id is not None
            self._own[(pref.user_id, pref.kind, pref.channel)] = Choice(pref.enabled, pref.digest)
        self._loaded |= wanted

    def role_default(self, *, kind: Kind, channel: Channel, roles: Iterable[Role]) -> Choice:
        fixed = _fixed(kind, channel)
        if fixed is not None:
            return fixed
        found = [self._roles[key] for role in roles if (key := (str(role), kind.name, str(channel))) in self._roles]
        if found:
            on = [choice for choice in found if choice.enabled]
            return Choice(enabled=bool(on), digest=any(choice.digest for choice in on))
        return Choice(enabled=channel in kind.defaults)

    def choice(self, *, user_id: int, roles: Iterable[Role], kind: Kind | str, channel: Channel) -> Choice:
        kind = kind_for(kind) if isinstance(kind, str) else kind
        fixed = _fixed(kind, channel)
        if fixed is not None:
            return fixed
        self.load([user_id])
        own = self._own.get((user_id, kind.name, str(channel)))
        if own is not None:
            return Choice(enabled=own.enabled, digest=own.digest and channel == Channel.EMAIL)
        return self.role_default(kind=kind, channel=channel, roles=roles)


def delivery_settings_get(*, user_id: int) -> DeliverySettings:
    """The person's delivery settings (unsaved defaults when they never set any)."""
    return DeliverySettings.objects.filter(user_id=user_id).first() or DeliverySettings(user_id=user_id)


def preferences_for(*, user_id: int, roles: Iterable[Role]) -> list[dict[str, object]]:
    """Every declared kind with the person's effective choice per channel (the page and the API)."""
    from notifications.kinds import kinds_all

    roles = list(roles)
    resolver = Resolver()
    rows: list[dict[str, object]] = []
    for kind in kinds_all():
        if not kind.shown_to(roles):
            continue
        channels = {}
        for channel in Channel:
            choice = resolver.choice(user_id=user_id, roles=roles, kind=kind, channel=channel)
            channels[str(channel)] = choice.enabled
        email = resolver.choice(user_id=user_id, roles=roles, kind=kind, channel=Channel.EMAIL)
        rows.append(
            {
                "kind": kind.name,
                "label": kind.label,
                "description": kind.description,
                "may_turn_off_in_app": kind.may_turn_off_in_app,
                "critical": kind.critical,
                **channels,
                "email_digest": email.enabled and email.digest,
            }
        )
    return rows


def preferences_state(*, user_id: int, roles: Iterable[Role]) -> dict[str, object]:
    """Everything the preferences page and ``GET /api/notifications/preferences/`` show."""
    from notifications.app_settings import app_settings
    from notifications.models import PushSubscription

    settings = delivery_settings_get(user_id=user_id)
    return {
        "time_zone": settings.time_zone,
        "quiet_start": settings.quiet_start,
        "quiet_end": settings.quiet_end,
        "kinds": preferences_for(user_id=user_id, roles=roles),
        "push": {
            "public_key": app_settings.VAPID_PUBLIC_KEY if app_settings.VAPID_PRIVATE_KEY else "",
            "devices": PushSubscription.objects.filter(user_id=user_id).count(),
        },
    }


#: No kind turned off: the one set most sockets and streams share (each socket holds its own set otherwise).
NOTHING_OFF: frozenset[str] = frozenset()


def in_app_off_kinds(*, user_id: int, roles: Iterable[Role]) -> frozenset[str]:
    """The kinds a person turned off in-app (or their roles' defaults did), in one query: what
    their sockets and streams leave out live and on replay (``streams.NotificationMember``)."""
    from django.db.models import Q

    role_set = list(roles)
    rows = list(
        NotificationPreference.objects.filter(channel=Channel.IN_APP).filter(
            Q(user_id=user_id) | Q(user__isnull=True, role__in=[str(role) for role in role_set])
        )
    )
    if not rows:
        return NOTHING_OFF
    resolver = Resolver(rows, user_id=user_id)
    off = frozenset(
        name
        for name in {row.kind for row in rows}
        if (kind := kind_get(name)) is not None
        and not resolver.choice(user_id=user_id, roles=role_set, kind=kind, channel=Channel.IN_APP).enabled
    )
    return off or NOTHING_OFF
