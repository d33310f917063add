from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time engine"

    def ready(self) -> None:
        # Access changes (logout, deactivation, new roles) reach open sockets: signal receivers.
        from realtime import revocation  # noqa: F401
