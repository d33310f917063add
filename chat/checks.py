"""System checks of the chat's settings (Django's check framework), registered by ``ChatConfig``.

* ``chat.E001``: ``CHAT_QUICK_EXIT_URL`` is not an http(s) address. Every visitor page would fail
  to render; the check says so at ``migrate`` or ``check`` time, before anyone needs the page.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from chat.app_settings import app_settings


@checks.register()
def quick_exit_url_check(**kwargs: Any) -> list[checks.CheckMessage]:
    try:
        app_settings.QUICK_EXIT_URL  # noqa: B018  (the property validates)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="A neutral page, e.g. https://www.bbc.co.uk/weather.", id="chat.E001")]
    return []
