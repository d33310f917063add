"""Settings for the charity project.

Two ways to run, chosen by the environment alone:

* Embedded (no environment): SQLite, in-process group fan-out and the local-memory cache.
* Scale-out: ``DATABASE_URL`` switches to PostgreSQL (parsed by dj-database-url) and ``REDIS_URL``
  switches group fan-out to Redis pub/sub (``realtime.fanout``) and the cache to Django's Redis
  backend, so several daphne processes behind one proxy behave as one server.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def _env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """``HTTP_X_FORWARDED_PROTO,https`` (or ``X-Forwarded-Proto,https``) as Django's pair."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    header, _, expected = (part.strip() for part in value.partition(","))
    if not header or not expected:
        raise ImproperlyConfigured(f"{name} must be 'HEADER,value', e.g. 'X-Forwarded-Proto,https'; got {value!r}.")
    header = header.upper().replace("-", "_")
    return (header if header.startswith("HTTP_") else f"HTTP_{header}", expected)


# Off unless asked for: a deployment that forgets DEBUG gets production behaviour, not tracebacks.
# `make demo` and the test suite (tests/settings.py) turn it on explicitly.
DEBUG = _env_bool("DEBUG", False)

# A fixed key is only acceptable for local use; production must set SECRET_KEY.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [])

# HTTPS (docs/security.md, "Deploying safely"). Behind a TLS proxy, SECURE_PROXY_SSL_HEADER tells
# Django which requests came in over HTTPS, so absolute links (the visitor's private link) say
# https:// and the redirect below does not loop. Only set it when the proxy overwrites the header.
SECURE_PROXY_SSL_HEADER = _env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# A scraper on the same machine reads /metrics over plain HTTP (a bearer token or allow-list guards it).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
# Both bind every subdomain of the site's domain to HTTPS for a year: opt in (docs/security.md).
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    # daphne first: its runserver serves HTTP and WebSockets from one process.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI and Redoc from this site's static files, not a CDN.
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    # The engine first: the apps build on it.
    "realtime",
    "notifications",
    "chat",
    "donations",
    "shifts",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves static files (the real-time client) from any process, DEBUG or not.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes) on /accounts/login/ and the admin login: 5 failures for one
# username from one address lock that pair out for 15 minutes. Keyed on the pair, so an attacker
# cannot lock a volunteer out from everywhere by failing on purpose, and a shared address (library,
# shelter) does not lock everyone out. Counts live in the cache (Redis in scale-out, so every process
# counts together), not in database rows with raw addresses; the logs mask username and address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = _env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=_env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same key as every other address limit: proxy-aware (REALTIME_TRUSTED_PROXIES), IPv6 per /64,
# a keyed hash (no address in the cache).
AXES_CLIENT_IP_CALLABLE = "realtime.limits.address_key"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Nothing to show: attempts are not stored in the database.
AXES_ENABLE_ADMIN = False

# Content Security Policy (django-csp): scripts only from this site's files, never inline.
# Inline style attributes remain in templates and the admin, hence 'unsafe-inline' for styles only.
# 'self' also covers same-origin ws:// and wss:// in connect-src (CSP level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "charity.urls"
ASGI_APPLICATION = "charity.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "charity.context_processors.roles",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Consumers and views write from several threads; wait for the lock instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
# Keys and channel names of several deployments (or test runs) sharing one Redis stay apart.
REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "charity")

# Embedded mode: the folder of the Unix sockets through which processes on this machine that share
# the database pass events to each other's sockets (realtime/localbus.py). Empty: derived from the database.
REALTIME_LOCAL_BUS_DIR = os.environ.get("REALTIME_LOCAL_BUS_DIR", "")

# Sockets and streams get group events from realtime.fanout (Redis pub/sub with REDIS_URL, in-process
# otherwise), one subscription per process and group. The channel layer is that same fan-out, so
# standard Channels code (group_send, a host app's own consumers) reaches them (realtime/layer.py).
CHANNEL_LAYERS = {"default": {"BACKEND": "realtime.layer.FanoutChannelLayer"}}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # django-axes warns about a per-process cache; embedded runs one process, whose cache is the count.
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Production: set STATIC_ROOT and run `collectstatic`. Without it, WhiteNoise serves straight from the
# apps' static folders, which is what the demo and the tests do.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True

# The console backend writes whole emails (password-reset links, escalated notifications) into the
# server log: only for DEBUG. In production the backend is a deliberate choice (docs/operations.md).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "")
if not EMAIL_BACKEND:
    if not DEBUG:
        raise ImproperlyConfigured(
            "EMAIL_BACKEND must be set when DEBUG is off, e.g. "
            "EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST (see docs/operations.md)."
        )
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Browsers: the session cookie (CSRF enforced). Other software: "Authorization: Token <key>"
        # (keys in the admin, or `manage.py drf_create_token <username>`). Session first, so an
        # anonymous request is answered 403 as before, not 401.
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that answers too deeply nested bodies 400, not 500.
    "DEFAULT_PARSER_CLASSES": [
        "realtime.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Writes (POST and the like) a minute, per person and per anonymous address (realtime/throttles.py).
    "DEFAULT_THROTTLE_CLASSES": ["realtime.throttles.WriteRateThrottle", "realtime.throttles.AddressRateThrottle"],
    "EXCEPTION_HANDLER": "realtime.throttles.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Charity real-time API",
    "DESCRIPTION": "Notifications, help requests and announcements. WebSocket protocol: docs/protocol.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from the public validator: the page works offline and loads nothing foreign.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No client address in any log line (docs/safeguarding.md): daphne's runserver logs one per request.
    "filters": {"no_client_address": {"()": "realtime.logs.DropClientAddress"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING", "filters": ["no_client_address"]}},
}

# The charity's roles (staff, volunteer, donor) for the engine's role groups and access re-checks.
REALTIME_ROLES_FUNCTION = "charity.roles.roles_for"

# Settings of the apps: notifications/app_settings.py (NOTIFICATIONS_*) and the engine,
# realtime/conf.py (REALTIME_*), document each one.
NOTIFICATIONS_DEFAULT_TTL = int(os.environ.get("NOTIFICATIONS_DEFAULT_TTL", str(7 * 24 * 3600)))
NOTIFICATIONS_CRITICAL_TTL = int(os.environ.get("NOTIFICATIONS_CRITICAL_TTL", str(30 * 24 * 3600)))
# Days a conversation is kept after it ends (chat/app_settings.py; docs/safeguarding.md).
CHAT_RETAIN_CONVERSATIONS_DAYS = _env_int("CHAT_RETAIN_CONVERSATIONS_DAYS", 90)
# Web Push (docs/notifications.md): the VAPID key pair (none: no push), the contact push services
# see, and whether the push sender runs inside the server process (the embedded default) or as
# ``manage.py send_push --loop`` on its own (set NOTIFICATIONS_PUSH_IN_PROCESS=false there).
NOTIFICATIONS_VAPID_PRIVATE_KEY = os.environ.get("NOTIFICATIONS_VAPID_PRIVATE_KEY", "")
NOTIFICATIONS_VAPID_PUBLIC_KEY = os.environ.get("NOTIFICATIONS_VAPID_PUBLIC_KEY", "")
NOTIFICATIONS_VAPID_SUBJECT = os.environ.get("NOTIFICATIONS_VAPID_SUBJECT", "mailto:admin@localhost")
NOTIFICATIONS_PUSH_IN_PROCESS = _env_bool("NOTIFICATIONS_PUSH_IN_PROCESS", True)
REALTIME_HEARTBEAT_TIMEOUT = float(os.environ.get("REALTIME_HEARTBEAT_TIMEOUT", "90"))
# Anonymous help requests one client address may open per hour (form and API; docs/security.md).
REALTIME_HELP_REQUESTS_PER_IP = int(os.environ.get("REALTIME_HELP_REQUESTS_PER_IP", "20"))
REALTIME_HTTP_WRITES_PER_MINUTE = int(os.environ.get("REALTIME_HTTP_WRITES_PER_MINUTE", "120"))
REALTIME_HTTP_RECEIPTS_PER_MINUTE = int(os.environ.get("REALTIME_HTTP_RECEIPTS_PER_MINUTE", "1200"))
REALTIME_HTTP_WRITES_PER_IP = int(os.environ.get("REALTIME_HTTP_WRITES_PER_IP", "1200"))
# Proxies whose X-Forwarded-For is believed (comma-separated addresses or networks), and the address
# daphne is bound to (its -b): loopback with no trusted proxy is a check warning (realtime/checks.py).
REALTIME_TRUSTED_PROXIES = _env_list("REALTIME_TRUSTED_PROXIES", [])
REALTIME_BIND = os.environ.get("REALTIME_BIND", "127.0.0.1")

# Seconds the simulated payment processor waits before each step (received → processing → confirmed).
DONATIONS_PROCESSOR_DELAYS = tuple(
    float(delay) for delay in os.environ.get("DONATIONS_PROCESSOR_DELAYS", "1.5,2.5").split(",") if delay
)

# Who may scrape /metrics: a bearer token, or these client addresses (see REALTIME_TRUSTED_PROXIES)
# when set explicitly. Neither: nobody (behind a proxy every client would be loopback).
METRICS_ALLOWED_IPS = _env_list("METRICS_ALLOWED_IPS", [])
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# The control room: at most one recomputation per interval, and a refresh at least this often.
DASHBOARD_PUSH_INTERVAL = float(os.environ.get("DASHBOARD_PUSH_INTERVAL", "1.0"))
DASHBOARD_REFRESH_INTERVAL = float(os.environ.get("DASHBOARD_REFRESH_INTERVAL", "5.0"))
NOTIFICATIONS_ESCALATE_AFTER = int(os.environ.get("NOTIFICATIONS_ESCALATE_AFTER", str(15 * 60)))
# The audit trail of help requests (chat/audit.py, docs/safeguarding.md): one read entry per person,
# request and channel within this many seconds, and entries kept this many days.
CHAT_AUDIT_READ_WINDOW = _env_int("CHAT_AUDIT_READ_WINDOW", 8 * 3600)
CHAT_RETAIN_AUDIT_DAYS = _env_int("CHAT_RETAIN_AUDIT_DAYS", 365)

# Where the visitors' quick exit goes (docs/safeguarding.md); unset: chat/app_settings.py's default.
if os.environ.get("CHAT_QUICK_EXIT_URL"):
    CHAT_QUICK_EXIT_URL = os.environ["CHAT_QUICK_EXIT_URL"]
