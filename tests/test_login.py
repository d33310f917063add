"""Login throttling (django-axes) on ``/accounts/login/`` and the admin login.

Counts live in the shared cache; each test uses its own people and its own client address, so no
test sees another's failures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from charity.roles import Role
from tests.conftest import fresh_address

PASSWORD = "pw-for-tests-1"
LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def log_in(client: Client, path: str, username: str, password: str) -> Any:
    return client.post(path, {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return settings.SESSION_COOKIE_NAME in client.cookies and bool(client.cookies[settings.SESSION_COOKIE_NAME].value)


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_the_right_password_is_refused_after_five_failures(path: str, make_user: Callable[..., Any]) -> None:
    user = make_user(roles=(Role.STAFF,))
    client = Client(REMOTE_ADDR=fresh_address())
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, path, user.username, "wrong").status_code == 200  # the form again, with an error
    assert log_in(client, path, user.username, "wrong").status_code == 429
    response = log_in(client, path, user.username, PASSWORD)
    assert response.status_code == 429
    assert b"Too many login attempts" in response.content
    assert not logged_in(client)


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_fewer_failures_do_not_lock(path: str, make_user: Callable[..., Any]) -> None:
    user = make_user(roles=(Role.STAFF,))
    client = Client(REMOTE_ADDR=fresh_address())
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, path, user.username, "wrong")
    assert log_in(client, path, user.username, PASSWORD).status_code == 302
    assert logged_in(client)


@pytest.mark.django_db
def test_another_person_at_the_same_address_is_not_locked(make_user: Callable[..., Any]) -> None:
    """A library's shared address: one person's failures lock that person only."""
    victim, neighbour = make_user(), make_user()
    address = fresh_address()
    attacker = Client(REMOTE_ADDR=address)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, "/accounts/login/", victim.username, "wrong")
    assert log_in(attacker, "/accounts/login/", victim.username, PASSWORD).status_code == 429

    other = Client(REMOTE_ADDR=address)
    assert log_in(other, "/accounts/login/", neighbour.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_person_is_not_locked_out_from_elsewhere(make_user: Callable[..., Any]) -> None:
    """An attacker failing on purpose cannot lock a volunteer out of their own device."""
    victim = make_user()
    attacker = Client(REMOTE_ADDR=fresh_address())
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, "/accounts/login/", victim.username, "wrong")
    assert log_in(Client(REMOTE_ADDR=fresh_address()), "/accounts/login/", victim.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_lockout_follows_the_client_behind_a_trusted_proxy(settings: Any, make_user: Callable[..., Any]) -> None:
    """Behind nginx every peer is the proxy: the lock is on the client's address, not the proxy's."""
    settings.REALTIME_TRUSTED_PROXIES = ["127.0.0.1"]
    victim = make_user()
    attacker = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=fresh_address())
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, "/accounts/login/", victim.username, "wrong")
    assert log_in(attacker, "/accounts/login/", victim.username, PASSWORD).status_code == 429
    victim_browser = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=fresh_address())
    assert log_in(victim_browser, "/accounts/login/", victim.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_no_address_or_username_in_the_logs(caplog: pytest.LogCaptureFixture, make_user: Callable[..., Any]) -> None:
    user = make_user()
    address = fresh_address()
    client = Client(REMOTE_ADDR=address)
    with caplog.at_level(logging.DEBUG):
        for _ in range(settings.AXES_FAILURE_LIMIT + 1):
            log_in(client, "/accounts/login/", user.username, "wrong")
    assert "Locking out" in caplog.text  # the lockout is logged, masked
    assert address not in caplog.text
    assert user.username not in caplog.text


@pytest.mark.django_db
def test_attempts_are_not_stored_in_the_database(make_user: Callable[..., Any]) -> None:
    from axes.models import AccessAttempt, AccessLog

    user = make_user()
    client = Client(REMOTE_ADDR=fresh_address())
    log_in(client, "/accounts/login/", user.username, "wrong")
    log_in(client, "/accounts/login/", user.username, PASSWORD)
    assert not AccessAttempt.objects.exists()
    assert not AccessLog.objects.exists()


@pytest.mark.django_db
def test_new_addresses_in_one_ipv6_network_do_not_buy_more_guesses(make_user: Callable[..., Any]) -> None:
    """An attacker with a /64 has 2**64 addresses: the lockout counts the network, as every limit does."""
    user = make_user(roles=(Role.STAFF,))
    network = "2001:db8:7:9"
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR=f"{network}::{n + 1:x}"), "/accounts/login/", user.username, "wrong")
    response = log_in(Client(REMOTE_ADDR=f"{network}::ffff"), "/accounts/login/", user.username, PASSWORD)
    assert response.status_code == 429
