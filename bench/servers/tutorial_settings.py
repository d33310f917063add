"""Settings for the tutorial chat (``bench.servers.tutorial``): channels-redis with its defaults.

As in the tutorial, the auth and session apps are installed (its ``AuthMiddlewareStack`` reads the
session lazily; the benchmark's sockets carry no cookie, so no database is ever queried) and the
channel layer is ``RedisChannelLayer`` with only ``hosts`` and a ``prefix`` (this run's keys apart
from anyone else's on a shared Redis). Capacity (100), expiry (60 s) and every other option are the
library's defaults.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "channels"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
USE_TZ = True
ASGI_APPLICATION = "bench.servers.tutorial.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("BENCH_TUTORIAL_PREFIX", "asgi"),
        },
    }
}
