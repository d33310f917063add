"""Blocks of abusive visitors: what a block matches, without keeping anyone's address.

A block (``VisitorBlock``) covers two things until it expires:

* **the device**: the hash of the request's visitor secret at block time. Every browser session that
  owns the request holds that hash as its grant (``chat.visitors``), so it is recognised on the form
  and on the request's page; the secret itself is revoked, so the token, links and sockets stop too.
* **the address**: ``HelpRequest.address_check``, made when the request was opened: a random salt and
  an HMAC (SHA-256, keyed by ``SECRET_KEY`` and that salt) of the client's network (IPv4 address or
  IPv6 /64, as every address limit: ``realtime.limits.address_network``). The daily-rotating key of
  the rate limits would forget the address overnight; a per-request salt keeps the hash stable for
  the block's whole duration, yet no two requests can be linked by their hashes, and nothing tells
  an address without ``SECRET_KEY`` and a guess of it. A new visitor is checked against each active
  block in turn (a few at most). The check is erased with its request; a block copies it and keeps it
  until it expires (``chat_sweep`` deletes expired blocks).

The blocked visitor is never told "blocked": they see ``CHAT_UNAVAILABLE_TEXT`` (the alternatives).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from chat.models import VisitorBlock
from realtime.limits import address_network

ADDRESS_SALT = "chat.blocks.address"


def _digest(salt: str, address: str) -> str:
    return salted_hmac(f"{ADDRESS_SALT}:{salt}", address_network(address), algorithm="sha256").hexdigest()[:40]


def address_check_make(address: str) -> str:
    """The block-ready check of a client address (``""`` for none): ``salt$digest``."""
    if not address:
        return ""
    salt = secrets.token_hex(8)
    return f"{salt}${_digest(salt, address)}"


def address_matches(check: str, address: str) -> bool:
    salt, _, digest = check.partition("$")
    return bool(salt and digest and address) and constant_time_compare(_digest(salt, address), digest)


def active_blocks(*, now: datetime | None = None) -> list[VisitorBlock]:
    return list(VisitorBlock.objects.filter(expires_at__gt=now or timezone.now()))


def is_blocked(*, address: str = "", grants: Iterable[str] = (), now: datetime | None = None) -> bool:
    """Whether a visitor with this client ``address`` and these session grants (secret hashes) is
    blocked now."""
    grants = {grant for grant in grants if grant}
    for block in active_blocks(now=now):
        if block.token_hash and block.token_hash in grants:
            return True
        if block.address_check and address_matches(block.address_check, address):
            return True
    return False
