from django.urls import path

from chat.consumers import HelpRequestConsumer, HelpRequestQueueConsumer

websocket_urlpatterns = [
    path("ws/help-requests/queue/", HelpRequestQueueConsumer.as_asgi()),
    # Any id: a malformed one is answered like an unknown one, with close code 4404.
    path("ws/help-requests/<str:public_id>/", HelpRequestConsumer.as_asgi()),
]
