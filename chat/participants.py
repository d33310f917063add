"""Who is speaking in a room: the visitor, a volunteer, a staff member, or the system.

A participant's ``key`` identifies the person, not the socket: every tab and device of the visitor is
``visitor``, every socket of a user is ``user:<id>``. Presence counts keys, read cursors are per key,
and "the others" (typing, read) are the sockets with another key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat.models import AuthorKind, HelpRequest

VISITOR_KEY = "visitor"


@dataclass(frozen=True)
class Participant:
    kind: AuthorKind
    name: str
    key: str
    user_id: int | None = None

    def author(self) -> dict[str, str]:
        return {"kind": self.kind.value, "name": self.name}

    @property
    def is_helper(self) -> bool:
        """A volunteer or staff member: may read the room's internal notes (a visitor never)."""
        return self.kind in (AuthorKind.VOLUNTEER, AuthorKind.STAFF)


def display_name(user: Any) -> str:
    full_name = str(user.get_full_name() or "").strip() if hasattr(user, "get_full_name") else ""
    return full_name or str(user.get_username())


def user_key(user_id: int) -> str:
    return f"user:{int(user_id)}"


def user_participant(user: Any) -> Participant:
    """A volunteer or staff member as they appear in rooms."""
    kind = AuthorKind.STAFF if getattr(user, "is_staff", False) else AuthorKind.VOLUNTEER
    return Participant(kind=kind, name=display_name(user), key=user_key(user.pk), user_id=int(user.pk))


def visitor_participant(help_request: HelpRequest) -> Participant:
    return Participant(kind=AuthorKind.VISITOR, name=help_request.name, key=VISITOR_KEY)


def system_author() -> dict[str, str]:
    return {"kind": AuthorKind.SYSTEM.value, "name": "System"}


def system_participant() -> Participant:
    """The site itself, as the author of notes it writes (the risk list's flag, for one)."""
    return Participant(kind=AuthorKind.SYSTEM, name="System", key="system")
