"""Group names (charity.fanout). Every group name in the project is built here and nowhere else.

Group names may only contain ASCII letters, digits, hyphens, underscores and periods,
and must be shorter than 100 characters.
"""

from __future__ import annotations

from uuid import UUID

from charity.roles import Role

EVERYONE = "everyone"


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def role_group(role: Role | str) -> str:
    return f"role.{Role(role).value}"


def everyone_group() -> str:
    return EVERYONE


def help_request_group(public_id: UUID | str) -> str:
    return f"help_request.{UUID(str(public_id)).hex}"


def topic_group(topic: str) -> str:
    """Group for a named live topic such as ``dashboard``."""
    return f"topic.{topic}"


def help_request_queue_group() -> str:
    """Volunteers' and staff's live queue of help requests (waiting and assigned)."""
    return "help_requests.queue"


def control_group(user_id: int) -> str:
    """Every socket of one logged-in person, for access changes (logout, deactivation, role change)."""
    return f"control.{int(user_id)}"
