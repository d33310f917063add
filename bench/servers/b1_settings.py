"""Settings for B1: channels-redis's ``RedisChannelLayer`` with its default configuration.

Only ``hosts`` and ``prefix`` are given: the prefix keeps this run's keys apart from anyone else's on
a shared Redis and changes no behaviour. Capacity (100), expiry (60 s), group expiry (1 day) and
every other option are the library's defaults.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("BENCH_B1_PREFIX", "asgi"),
        },
    }
}
