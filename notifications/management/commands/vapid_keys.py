"""Print a new VAPID key pair for Web Push, as the two settings to put in the environment."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management.base import BaseCommand


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vapid_key_pair() -> tuple[str, str]:
    """(private, public): the raw P-256 private number and the uncompressed public point, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = _b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    public = _b64url(key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    return private, public


class Command(BaseCommand):
    help = "Generate a VAPID key pair for Web Push (keep the private one secret)."

    def handle(self, *args: Any, **options: Any) -> None:
        private, public = vapid_key_pair()
        self.stdout.write(f"NOTIFICATIONS_VAPID_PRIVATE_KEY={private}\nNOTIFICATIONS_VAPID_PUBLIC_KEY={public}")
