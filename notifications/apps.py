from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Each app declares its notification kinds in a ``notification_kinds`` module (kinds.py).
        autodiscover_modules("notification_kinds")
