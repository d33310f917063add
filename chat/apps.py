from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Help-request chat"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from chat import (
            checks,  # noqa: F401  (system checks)
            selectors,
            triage,
        )
        from chat.models import Alternative, HelplineSettings, OpeningHours

        triage.connect_signals()

        def clear(**kwargs: object) -> None:
            selectors.helpline_config_clear()

        # Any edit of the waiting room's configuration (the admin, a script, seed_demo) is read anew.
        for model in (HelplineSettings, OpeningHours, Alternative):
            post_save.connect(clear, sender=model, weak=False, dispatch_uid=f"chat-helpline-{model.__name__}")
            post_delete.connect(clear, sender=model, weak=False, dispatch_uid=f"chat-helpline-del-{model.__name__}")
