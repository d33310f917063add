from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Help-request chat"

    def ready(self) -> None:
        from chat import (
            checks,  # noqa: F401  (system checks)
            triage,
        )

        triage.connect_signals()
