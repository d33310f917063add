"""Send a notification from the command line.

    python manage.py notify --role volunteer --kind shift.changed --title "Saturday moved to 10:00"
    python manage.py notify --user alice --user bob --kind system.alert --title "Hi" --critical
    python manage.py notify --all --kind system.alert --title "Flood warning" --critical

It reaches sockets held by a separately running server: through Redis with REDIS_URL, else through
the local bus of the machine's processes that share the database (realtime/localbus.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from charity.roles import Role
from notifications import api
from notifications.audience import Audience


class Command(BaseCommand):
    help = "Send a notification to users, a role or everyone."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", action="append", dest="users", metavar="USERNAME", help="Repeatable.")
        target.add_argument("--role", choices=[role.value for role in Role.account_roles()])
        target.add_argument("--all", action="store_true", dest="everyone")
        parser.add_argument("--kind", required=True, help="Dotted kind, e.g. system.alert")
        parser.add_argument("--title", required=True)
        parser.add_argument("--body", default="")
        parser.add_argument("--data", default="{}", help="JSON object")
        parser.add_argument("--critical", action="store_true")
        parser.add_argument("--ttl", type=int, default=None, help="Seconds before it expires")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = json.loads(options["data"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--data is not JSON: {exc}") from exc
        if options["users"]:
            users = list(get_user_model().objects.filter(username__in=options["users"]))
            missing = set(options["users"]) - {user.get_username() for user in users}
            if missing:
                raise CommandError(f"Unknown user(s): {', '.join(sorted(missing))}")
            audience = Audience.users(users)
        elif options["role"]:
            audience = Audience.for_role(options["role"])
        else:
            audience = Audience.all()
        try:
            notification = api.notify(
                audience,
                kind=options["kind"],
                title=options["title"],
                body=options["body"],
                data=data,
                priority=api.CRITICAL if options["critical"] else api.NORMAL,
                ttl=options["ttl"],
            )
        except api.NotificationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Sent notification {notification.pk} to {notification.recipient_count} recipient(s).")
