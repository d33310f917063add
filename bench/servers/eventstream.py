"""The SSE reference: django-eventstream 5 (events in Redis) on stock daphne.

``GET /events/?channel=<name>`` is the package's own view (``django_eventstream.urls``); a publisher
in another process calls ``django_eventstream.send_event(<name>, "message", {...})``. No project code
is imported; settings are in ``bench.servers.eventstream_settings``.

    DJANGO_SETTINGS_MODULE=bench.servers.eventstream_settings daphne -b 127.0.0.1 -p 9001 \
        bench.servers.eventstream:application
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.servers.eventstream_settings")
django.setup()

import django_eventstream  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import include, path  # noqa: E402

urlpatterns = [path("events/", include(django_eventstream.urls))]

application = get_asgi_application()
