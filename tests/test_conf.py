"""realtime.conf: the engine's settings, and how it learns a person's roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group

from charity.roles import Role
from realtime.conf import app_settings, staff_and_group_roles

pytestmark = pytest.mark.django_db


def test_the_project_tells_the_engine_its_roles(make_user: Any) -> None:
    volunteer = make_user(roles=(Role.VOLUNTEER,))
    assert app_settings.roles_for(volunteer) == {Role.VOLUNTEER}


def test_without_the_setting_roles_are_staff_and_the_auth_groups_named_as_roles(make_user: Any, settings: Any) -> None:
    del settings.REALTIME_ROLES_FUNCTION
    user = make_user(roles=(Role.STAFF,))
    user.groups.add(Group.objects.create(name="volunteer"), Group.objects.create(name="Board members"))
    assert app_settings.roles_for(user) == {"staff", "volunteer"}
    assert staff_and_group_roles(AnonymousUser()) == frozenset()
    user.is_active = False
    assert staff_and_group_roles(user) == frozenset()
