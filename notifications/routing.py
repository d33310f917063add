from django.urls import path

from notifications.consumers import NotificationConsumer
from notifications.sse import NotificationStreamConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
]

sse_urlpatterns = [
    path("sse/notifications/", NotificationStreamConsumer.as_asgi()),
]
