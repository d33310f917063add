"""A publishing process for the fault tests: notifications and chat messages at a steady pace.

It is a separate process, as a web worker or ``manage.py notify`` would be in production, and runs with
a daphne server's environment (same database, same Redis). It takes one JSON plan as its argument and
prints one line per committed item, in commit order, so the test knows what every client must get:

    n <notification id> role          a notification to the plan's role
    n <notification id> <user id>     a notification to one user
    m <message id> <help request id>  a chat message
    done

Plan keys (all optional but ``notifications``):

    notifications    how many notifications to send
    interval         seconds to sleep after each item (the pace)
    role             the role of role-wide notifications ("staff")
    user_ids         users who also get notifications of their own ...
    per_user_every   ... one in this many notifications (0: none)
    body_bytes       size of each role-wide notification's body
    user_body_bytes  size of each one-user notification's body
    rooms            help request ids to post chat messages to, in turn ...
    poster_id        ... as this staff user ...
    messages_every   ... after one in this many notifications (1: after each; 0: none)
    burst_user_id    instead of a stream: ``notifications`` notifications to this user in ONE transaction

One thread sends everything in order, so ids reach Redis (``PUBLISH``) in the order they were committed;
with several concurrent publishers that would not hold (see test_faults.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.faults.server_settings")
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from chat import services as chat_services
    from chat.participants import user_participant
    from notifications import api

    plan: dict[str, Any] = json.loads(sys.argv[1])
    count = int(plan["notifications"])
    body = "x" * int(plan.get("body_bytes", 0))
    user_body = "y" * int(plan.get("user_body_bytes", 0))

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if plan.get("burst_user_id"):
        user_id = int(plan["burst_user_id"])
        with transaction.atomic():
            ids = [api.notify_user(user_id, kind="test.burst", title=f"b{i}", body=user_body).pk for i in range(count)]
        # The pushes left at commit, just above; only now are the ids announced.
        for notification_id in ids:
            emit(f"n {notification_id} {user_id}")
        emit("done")
        return

    interval = float(plan.get("interval", 0))
    role = plan.get("role", "staff")
    user_ids = [int(user_id) for user_id in plan.get("user_ids", [])]
    per_user_every = int(plan.get("per_user_every", 0))
    rooms = [int(room) for room in plan.get("rooms", [])]
    messages_every = int(plan.get("messages_every", 0))
    poster = user_participant(get_user_model().objects.get(pk=plan["poster_id"])) if rooms else None

    for i in range(count):
        if per_user_every and user_ids and i % per_user_every == 0:
            user_id = user_ids[(i // per_user_every) % len(user_ids)]
            sent = api.notify_user(user_id, kind="test.fault", title=f"n{i}", body=user_body)
            emit(f"n {sent.pk} {user_id}")
        else:
            sent = api.notify_role(role, kind="test.fault", title=f"n{i}", body=body)
            emit(f"n {sent.pk} role")
        if poster is not None and messages_every and i % messages_every == 0:
            room = rooms[(i // messages_every) % len(rooms)]
            message, _ = chat_services.message_post(
                help_request_id=room, participant=poster, body=f"m{i}", client_id=uuid.uuid4().hex
            )
            emit(f"m {message.pk} {room}")
        if interval:
            time.sleep(interval)
    emit("done")


if __name__ == "__main__":
    main()
