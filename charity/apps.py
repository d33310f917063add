"""The project package as an app, so that its system checks (``charity.checks``) are registered."""

from __future__ import annotations

from django.apps import AppConfig


class CharityConfig(AppConfig):
    name = "charity"
    verbose_name = "Charity real-time transport"

    def ready(self) -> None:
        from charity import checks  # noqa: F401  (registers the checks)
