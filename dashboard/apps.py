from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Control room"

    def ready(self) -> None:
        from charity.roles import Role
        from charity.topics import Topic, topic_register
        from dashboard import live

        topic_register(
            Topic(name=live.TOPIC, role=Role.STAFF, watch=live.dashboard_watch, unwatch=live.publisher.unwatch)
        )
