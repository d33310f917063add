"""Settings for the SSE reference: django-eventstream 5 with its events in Redis, as its README sets it up.

``EVENTSTREAM_REDIS`` makes ``send_event()`` work from another process (the publisher): it publishes
on Redis and every server process's listener hands the event to its streams. The storage class keeps
each event in Redis too (``RedisStorage``, 24 h), so a stream that reconnects with Last-Event-ID is
replayed what it missed: the same promise as the project's stream. Streams are anonymous (the default
channel manager lets anyone read); the channel is named per run, so runs sharing a Redis never mix.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

_redis = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_redis_connection = {
    "host": _redis.hostname or "127.0.0.1",
    "port": _redis.port or 6379,
    "db": int((_redis.path or "/0").lstrip("/") or 0),
}

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_eventstream"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.servers.eventstream"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
EVENTSTREAM_REDIS = _redis_connection
EVENTSTREAM_STORAGE_CLASS = "django_eventstream.storage.RedisStorage"
EVENTSTREAM_STORAGE_CONNECTION = _redis_connection
