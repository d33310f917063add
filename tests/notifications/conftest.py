"""Fixtures for the notifications tests: crowds of users, expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from charity.roles import Role
from notifications.models import Notification


@pytest.fixture
def bulk_users(db: None) -> Callable[..., list[int]]:
    """``bulk_users(300, role="volunteer")``: many users in a few queries; returns their ids."""
    counter = iter(range(1, 1_000_000))
    User = get_user_model()

    def make(count: int, *, role: Role | str | None = None, is_active: bool = True) -> list[int]:
        batch = next(counter)
        users = User.objects.bulk_create(
            [
                User(username=f"bulk{batch}-{index}", is_active=is_active, is_staff=role == Role.STAFF)
                for index in range(count)
            ]
        )
        ids = [int(user.pk) for user in users]
        if role in (Role.VOLUNTEER, Role.DONOR):
            group = Group.objects.get_or_create(name=Role(role).value)[0]
            Membership = User.groups.through
            Membership.objects.bulk_create([Membership(user_id=user_id, group_id=group.pk) for user_id in ids])
        return ids

    return make


@pytest.fixture
def expire(db: None) -> Callable[[Notification], None]:
    """``expire(notification)``: make it expired a second ago, in the database and on the instance."""

    def make_expired(notification: Notification) -> None:
        notification.expires_at = timezone.now() - timedelta(seconds=1)
        Notification.objects.filter(pk=notification.pk).update(expires_at=notification.expires_at)

    return make_expired
