"""Who holds which role (charity/roles.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group

from charity.roles import Role, helpers, is_helper, roles_for, users_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# -- roles_for -------------------------------------------------------------------------------------


def test_anonymous_person_is_a_visitor_and_nothing_else() -> None:
    assert roles_for(AnonymousUser()) == frozenset({Role.VISITOR})
    assert roles_for(None) == frozenset({Role.VISITOR})


def test_account_without_groups_or_staff_flag_has_no_role(make_user: Any) -> None:
    assert roles_for(make_user()) == frozenset()


@pytest.mark.parametrize("role", [Role.VOLUNTEER, Role.DONOR])
def test_group_role_comes_from_the_auth_group_of_that_name(make_user: Any, role: Role) -> None:
    user = make_user()
    user.groups.add(Group.objects.create(name=role.value))
    assert roles_for(user) == frozenset({role})


@pytest.mark.parametrize("name", ["Volunteer", "volunteers", "donor ", "staff", "visitor"])
def test_only_a_group_of_exactly_the_role_name_counts(make_user: Any, name: str) -> None:
    user = make_user()
    user.groups.add(Group.objects.create(name=name))
    assert roles_for(user) == frozenset()


def test_staff_comes_from_is_staff(make_user: Any) -> None:
    user = make_user()
    user.is_staff = True
    user.save()
    assert roles_for(user) == frozenset({Role.STAFF})


def test_a_person_can_hold_several_roles(make_user: Any) -> None:
    user = make_user(roles=(Role.VOLUNTEER, Role.DONOR, Role.STAFF))
    assert roles_for(user) == frozenset({Role.VOLUNTEER, Role.DONOR, Role.STAFF})


def test_inactive_account_has_no_role(make_user: Any) -> None:
    user = make_user(roles=(Role.VOLUNTEER, Role.DONOR, Role.STAFF), is_active=False)
    assert roles_for(user) == frozenset()


def test_roles_for_reads_prefetched_groups_without_queries(make_user: Any, django_assert_num_queries: Any) -> None:
    for roles in [(Role.VOLUNTEER,), (Role.DONOR,), (Role.VOLUNTEER, Role.STAFF)]:
        make_user(roles=roles)
    users = list(get_user_model().objects.prefetch_related("groups").order_by("pk"))
    with django_assert_num_queries(0):
        found = [roles_for(user) for user in users]
    assert found == [{Role.VOLUNTEER}, {Role.DONOR}, {Role.VOLUNTEER, Role.STAFF}]


# -- users_with_role -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", Role.account_roles())
def test_users_with_role_is_exactly_the_active_holders(make_user: Any, role: Role) -> None:
    holders = {make_user(roles=(role,)).pk, make_user(roles=(role, *Role.account_roles())).pk}
    make_user(roles=(role,), is_active=False)
    make_user()
    for other in Role.account_roles():
        if other is not role:
            make_user(roles=(other,))
    assert set(users_with_role(role).values_list("pk", flat=True)) == holders
    assert set(users_with_role(role.value).values_list("pk", flat=True)) == holders


def test_users_with_role_agrees_with_roles_for(make_user: Any) -> None:
    people = [
        make_user(roles=roles)
        for roles in [(), (Role.VOLUNTEER,), (Role.DONOR,), (Role.STAFF,), (Role.VOLUNTEER, Role.DONOR)]
    ]
    for role in Role.account_roles():
        assert set(users_with_role(role).values_list("pk", flat=True)) == {
            person.pk for person in people if role in roles_for(person)
        }


def test_visitors_have_no_accounts_to_list() -> None:
    with pytest.raises(ValueError):
        users_with_role(Role.VISITOR)


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError):
        users_with_role("admin")


def test_helpers_are_volunteers_and_staff(make_user: Any) -> None:
    volunteer, staff, donor = (
        make_user(roles=(Role.VOLUNTEER,)),
        make_user(roles=(Role.STAFF,)),
        make_user(roles=(Role.DONOR,)),
    )
    make_user(roles=(Role.VOLUNTEER,), is_active=False)
    assert list(helpers()) == sorted([volunteer, staff], key=lambda user: user.username)
    assert is_helper(roles_for(volunteer)) and is_helper(roles_for(staff))
    assert not is_helper(roles_for(donor)) and not is_helper(frozenset({Role.VISITOR}))
