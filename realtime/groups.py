"""Group names (realtime.fanout). Every group name in the project is built here and nowhere else.

Group names may only contain ASCII letters, digits, hyphens, underscores and periods,
and must be shorter than 100 characters.
"""

from __future__ import annotations

import re
from uuid import UUID

EVERYONE = "everyone"
#: A role name: lowercase letters, digits, ``_`` and ``-`` (Django auth group names that are not
#: names of this kind have no role group).
ROLE_NAME = re.compile(r"^[a-z0-9_-]{1,50}$")


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def role_group(role: str) -> str:
    """Every socket of the people holding ``role`` (a role name, ``REALTIME_ROLES_FUNCTION``)."""
    name = str(role)
    if not ROLE_NAME.match(name):
        raise ValueError(f"Invalid role name {name!r}")
    return f"role.{name}"


def everyone_group() -> str:
    return EVERYONE


def help_request_group(public_id: UUID | str) -> str:
    return f"help_request.{UUID(str(public_id)).hex}"


def help_request_helpers_group(public_id: UUID | str) -> str:
    """The helpers and staff in one room (never its visitor): internal notes travel here only."""
    return f"help_request_helpers.{UUID(str(public_id)).hex}"


def topic_group(topic: str) -> str:
    """Group for a named live topic such as ``dashboard``."""
    return f"topic.{topic}"


def help_request_queue_group() -> str:
    """Volunteers' and staff's live queue of help requests (waiting and assigned)."""
    return "help_requests.queue"


def control_group(user_id: int) -> str:
    """Every socket of one logged-in person, for access changes (logout, deactivation, role change)."""
    return f"control.{int(user_id)}"


def help_desk_group(user_id: int) -> str:
    """One helper's own queue sockets: what only they see there (their desk, their capacity)."""
    return f"help_desk.{int(user_id)}"
