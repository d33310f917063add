from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Control room"

    def ready(self) -> None:
        from charity.roles import Role
        from dashboard import live, services
        from realtime.activity import activity_reported
        from realtime.topics import Topic, topic_register

        activity_reported.connect(services.activity_on_report, dispatch_uid="dashboard.activity")
        topic_register(
            Topic(name=live.TOPIC, role=Role.STAFF, watch=live.dashboard_watch, unwatch=live.publisher.unwatch)
        )
