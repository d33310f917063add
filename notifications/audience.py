"""Who a notification is for: one user, a list of users, a role, or everyone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, Model, QuerySet

from charity.roles import Role, users_with_role
from realtime import groups


def _user_id(user: Model | int) -> int:
    if isinstance(user, int) and not isinstance(user, bool):
        return user
    if isinstance(user, Model) and user.pk is not None:
        return int(user.pk)
    raise TypeError(f"Expected a saved user or a user id, got {user!r}.")


@dataclass(frozen=True)
class Audience:
    user_ids: tuple[int, ...] = ()
    role: Role | None = None
    everyone: bool = False

    @classmethod
    def user(cls, user: Model | int) -> Audience:
        return cls(user_ids=(_user_id(user),))

    @classmethod
    def users(cls, users: Iterable[Model | int]) -> Audience:
        return cls(user_ids=tuple(dict.fromkeys(_user_id(user) for user in users)))

    @classmethod
    def for_role(cls, role: Role | str) -> Audience:
        role = Role(role)
        if role is Role.VISITOR:
            raise ValueError("Visitors have no accounts; notify them through their help request.")
        return cls(role=role)

    @classmethod
    def all(cls) -> Audience:
        return cls(everyone=True)

    @property
    def label(self) -> str:
        if self.everyone:
            return "all"
        if self.role is not None:
            return f"role:{self.role.value}"
        if len(self.user_ids) == 1:
            return f"user:{self.user_ids[0]}"
        return "users"

    def user_ids_queryset(self) -> QuerySet[Any]:
        """Active recipients' ids as column ``recipient_id``, a query never materialised in Python."""
        if self.everyone:
            users = get_user_model().objects.filter(is_active=True)
        elif self.role is not None:
            users = users_with_role(self.role)
        else:
            users = get_user_model().objects.filter(is_active=True, pk__in=self.user_ids)
        return users.order_by().values(recipient_id=F("pk"))

    def groups(self) -> list[str]:
        if self.everyone:
            return [groups.everyone_group()]
        if self.role is not None:
            return [groups.role_group(self.role)]
        return [groups.user_group(user_id) for user_id in self.user_ids]
