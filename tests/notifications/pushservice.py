"""A Web Push service stand-in on loopback, for the push tests.

It does what a browser vendor's push service must: checks the VAPID JWT (RFC 8292) against the
site's public key, and decrypts the aes128gcm payload (RFC 8188/8291) with the subscriber's private
key and auth secret, as the browser would. It answers with the status the test chose.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """A browser's side of one subscription: its key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


@dataclass
class Received:
    path: str
    payload: dict[str, Any] | None
    claims: dict[str, Any]
    error: str = ""


class PushService:
    """``with PushService(vapid_public_key) as service:``; ``service.endpoint(name, subscriber)``."""

    def __init__(self, vapid_public_key: str, *, hold: threading.Event | None = None) -> None:
        """``hold``: each request waits for it before it is answered (a push service that hangs)."""
        self.vapid_public_key = vapid_public_key
        self.hold = hold
        self.arrived = threading.Event()
        self.answered = threading.Event()
        self.subscribers: dict[str, Subscriber] = {}
        self.status: dict[str, int] = {}
        self.received: list[Received] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.arrived.set()
                if service.hold is not None:
                    service.hold.wait(10)
                headers = {name.lower(): value for name, value in self.headers.items()}
                service.received.append(service.check(self.path, headers, body))
                self.send_response(service.status.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()
                service.answered.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def endpoint(self, name: str, subscriber: Subscriber, status: int = 201) -> str:
        path = f"/push/{name}"
        self.subscribers[path] = subscriber
        self.status[path] = status
        return self.origin + path

    def check(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        """Verify the VAPID signature, then decrypt: a failure is recorded, not raised."""
        try:
            claims = self.verify_vapid(headers.get("authorization", ""))
        except Exception as exc:
            return Received(path, None, {}, error=f"vapid: {exc!r}")
        if headers.get("content-encoding") != "aes128gcm":
            return Received(path, None, claims, error="not aes128gcm")
        subscriber = self.subscribers[path]
        try:
            plain = http_ece.decrypt(
                body, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm"
            )
        except Exception as exc:
            return Received(path, None, claims, error=f"decrypt: {exc!r}")
        return Received(path, json.loads(plain), claims)

    def verify_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, params = authorization.partition(" ")
        assert scheme.lower() == "vapid", authorization
        values = dict(part.strip().split("=", 1) for part in params.split(","))
        assert values["k"] == self.vapid_public_key, "signed with another key"
        header, payload, signature = values["t"].split(".")
        assert json.loads(unb64url(header))["alg"] == "ES256"
        raw = unb64url(signature)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(self.vapid_public_key))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
        claims: dict[str, Any] = json.loads(unb64url(payload))
        assert claims["aud"] == self.origin, claims
        return claims
