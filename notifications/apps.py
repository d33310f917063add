from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Signal receivers that close or downgrade sockets when access is taken away.
        from charity import revocation  # noqa: F401
