"""The one ASGI layer in front of every socket and every event stream.

Channels composes a socket's way in from layers: ``ProtocolTypeRouter``, ``OriginValidator``, the
cookie, session and auth middleware, ``URLRouter`` and the ``as_asgi()`` wrapper. Each layer awaits
the next, so for as long as a socket is open each keeps a suspended coroutine and most keep a copy of
the scope: for thousands of sockets that stay open for hours, about a third of what the project
holds per socket. Here the same steps run in one coroutine and then hand over to the consumer:

* the origin check (sockets only): Channels' ``AllowedHostsOriginValidator`` rule, ``ALLOWED_HOSTS``;
  a foreign ``Origin`` (or none) is refused at the handshake;
* the cookies and a session store for the session cookie (``scope["cookies"]``, ``scope["session"]``);
* who is connecting (``scope["user"]`` and ``scope["roles"]``), by the ``authenticate`` callable
  the project passes in (``charity.asgi``);
* the route: Channels' ``path()``/``re_path()`` patterns, in order, with ``scope["url_route"]`` as
  ``URLRouter`` sets it; a consumer made with ``as_asgi()`` is made here directly, any other ASGI
  application (a nested ``URLRouter``) is awaited as it is. A path no route matches is refused
  (a socket at the handshake, a stream with 404) rather than raising in the server.

The scope is the server's own dict for this connection: the keys are added to it rather than to a
copy. Consumers see the same scope keys as under Channels' stack. Sessions are read, never saved:
sockets and streams do not change the session (Channels' session middleware would save a changed
one on ``http.response.start``, which sockets never send; a stream's changes, such as a visitor's
older grant being rewritten, are left to the next page the visitor loads).

The application (``Application``) picks the socket or HTTP side by scope type without a coroutine
of its own: it returns the side's coroutine for the server to run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib import import_module
from typing import Any
from urllib.parse import urlparse

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings
from django.http.cookie import parse_cookie
from django.urls.exceptions import Resolver404

logger = logging.getLogger("realtime.entry")

Scope = dict[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]
#: Fills ``scope["user"]`` and ``scope["roles"]`` from ``scope["session"]``.
Authenticate = Callable[[Scope], Awaitable[None]]


class Entry:
    """Origin (sockets), cookies, session, user and roles, route, then the consumer: one coroutine."""

    def __init__(self, routes: Sequence[Any], authenticate: Authenticate, *, check_origin: bool) -> None:
        # Channels' ``URLRouter`` checks the routes and makes a nested router's pattern a prefix.
        self.routes = URLRouter(list(routes)).routes
        self.authenticate = authenticate
        # Channels' own origin rule, used as a function (its application is never called).
        self.origins = AllowedHostsOriginValidator(None) if check_origin else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        app = await self.prepare(scope)
        # This frame stays suspended for the connection's life: it holds the scope and the consumer's
        # coroutine, nothing the preparation made along the way (cookies, the matched route).
        await (app or refuse)(scope, receive, send)

    async def prepare(self, scope: Scope) -> App | None:
        """The scope filled in and what serves it: its consumer's coroutine function; None to refuse."""
        if self.origins is not None and not self.origins.valid_origin(origin_of(scope)):
            return None
        route = self.resolve(scope)
        if route is None:
            logger.warning("no route for %s path=%s", scope["type"], scope.get("path", ""))
            return None
        app, scope["path_remaining"], scope["url_route"] = route
        cookies: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        store = import_module(settings.SESSION_ENGINE).SessionStore
        scope["cookies"] = cookies
        scope["session"] = store(cookies.get(settings.SESSION_COOKIE_NAME))
        await self.authenticate(scope)
        consumer_class = getattr(app, "consumer_class", None)
        if consumer_class is not None and getattr(app, "__wrapped__", None) is consumer_class:
            # ``as_asgi()``'s own wrapper (not a decorator around it, which copies its attributes):
            # what it does, without its coroutine staying suspended above the consumer.
            consumer: App = consumer_class(**app.consumer_initkwargs)  # type: ignore[attr-defined]
            return consumer
        return app

    def resolve(self, scope: Scope) -> tuple[App, str, dict[str, Any]] | None:
        """The first route matching the path, as ``URLRouter`` matches it (root path, no leading
        slash, the pattern's default arguments); None if none does."""
        path = scope.get("path", "")
        root_path = scope.get("root_path", "")
        if root_path:
            if not path.startswith(root_path):
                return None
            path = path[len(root_path) :]
        path = path.lstrip("/")
        for route in self.routes:
            try:
                match = route.pattern.match(path)
            except Resolver404:
                continue
            if match:
                remaining, args, kwargs = match
                return route.callback, remaining, {"args": args, "kwargs": {**kwargs, **route.default_args}}
        return None


def origin_of(scope: Scope) -> Any:
    """The parsed ``Origin`` header, as Channels' ``OriginValidator`` reads it: the last one, None if
    there is none or it does not decode."""
    origin = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            try:
                origin = urlparse(value.decode("latin1"))
            except UnicodeDecodeError:
                origin = None
    return origin


async def refuse(scope: Scope, receive: Any, send: Any) -> None:
    """A socket from a foreign origin or for no route is refused at its handshake (403); an HTTP
    request for no route gets 404."""
    if scope["type"] == "websocket":
        await WebsocketDenier()(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Not found"})


class Application:
    """The server's application: sockets to their entry, HTTP by path to streams or Django.

    A plain callable that returns the coroutine of the side it picked, so no coroutine of its own
    stays suspended above every socket. ``on_connection`` runs first on each connection (the Web
    Push sender starts with the first one).
    """

    # Tells daphne and Channels' test communicators that this is an ASGI 3 application although
    # ``__call__`` is not a coroutine function.
    _asgi_single_callable = True

    def __init__(
        self,
        *,
        http: App,
        websocket: App,
        streams: App,
        stream_prefix: str,
        on_connection: Callable[[Scope], None] | None = None,
    ) -> None:
        self.http = http
        self.websocket = websocket
        self.streams = streams
        self.stream_prefix = stream_prefix
        self.on_connection = on_connection

    def __call__(self, scope: Scope, receive: Any, send: Any) -> Awaitable[None]:
        if self.on_connection is not None:
            self.on_connection(scope)
        kind = scope["type"]
        if kind == "websocket":
            return self.websocket(scope, receive, send)
        if kind == "http":
            app = self.streams if scope["path"].startswith(self.stream_prefix) else self.http
            return app(scope, receive, send)
        raise ValueError(f"No application configured for scope type {kind!r}")
