from django.urls import path

from chat.consumers import HelpRequestConsumer, HelpRequestQueueConsumer
from chat.sse import HelpRequestStreamConsumer

websocket_urlpatterns = [
    path("ws/help-requests/queue/", HelpRequestQueueConsumer.as_asgi()),
    # Any id: a malformed one is answered like an unknown one, with close code 4404.
    path("ws/help-requests/<str:public_id>/", HelpRequestConsumer.as_asgi()),
]

sse_urlpatterns = [
    # The room's Server-Sent Events fallback; a malformed id ends with a 4404 close event.
    path("sse/help-requests/<str:public_id>/", HelpRequestStreamConsumer.as_asgi()),
]
