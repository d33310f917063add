"""Every WebSocket and Server-Sent Events route of the project."""

from chat.routing import sse_urlpatterns as chat_sse_patterns
from chat.routing import websocket_urlpatterns as chat_patterns
from notifications.routing import sse_urlpatterns as notification_sse_patterns
from notifications.routing import websocket_urlpatterns as notification_patterns

websocket_urlpatterns = [*notification_patterns, *chat_patterns]
sse_urlpatterns = [*notification_sse_patterns, *chat_sse_patterns]
