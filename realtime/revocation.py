"""Taking access away from open sockets, in every process, within moments.

Logging out, deactivating a user, changing their roles or their password sends ``access.revoke`` to
the person's control group after commit; each of their sockets re-checks who it is talking to
(``JsonSocketConsumer.recheck_access``) and closes (4401/4403) or downgrades itself. Chat sockets
also re-check when a help request is reassigned (chat.services sends the same event).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver
from django.utils.crypto import constant_time_compare

from realtime import groups
from realtime.conf import app_settings
from realtime.limits import hashed
from realtime.publish import group_send_on_commit

REVOKE = "access.revoke"


def access_revoke(*, user_id: int, session_key: str | None = None) -> None:
    """Tell every socket of ``user_id`` to re-check its access; with ``session_key``, that session ended."""
    event = {"type": REVOKE, "session": hashed(session_key) if session_key else None}
    group_send_on_commit([groups.control_group(user_id)], event)


def access_state(*, user_id: int, session_key: str | None) -> frozenset[Any] | None:
    """The roles a socket's person holds now, or None when its session or account is gone, or when
    the session no longer vouches for the account (its password changed since the session began)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).prefetch_related("groups").first()
    if user is None:
        return None
    if session_key is not None and not session_vouches_for(session_key=session_key, user=user):
        return None
    return app_settings.roles_for(user)


def session_vouches_for(*, session_key: str, user: Any) -> bool:
    """Whether the stored session ``session_key`` still logs ``user`` in, as Django's ``get_user``
    decides for a request: it exists, it is this user's, and its auth hash (the password's HMAC)
    matches the user's current one or one made with a ``SECRET_KEY_FALLBACKS`` key."""
    from importlib import import_module

    from django.conf import settings

    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if not data or str(data.get(SESSION_KEY)) != user._meta.pk.value_to_string(user):
        return False
    session_hash = data.get(HASH_SESSION_KEY)
    if not session_hash:
        return False
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return True
    return any(constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash())


@receiver(user_logged_out)
def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and user.pk is not None:
        access_revoke(user_id=user.pk, session_key=getattr(request.session, "session_key", None))


@receiver(pre_save, sender=get_user_model())
def _remember_access(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values("is_active", "is_staff", "password").first()
    instance._access_before = before


@receiver(post_save, sender=get_user_model())
def _on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_access_before", None)
    if before and (
        before["is_active"] != instance.is_active
        or before["is_staff"] != instance.is_staff
        # A new password (set_password, a reset, the admin): sessions made with the old one stop
        # vouching for the account, as Django's get_user() decides on their next request.
        or before["password"] != instance.password
    ):
        access_revoke(user_id=instance.pk)


@receiver(m2m_changed, sender=get_user_model().groups.through)
def _on_groups_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        access_revoke(user_id=instance.pk)
    else:
        for user_id in pk_set or ():
            access_revoke(user_id=user_id)
