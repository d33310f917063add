"""``charity/settings.py``: production-safe defaults, read from the environment alone.

Each case loads the settings in a fresh interpreter with exactly the environment given (no value
from the test run's own environment), as a deployment would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from chat.models import HelpRequest

ROOT = Path(__file__).resolve().parent.parent

# Variables that would leak the test run's own configuration into the process under test.
_OWN = re.compile(
    r"^(DJANGO_SETTINGS_MODULE|DEBUG|SECRET_KEY|EMAIL_.*|DEFAULT_FROM_EMAIL|SERVER_EMAIL|SECURE_.*|"
    r"SESSION_COOKIE_SECURE|CSRF_COOKIE_SECURE|ALLOWED_HOSTS|CSRF_TRUSTED_ORIGINS|DATABASE_URL|REDIS_URL|"
    r"REDIS_PREFIX|STATIC_ROOT|METRICS_.*|REALTIME_.*|AXES_.*)$"
)
SECRET = "s" + secrets.token_urlsafe(60)
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": SECRET, "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}

_PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
names = [
    "DEBUG", "EMAIL_BACKEND", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER",
    "EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_HOST_USER",
]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items() if not _OWN.match(name)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "charity.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def loaded_settings(env: dict[str, str]) -> dict[str, Any]:
    result = _run(["-c", _PRINT_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def refusal(env: dict[str, str]) -> str:
    """The error a process with this environment stops with (it must stop)."""
    result = _run(["-c", _PRINT_SETTINGS], env)
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


def test_debug_is_off_unless_asked_for() -> None:
    unset = {name: value for name, value in PRODUCTION.items() if name != "DEBUG"}
    assert loaded_settings(unset)["DEBUG"] is False
    assert loaded_settings({"DEBUG": "1"})["DEBUG"] is True


def test_without_debug_a_secret_key_is_required() -> None:
    assert "SECRET_KEY must be set" in refusal({"EMAIL_BACKEND": PRODUCTION["EMAIL_BACKEND"]})


def test_without_debug_an_email_backend_is_required() -> None:
    """The console backend would print password-reset links and escalated notifications into the log."""
    error = refusal({"DEBUG": "0", "SECRET_KEY": SECRET})
    assert "ImproperlyConfigured" in error and "EMAIL_BACKEND" in error


def test_debug_keeps_the_console_backend() -> None:
    assert loaded_settings({"DEBUG": "1"})["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_smtp_from_the_environment() -> None:
    loaded = loaded_settings(
        {
            **PRODUCTION,
            "EMAIL_HOST": "smtp.example.org",
            "EMAIL_PORT": "587",
            "EMAIL_USE_TLS": "1",
            "EMAIL_HOST_USER": "charity",
        }
    )
    assert loaded["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (loaded["EMAIL_HOST"], loaded["EMAIL_PORT"], loaded["EMAIL_USE_TLS"], loaded["EMAIL_HOST_USER"]) == (
        "smtp.example.org",
        587,
        True,
        "charity",
    )


def test_without_debug_cookies_are_secure_and_https_is_enforced() -> None:
    loaded = loaded_settings(PRODUCTION)
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert loaded["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600


def test_debug_serves_plain_http() -> None:
    loaded = loaded_settings({"DEBUG": "1"})
    assert (loaded["SESSION_COOKIE_SECURE"], loaded["SECURE_SSL_REDIRECT"], loaded["SECURE_HSTS_SECONDS"]) == (
        False,
        False,
        0,
    )


@pytest.mark.parametrize("value", ["HTTP_X_FORWARDED_PROTO,https", "X-Forwarded-Proto, https"])
def test_proxy_ssl_header_from_the_environment(value: str) -> None:
    loaded = loaded_settings({**PRODUCTION, "SECURE_PROXY_SSL_HEADER": value})
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.parametrize("value", ["X-Forwarded-Proto", ",https"])
def test_a_malformed_proxy_ssl_header_stops_the_process(value: str) -> None:
    error = refusal({**PRODUCTION, "SECURE_PROXY_SSL_HEADER": value})
    assert "ImproperlyConfigured" in error and "SECURE_PROXY_SSL_HEADER" in error


@pytest.mark.django_db
def test_the_private_link_is_https_behind_a_tls_proxy(settings: Any) -> None:
    """nginx terminates TLS and says so in X-Forwarded-Proto: the visitor's private link is https://."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    response = client.post(
        "/help/new/",
        {"name": "Sam", "description": "I need a food parcel.", "category": "food"},
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 302, response.content
    page = client.get(response["Location"], HTTP_X_FORWARDED_PROTO="https")
    assert page.status_code == 200
    help_request = HelpRequest.objects.get()
    links = re.findall(rf"[a-z]+://[^\s\"<]*{help_request.public_id}[^\s\"<]*", page.content.decode())
    assert links and all(link.startswith("https://") for link in links), links


# -- the documented production configuration -------------------------------------------------------


def documented_production_environment() -> dict[str, str]:
    """The environment in docs/security.md, "Deploying safely"; ``<...>`` placeholders get random values."""
    text = (ROOT / "docs" / "security.md").read_text()
    section = text.split("## Deploying safely", 1)[1]
    block = section.split("```env\n", 1)[1].split("```", 1)[0]
    env = {}
    for line in block.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        env[name] = "x" + secrets.token_urlsafe(60) if value.startswith("<") else value
    return env


def test_documented_production_configuration_passes_the_deploy_check() -> None:
    env = documented_production_environment()
    assert env["DEBUG"] == "0"
    result = _run(["manage.py", "check", "--deploy"], env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output
    assert "WARNINGS" not in output, output
