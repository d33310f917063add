from django.urls import path

from notifications import api_views, views

urlpatterns = [
    path("notifications/", views.notification_list, name="notification-list"),
    path("api/notifications/", api_views.NotificationList.as_view(), name="api-notification-list"),
    path("api/notifications/unread-count/", api_views.UnreadCount.as_view(), name="api-notification-unread-count"),
    path("api/notifications/read/", api_views.MarkRead.as_view(), name="api-notification-read"),
    path("api/notifications/read-all/", api_views.MarkAllRead.as_view(), name="api-notification-read-all"),
    path("notifications/preferences/", views.preferences, name="notification-preferences"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("api/notifications/preferences/", api_views.Preferences.as_view(), name="api-notification-preferences"),
    path(
        "api/notifications/push-subscriptions/",
        api_views.PushSubscriptions.as_view(),
        name="api-notification-push-subscriptions",
    ),
    path("api/notifications/ack/", api_views.Acknowledge.as_view(), name="api-notification-ack"),
]
