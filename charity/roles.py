"""Who is who: the four roles of the charity and the one function that answers "which roles"."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(StrEnum):
    VISITOR = "visitor"  # anonymous, no account
    VOLUNTEER = "volunteer"  # member of the auth Group "volunteer"
    DONOR = "donor"  # member of the auth Group "donor"
    STAFF = "staff"  # user.is_staff

    @classmethod
    def account_roles(cls) -> tuple[Role, ...]:
        """Roles a logged-in person can hold (everything but visitor)."""
        return (cls.VOLUNTEER, cls.DONOR, cls.STAFF)


# Roles backed by a Django auth Group of exactly this name.
GROUP_ROLES: tuple[Role, ...] = (Role.VOLUNTEER, Role.DONOR)


#: One set per combination of roles, shared by everyone who holds it (each socket keeps its person's).
_SHARED: dict[frozenset[Role], frozenset[Role]] = {}


def shared(roles: AbstractSet[Role]) -> frozenset[Role]:
    """``frozenset(roles)``, the one instance for that combination (there are at most 16)."""
    key = frozenset(roles)
    return _SHARED.setdefault(key, key)


def roles_for(user: AbstractBaseUser | AnonymousUser | None) -> frozenset[Role]:
    """Return the roles of ``user``.

    Anonymous people are visitors and nothing else; an inactive account has no role at all.
    Uses ``user.groups`` through a prefetch when one is present, so listing many users stays cheap.
    """
    if user is None or not user.is_authenticated:
        return shared({Role.VISITOR})
    if not getattr(user, "is_active", False):
        return shared(set())
    return roles_from(
        is_active=True,
        is_staff=getattr(user, "is_staff", False),
        group_names=[group.name for group in user.groups.all()],  # type: ignore[union-attr,attr-defined]
    )


def roles_from(*, is_active: bool, is_staff: bool, group_names: Iterable[str]) -> frozenset[Role]:
    """The roles of an account with these flags and auth groups (``roles_for`` without the user:
    for who reads the row and group names themselves, ``charity.socket_auth``)."""
    if not is_active:
        return shared(set())
    names = set(group_names)
    roles = {role for role in GROUP_ROLES if role.value in names}
    if is_staff:
        roles.add(Role.STAFF)
    return shared(roles)


#: Who may take help requests and talk to visitors.
HELPER_ROLES = frozenset({Role.STAFF, Role.VOLUNTEER})


def is_helper(roles: AbstractSet[Any]) -> bool:
    """A volunteer or a staff member: who may see the queue, take requests and be assigned them."""
    return not HELPER_ROLES.isdisjoint(roles)


def helpers() -> QuerySet[Any]:
    """Active volunteers and staff members, by username (who a help request can be assigned to)."""
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(Q(is_staff=True) | Q(groups__name=Role.VOLUNTEER)).distinct().order_by("username")


def users_with_role(role: Role | str) -> QuerySet[Any]:
    """Active users holding ``role``; the one definition used by broadcasts and counts."""
    role = Role(role)
    users = get_user_model().objects.filter(is_active=True)
    if role is Role.STAFF:
        return users.filter(is_staff=True)
    if role in GROUP_ROLES:
        return users.filter(groups__name=role.value)
    raise ValueError(f"Role {role!s} has no accounts.")


def primary_role(roles: frozenset[Role]) -> str:
    """One role to label a person by in logs and the control room: staff > volunteer > donor > visitor."""
    for role in (Role.STAFF, Role.VOLUNTEER, Role.DONOR, Role.VISITOR):
        if role in roles:
            return role.value
    return ""
