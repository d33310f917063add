"""The chat's REST endpoints (DRF), one view per operation (wire contract: docs/chat-protocol.md).

* ``POST /api/help-requests/``: an anonymous visitor opens a help request.
* ``GET /api/help-requests/<public_id>/``: the request.
* ``GET|POST /api/help-requests/<public_id>/messages/``: its messages, a page at a time (``?after=``);
  post one (idempotent on ``client_id``, as on the socket).
* ``POST .../messages/<message_id>/redact/``: staff remove a message's text (``reason`` required).
* ``POST .../read/``: move the reader's cursor, as the socket's ``read`` frame.
* ``POST .../claim/``, ``.../assign/``, ``.../resolve/``, ``.../close/``: state changes, as the pages.
* ``POST .../token/``: the visitor's new secret (the old one, and what it vouched for, stop working).
* ``POST .../ticket/``: a single-use connect ticket for the room's socket or SSE stream (``?ticket=``).
* ``GET .../canned-replies/``: the canned replies for the room's helpers, placeholders filled.
* ``POST .../erase/``: the visitor deletes their conversation (``services.help_request_erase``).
* ``GET .../transcript/``: the visitor's copy of the conversation, plain text.
* ``POST .../transcript-email/``: the visitor's choice to get it by email on resolution.
* ``POST .../feedback/``: the visitor rates the help of a resolved request (once).
* ``GET|POST .../notes/``: the room's internal notes (helpers and staff only, never the visitor).
* ``POST .../transfer/``: the assignee or staff hand the request to a colleague or back to the queue.
* ``POST .../support/``: the assignee asks staff for support (a critical notification).
* ``POST .../urgent/``: a helper or staff raise or clear the urgent flag, with a note (audited).
* ``POST .../join/``: a staff member joins the conversation visibly ("A supervisor joined").

These are also the write side of the room's SSE fallback (``chat/sse.py``). Every operation goes
through ``chat.services``, exactly as the socket and the pages do, so its effects (room frames,
notifications, queue updates) are the same whichever path made it. Who may see a room is the one rule
(``chat.permissions.IsHelpRequestParticipant``); a visitor proves ownership with their session or
with the request's token in the ``X-Help-Request-Token`` header. Every answer is ``no-store``: they
carry conversation text or a secret.

Bodies must be JSON (no form encodings, 415), and a visitor vouched for by the session cookie alone
must send Django's CSRF token as well: another site cannot make a visitor's browser post for them.
Logged-in people get DRF's own CSRF check; other software authenticates with
``Authorization: Token <key>``.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponseBase
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from chat import audit, blocks, events, selectors, services, transcripts, visitors
from chat.app_settings import app_settings as app_settings_chat
from chat.models import AccessChannel, HelpRequest
from chat.participants import Participant
from chat.permissions import (
    TOKEN_HEADER,
    IsHelper,
    IsHelpRequestParticipant,
    IsRoomHelper,
    IsStaff,
    IsVisitor,
    request_participant,
)
from chat.serializers import (
    AssignIn,
    CannedReplyOut,
    ChatErrorOut,
    ChatMessageIn,
    ChatMessageOut,
    ChatMessagePageOut,
    ChatMessagePageQuery,
    ConnectTicketOut,
    FeedbackIn,
    FeedbackOut,
    HelpRequestCreatedOut,
    HelpRequestCreateIn,
    HelpRequestOut,
    NoteIn,
    NoteListOut,
    NoteOut,
    ReadCursorIn,
    ReadCursorOut,
    RedactIn,
    TranscriptEmailIn,
    TranscriptEmailOut,
    TransferIn,
    UrgentIn,
    VisitorTokenOut,
)
from realtime import limits
from realtime.conf import app_settings
from realtime.parsers import JSONParser
from realtime.throttles import RECEIPT_THROTTLES

# A refused service call, by its socket error code: 400 carries field errors, the others {code, detail}.
_STATUS_BY_CODE = {
    services.ChatErrorCode.INVALID: status.HTTP_400_BAD_REQUEST,
    services.ChatErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    services.ChatErrorCode.CONFLICT: status.HTTP_409_CONFLICT,
    services.ChatErrorCode.READ_ONLY: status.HTTP_409_CONFLICT,
    services.ChatErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    services.ChatErrorCode.AT_CAPACITY: status.HTTP_409_CONFLICT,
    services.ChatErrorCode.UNAVAILABLE: status.HTTP_403_FORBIDDEN,
}

_PUBLIC_ID = OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The request's id.")
_ROOM_PARAMETERS = [
    _PUBLIC_ID,
    OpenApiParameter(TOKEN_HEADER, str, OpenApiParameter.HEADER, description="The visitor's token."),
]
_REFUSALS: dict[int | str, Any] = {
    403: OpenApiResponse(ChatErrorOut, description="Not allowed (or a missing CSRF token)."),
    404: OpenApiResponse(ChatErrorOut, description="No such help request (or a malformed id)."),
}


RATE_LIMITED = "Too many help requests from this address. Please try again later."


def chat_error_response(exc: services.ChatError) -> Response:
    body = exc.detail if isinstance(exc.detail, dict) else {"code": exc.code, "detail": str(exc.detail)}
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return Response(body, status=_STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST), headers=headers)


def help_request_data(help_request: HelpRequest) -> dict[str, Any]:
    item = events.queue_item(help_request, queue_position=selectors.queue_position(help_request=help_request))
    return HelpRequestOut(item).data


class NeverCachedApi(APIView):
    """Answers carry conversation text or a visitor's secret: no browser or proxy keeps them."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response


class HelpRequestCreateApi(NeverCachedApi):
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(
        request=HelpRequestCreateIn,
        responses={
            201: HelpRequestCreatedOut,
            400: OpenApiResponse(description="Field errors."),
            403: OpenApiResponse(
                ChatErrorOut,
                description="unavailable: chat is not open to this visitor (the detail lists alternatives).",
            ),
            429: OpenApiResponse(ChatErrorOut, description="Too many help requests from this address."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = HelpRequestCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        address = limits.request_client_ip(request)
        if blocks.is_blocked(address=address, grants=visitors.session_grants(request.session)):
            return Response(
                {"code": services.ChatErrorCode.UNAVAILABLE, "detail": app_settings_chat.UNAVAILABLE_TEXT},
                status=status.HTTP_403_FORBIDDEN,
            )
        if not limits.help_request_allowed(request):
            return Response(
                {"code": "rate_limited", "detail": RATE_LIMITED},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(limits.seconds_left(app_settings.HELP_REQUEST_WINDOW))},
            )
        visitors.session_prepare(request)
        try:
            help_request = services.help_request_create(**serializer.validated_data, address=address)
        except services.ChatError as exc:
            return chat_error_response(exc)
        token = services.help_request_token_rotate(help_request=help_request)
        visitors.session_grant(request.session, help_request)
        output = HelpRequestCreatedOut(
            {
                "public_id": help_request.public_id,
                "url": request.build_absolute_uri(help_request.get_absolute_url()),
                "status": help_request.status,
                "queue_position": selectors.queue_position(help_request=help_request),
                "token": token,
            }
        )
        return Response(output.data, status=status.HTTP_201_CREATED)


class HelpRequestApi(NeverCachedApi):
    """Base of the endpoints of one request: JSON only, the room rule, 404 for unknown ids.

    Visitors have no account: anyone gets past DRF's gate (``AllowAny``, which also marks the
    schema's operations as open to anonymous callers), and the room rule decides on the object.
    """

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant]
    parser_classes = [JSONParser]

    def anonymous_identity(self, request: Request) -> str | None:
        """Who an anonymous caller is for the write limits (``realtime.throttles``): the room, once
        the room rule let them in (its visitor, by token or session, on every device); None (the
        client address) for anyone else, so a made-up token or a fresh session buys nothing."""
        help_request = self._help_request()
        if help_request is None or request_participant(request, help_request) is None:
            return None
        return f"room:{help_request.public_id.hex}"

    def _help_request(self) -> HelpRequest | None:
        # Read once per request: the write throttle (before the handler) and get_object() share it.
        if "_found" not in self.__dict__:
            self.__dict__["_found"] = selectors.help_request_get(public_id=self.kwargs["public_id"])
        return self.__dict__["_found"]  # type: ignore[no-any-return]

    def get_object(self) -> HelpRequest:
        help_request = self._help_request()
        if help_request is None:
            raise NotFound("No such help request.")
        self.check_object_permissions(self.request, help_request)
        return help_request

    def participant(self, help_request: HelpRequest) -> Participant:
        participant = request_participant(self.request, help_request)
        assert participant is not None  # checked by IsHelpRequestParticipant
        return participant

    def audit_read(self, help_request: HelpRequest) -> None:
        """An account read the conversation through the API (``chat.audit``; the visitor is not recorded)."""
        audit.access_read(
            help_request_id=help_request.pk,
            participant=self.participant(help_request),
            user=self.request.user,
            channel=audit.AccessChannel.API,
        )


class HelpRequestDetailApi(HelpRequestApi):
    @extend_schema(parameters=_ROOM_PARAMETERS, responses={200: HelpRequestOut, **_REFUSALS})
    def get(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        self.audit_read(help_request)
        return Response(help_request_data(help_request))


class HelpRequestMessagesApi(HelpRequestApi):
    @extend_schema(
        summary="Messages, oldest first, a page at a time",
        parameters=[*_ROOM_PARAMETERS, ChatMessagePageQuery],
        responses={200: ChatMessagePageOut, 400: OpenApiResponse(description="Field errors."), **_REFUSALS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        query = ChatMessagePageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.audit_read(help_request)
        messages, has_more = selectors.messages_after(
            help_request_id=help_request.pk, after=query.validated_data["after"], limit=query.validated_data["limit"]
        )
        next_url = None
        if has_more:
            # A token put in the URL by an old client is not believed, and not repeated either.
            next_url = remove_query_param(request.build_absolute_uri(), "token")
            next_url = replace_query_param(next_url, "after", messages[-1].pk)
        page = {"messages": [events.message_frame(m) for m in messages], "has_more": has_more, "next": next_url}
        return Response(ChatMessagePageOut(page).data)

    @extend_schema(
        summary="Post a message (idempotent on client_id)",
        parameters=_ROOM_PARAMETERS,
        request=ChatMessageIn,
        responses={
            201: OpenApiResponse(ChatMessageOut, description="Created and sent to the room."),
            200: OpenApiResponse(ChatMessageOut, description="A re-sent client_id: the original message."),
            400: OpenApiResponse(description="Field errors."),
            409: OpenApiResponse(ChatErrorOut, description="read_only: the request is resolved or closed."),
            429: OpenApiResponse(ChatErrorOut, description="rate_limited: too many messages (Retry-After)."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = ChatMessageIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message, created = services.message_post(
                help_request_id=help_request.pk,
                public_id=help_request.public_id,
                participant=self.participant(help_request),
                body=serializer.validated_data["body"],
                client_id=serializer.validated_data["client_id"],
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(
            ChatMessageOut(events.message_frame(message)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class HelpRequestMessageRedactApi(HelpRequestApi):
    """Staff remove one message's text (``services.message_redact``); the room sees it live."""

    permission_classes = [IsAuthenticated, IsStaff]

    @extend_schema(
        summary="Remove a message's text (staff)",
        description="The body is replaced by a fixed text in the database; the original is kept nowhere. "
        "The reason goes to the audit trail. Every open socket and stream of the room gets a redacted frame.",
        parameters=[
            _PUBLIC_ID,
            OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The message's id."),
        ],
        request=RedactIn,
        responses={
            200: OpenApiResponse(ChatMessageOut, description="The message, redacted."),
            400: OpenApiResponse(description="Field errors (a reason is required)."),
            409: OpenApiResponse(ChatErrorOut, description="conflict: the message was already removed."),
            403: _REFUSALS[403],
            404: OpenApiResponse(ChatErrorOut, description="No such help request, or no such message in it."),
        },
    )
    def post(self, request: Request, public_id: str, message_id: str) -> Response:
        help_request = self.get_object()
        message = selectors.message_get(help_request_id=help_request.pk, message_id=message_id)
        if message is None:
            raise NotFound("No such message in this help request.")
        serializer = RedactIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = services.message_redact(
                message=message, by=request.user, reason=serializer.validated_data["reason"], channel=AccessChannel.API
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(ChatMessageOut(events.message_frame(message)).data)


class HelpRequestReadApi(HelpRequestApi):
    throttle_classes = RECEIPT_THROTTLES

    @extend_schema(
        summary="Move the reader's cursor (the socket's read frame)",
        parameters=_ROOM_PARAMETERS,
        request=ReadCursorIn,
        responses={200: ReadCursorOut, 400: OpenApiResponse(description="Field errors."), **_REFUSALS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = ReadCursorIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        up_to = serializer.validated_data["up_to"]
        try:
            moved = services.read_mark(
                help_request_id=help_request.pk, participant=self.participant(help_request), up_to=up_to
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(ReadCursorOut({"up_to": up_to, "moved": moved}).data)


_CHANGE_RESPONSES: dict[int | str, Any] = {
    200: HelpRequestOut,
    409: OpenApiResponse(ChatErrorOut, description="conflict: not possible in the request's current status."),
    **_REFUSALS,
}
_TAKE_RESPONSES: dict[int | str, Any] = {
    **_CHANGE_RESPONSES,
    409: OpenApiResponse(
        ChatErrorOut,
        description="conflict: no longer waiting (or not assignable); at_capacity: the helper holds as many "
        "active conversations as they may (the detail says so).",
    ),
}


class HelpRequestClaimApi(HelpRequestApi):
    """A volunteer or staff member takes a waiting request (as ``Take`` in the queue)."""

    permission_classes = [IsAuthenticated, IsHelper]

    @extend_schema(summary="Take a waiting request", parameters=[_PUBLIC_ID], request=None, responses=_TAKE_RESPONSES)
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        try:
            help_request = services.help_request_claim(help_request=help_request, user=request.user)
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(help_request_data(help_request))


class HelpRequestAssignApi(HelpRequestApi):
    """Staff give a waiting or assigned request to a volunteer or staff member."""

    permission_classes = [IsAuthenticated, IsStaff]

    @extend_schema(
        summary="Assign (or reassign) a request",
        parameters=[_PUBLIC_ID],
        request=AssignIn,
        responses={**_TAKE_RESPONSES, 400: OpenApiResponse(description="Field errors.")},
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = AssignIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            help_request = services.help_request_assign(
                help_request=help_request, assignee=serializer.validated_data["user"], by=request.user
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(help_request_data(help_request))


class HelpRequestResolveApi(HelpRequestApi):
    """The assignee or staff mark a request resolved; its room becomes read-only."""

    @extend_schema(summary="Mark resolved", parameters=_ROOM_PARAMETERS, request=None, responses=_CHANGE_RESPONSES)
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        try:
            help_request = services.help_request_resolve(help_request=help_request, by=self.participant(help_request))
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(help_request_data(help_request))


class HelpRequestCloseApi(HelpRequestApi):
    """The visitor, the assignee or staff close a request; its room becomes read-only."""

    @extend_schema(summary="Close", parameters=_ROOM_PARAMETERS, request=None, responses=_CHANGE_RESPONSES)
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        try:
            help_request = services.help_request_close(help_request=help_request, by=self.participant(help_request))
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(help_request_data(help_request))


class HelpRequestTokenApi(HelpRequestApi):
    """The visitor replaces their secret ("new private link")."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsVisitor]

    @extend_schema(
        summary="Replace the visitor's token",
        description="The old token, the sessions and tickets it vouched for and the visitor's open "
        "connections stop working. The new token is in this answer only.",
        parameters=_ROOM_PARAMETERS,
        request=None,
        responses={
            200: VisitorTokenOut,
            409: OpenApiResponse(ChatErrorOut, description="The visitor's access has ended."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        owned_by_session = visitors.session_owns(request.session, help_request)
        try:
            token = services.help_request_token_rotate(help_request=help_request)
        except services.ChatError as exc:
            return chat_error_response(exc)
        if owned_by_session:  # the caller's own browser stays an owner
            visitors.session_grant(request.session, help_request)
        return Response(VisitorTokenOut({"token": token}).data)


class HelpRequestTicketApi(HelpRequestApi):
    """A single-use, short-lived ticket to open the room's socket or stream without the token in its URL."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsVisitor]

    @extend_schema(
        summary="A connect ticket for the room's socket or SSE stream",
        parameters=_ROOM_PARAMETERS,
        request=None,
        responses={200: ConnectTicketOut, **_REFUSALS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        ticket = visitors.ticket_issue(help_request)
        return Response(ConnectTicketOut({"ticket": ticket, "expires_in": app_settings_chat.TICKET_TTL}).data)


class HelpRequestCannedRepliesApi(HelpRequestApi):
    """The canned replies a helper may insert in this room (and edit before sending)."""

    permission_classes = [IsAuthenticated, IsRoomHelper]

    @extend_schema(
        summary="Canned replies for this room",
        parameters=[_PUBLIC_ID],
        responses={200: CannedReplyOut(many=True), **_REFUSALS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        replies = selectors.canned_replies_for(help_request=help_request, helper=request.user)
        return Response(CannedReplyOut(replies, many=True).data)


class HelpRequestEraseApi(HelpRequestApi):
    """The visitor deletes their conversation now; the anonymous statistic stays."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsVisitor]

    @extend_schema(
        summary="Delete the conversation (the visitor's erasure)",
        description="The messages, read cursors, name, contact and description are deleted and the request "
        "is closed; the room gets an `erased` frame, and the visitor's token, sessions, tickets and open "
        "connections stop working. Volunteers and staff get 403 (staff erase from the admin).",
        parameters=_ROOM_PARAMETERS,
        request=None,
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: OpenApiResponse(ChatErrorOut, description="conflict: already deleted."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        try:
            services.help_request_erase(help_request=help_request, by=self.participant(help_request))
        except services.ChatError as exc:
            return chat_error_response(exc)
        visitors.session_forget(request.session, help_request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _TextOrJsonRenderer(BaseRenderer):
    """Lets a client that asks for ``text/plain`` in; the transcript itself is a Django response,
    and refusals are its JSON text."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


class HelpRequestTranscriptApi(HelpRequestApi):
    """The visitor's copy of the conversation, as the page's download."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsVisitor]
    renderer_classes = [JSONRenderer, _TextOrJsonRenderer]

    @extend_schema(
        summary="Download the conversation as plain text (the visitor only)",
        parameters=_ROOM_PARAMETERS,
        responses={(200, "text/plain"): OpenApiTypes.STR, **_REFUSALS},
    )
    def get(self, request: Request, public_id: str) -> HttpResponseBase:
        return transcripts.transcript_response(self.get_object())


class HelpRequestTranscriptEmailApi(HelpRequestApi):
    """The visitor chooses whether the transcript is emailed to their contact on resolution."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsVisitor]

    @extend_schema(
        summary="Email me the transcript when resolved (the visitor only)",
        parameters=_ROOM_PARAMETERS,
        request=TranscriptEmailIn,
        responses={
            200: TranscriptEmailOut,
            400: OpenApiResponse(description="Field errors: the contact is not an email address."),
            409: OpenApiResponse(ChatErrorOut, description="conflict: already resolved or closed."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = TranscriptEmailIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            help_request = services.help_request_transcript_email_set(
                help_request=help_request,
                by=self.participant(help_request),
                wanted=serializer.validated_data["wanted"],
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(
            TranscriptEmailOut({"transcript_email_requested": help_request.transcript_email_requested}).data
        )


class HelpRequestFeedbackApi(HelpRequestApi):
    """The visitor rates the help once the request is resolved: 1 to 5 and an optional comment, once."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsVisitor]

    @extend_schema(
        summary="Rate the help (visitor only, once, after resolution)",
        parameters=_ROOM_PARAMETERS,
        request=FeedbackIn,
        responses={
            201: FeedbackOut,
            400: OpenApiResponse(description="Field errors (rating 1 to 5, comment at most 2,000 characters)."),
            409: OpenApiResponse(ChatErrorOut, description="conflict: not resolved, or rated already."),
            **_REFUSALS,
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = FeedbackIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            feedback = services.feedback_submit(
                help_request=help_request, by=self.participant(help_request), **serializer.validated_data
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(FeedbackOut({"rating": feedback.rating, "comment": feedback.comment}).data, status=201)


# -- supervision, notes and handoff ------------------------------------------------------------------


class RoomHelperApi(HelpRequestApi):
    """The room's helpers and staff only: a visitor (by session or token) gets 403."""

    permission_classes: Any = [AllowAny, IsHelpRequestParticipant, IsRoomHelper]


_HELPERS_ONLY: dict[int | str, Any] = {
    403: OpenApiResponse(ChatErrorOut, description="Not one of the room's helpers or staff (a visitor, for one)."),
    404: _REFUSALS[404],
}


class HelpRequestNotesApi(RoomHelperApi):
    @extend_schema(
        summary="The room's internal notes (helpers and staff only)",
        parameters=[_PUBLIC_ID],
        responses={200: NoteListOut, **_HELPERS_ONLY},
    )
    def get(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        self.audit_read(help_request)
        return Response(NoteListOut(events.notes_frame(selectors.notes_for(help_request_id=help_request.pk))).data)

    @extend_schema(
        summary="Write an internal note (a supervisor's whisper)",
        description="The room's helpers and staff get it as a `note` frame; the visitor never does.",
        parameters=[_PUBLIC_ID],
        request=NoteIn,
        responses={
            201: NoteOut,
            400: OpenApiResponse(description="Field errors."),
            403: OpenApiResponse(ChatErrorOut, description="Not the assignee or staff."),
            404: _REFUSALS[404],
            429: OpenApiResponse(ChatErrorOut, description="rate_limited: too many messages (Retry-After)."),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = NoteIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            note = services.note_post(
                help_request_id=help_request.pk,
                participant=self.participant(help_request),
                body=serializer.validated_data["body"],
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(NoteOut(events.note_frame(note)).data, status=status.HTTP_201_CREATED)


class HelpRequestTransferApi(RoomHelperApi):
    """The assignee or staff hand an assigned request to a colleague, or back to the queue."""

    @extend_schema(
        summary="Hand the request over (to a colleague, or back to the queue with to=null)",
        parameters=[_PUBLIC_ID],
        request=TransferIn,
        responses={
            200: HelpRequestOut,
            400: OpenApiResponse(description="Field errors (to, note)."),
            403: OpenApiResponse(ChatErrorOut, description="Not the assignee or staff."),
            404: _REFUSALS[404],
            409: OpenApiResponse(ChatErrorOut, description="conflict: nobody is helping with it (not assigned)."),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = TransferIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            help_request = services.help_request_transfer(
                help_request=help_request,
                by=self.participant(help_request),
                to=serializer.validated_data["to"],
                note=serializer.validated_data["note"],
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(help_request_data(help_request))


class HelpRequestSupportApi(RoomHelperApi):
    """ "Ask for support": staff get a critical notification with a link to watch the room."""

    @extend_schema(
        summary="Ask staff for support",
        parameters=[_PUBLIC_ID],
        request=None,
        responses={
            201: NoteOut,
            403: OpenApiResponse(ChatErrorOut, description="Not the assignee or staff."),
            404: _REFUSALS[404],
            409: OpenApiResponse(ChatErrorOut, description="read_only: the request is resolved or closed."),
            429: OpenApiResponse(ChatErrorOut, description="rate_limited: asked too often this hour."),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        try:
            note = services.help_request_support(help_request_id=help_request.pk, by=self.participant(help_request))
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(NoteOut(events.note_frame(note)).data, status=status.HTTP_201_CREATED)


class HelpRequestUrgentApi(RoomHelperApi):
    """A helper or staff member raises or clears the urgent flag, with a note (audited)."""

    @extend_schema(
        summary="Flag the request urgent, or clear the flag",
        parameters=[_PUBLIC_ID],
        request=UrgentIn,
        responses={
            200: HelpRequestOut,
            400: OpenApiResponse(description="Field errors (a reason is required)."),
            **_HELPERS_ONLY,
            409: OpenApiResponse(ChatErrorOut, description="read_only: the request is resolved or closed."),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        serializer = UrgentIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            help_request = services.help_request_set_urgent(
                help_request=help_request, by=request.user, channel=AccessChannel.API, **serializer.validated_data
            )
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(help_request_data(help_request))


class HelpRequestJoinApi(RoomHelperApi):
    """A staff member joins the conversation visibly (after watching it)."""

    permission_classes: Any = [IsAuthenticated, IsStaff, IsHelpRequestParticipant]

    @extend_schema(
        summary="Join the conversation as a supervisor",
        description='The visitor sees the system message "A supervisor joined the conversation".',
        parameters=[_PUBLIC_ID],
        request=None,
        responses={
            201: OpenApiResponse(ChatMessageOut, description="The system message, sent to the room."),
            403: OpenApiResponse(ChatErrorOut, description="Not staff."),
            404: _REFUSALS[404],
            409: OpenApiResponse(ChatErrorOut, description="read_only: the request is resolved or closed."),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        help_request = self.get_object()
        try:
            message = services.supervisor_join(help_request=help_request, by=self.participant(help_request))
        except services.ChatError as exc:
            return chat_error_response(exc)
        return Response(ChatMessageOut(events.message_frame(message)).data, status=status.HTTP_201_CREATED)
