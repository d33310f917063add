"""The visitor's copy of their conversation, as plain text (docs/safeguarding.md).

One builder for every way a visitor gets it (the page's download, the API, the email on resolution),
over one selector (``selectors.transcript_messages``) that decides which messages it holds. Authors
appear by their display name and kind, as in the room: never an account id or an email address.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone

from chat import selectors
from chat.models import AuthorKind, HelpRequest, Message

CONTENT_TYPE = "text/plain; charset=utf-8"
# Body lines after the first are indented, so no message can pass for a line of another author.
_CONTINUATION = "\n    "


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def _author(message: Message) -> str:
    # The same label as the room's (chat.js): the visitor and the system by name, helpers with their role.
    if message.author_kind in (AuthorKind.VISITOR, AuthorKind.SYSTEM):
        return message.author_name
    return f"{message.author_name} ({message.author_kind})"


def _indented(text: str) -> str:
    return _CONTINUATION.join(text.splitlines() or [""])


def transcript_filename(help_request: HelpRequest) -> str:
    """A download's file name: a plain one, since it stays in the device's downloads folder."""
    return f"conversation-{timezone.localtime(help_request.created_at):%Y-%m-%d}.txt"


def transcript_text(help_request: HelpRequest) -> str:
    lines = [
        "Your conversation with our helpline",
        "",
        f"Started: {_when(help_request.created_at)}",
        f"Topic: {help_request.get_category_display()}",
        f"Your name: {help_request.name}",
        "What you asked:",
        "    " + _indented(help_request.description),
        "",
        "Messages:",
    ]
    for message in selectors.transcript_messages(help_request_id=help_request.pk):
        lines.append(f"[{_when(message.created_at)}] {_author(message)}: {_indented(message.body)}")
    lines.append("")
    return "\n".join(lines)


def transcript_response(help_request: HelpRequest) -> HttpResponse:
    """The transcript as a download (the page's and the API's); the caller adds ``no-store``."""
    response = HttpResponse(transcript_text(help_request), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{transcript_filename(help_request)}"'
    return response
