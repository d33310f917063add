from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time engine"

    def ready(self) -> None:
        # Deployment checks (trusted proxies, /metrics), and access changes (logout, deactivation,
        # new roles) that reach open sockets.
        from realtime import checks, revocation  # noqa: F401  (system checks; signal receivers)
