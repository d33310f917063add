"""The Content Security Policy (django-csp, ``CONTENT_SECURITY_POLICY`` in charity/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/help/new/", "/accounts/login/", "/admin/login/", "/api/docs/"])
def test_every_page_forbids_inline_and_foreign_scripts(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]


def test_no_template_has_an_inline_script() -> None:
    """Every <script> loads a file (or is a JSON data block): script-src 'self' would block the rest."""
    offenders = []
    for template in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in template.parts:
            continue
        text = template.read_text()
        for tag in text.split("<script")[1:]:
            opening = tag.split(">", 1)[0]
            if "src=" not in opening and "application/json" not in opening:
                offenders.append(str(template.relative_to(ROOT)))
        if " onclick=" in text or " onload=" in text or "javascript:" in text:
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []
