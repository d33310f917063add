"""The chat's pages: the visitor's form and page, the helpers' queue and rooms, and state changes.

Every page renders visitor text through Django's auto-escaping, and the inline scripts insert text
with ``textContent`` only: what a visitor typed is shown as text everywhere, never as HTML.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from charity.roles import Role, helpers, is_helper, roles_for
from chat import audit, blocks, events, selectors, services, transcripts, visitors
from chat.api_views import RATE_LIMITED
from chat.app_settings import app_settings
from chat.forms import FeedbackForm, HelpRequestForm
from chat.models import AuthorKind, HelpRequest, Status
from chat.participants import Participant
from chat.rooms import WATCH_MODE
from realtime import limits


def _help_request_or_404(public_id: UUID) -> HelpRequest:
    help_request = selectors.help_request_get(public_id=public_id)
    if help_request is None:
        raise Http404("No such help request.")
    return help_request


def _participant_or_403(request: HttpRequest, help_request: HelpRequest) -> Participant:
    participant = selectors.help_request_participant(
        help_request=help_request, user=request.user, session=request.session, token=None
    )
    if participant is None:
        raise PermissionDenied("You cannot see this help request.")
    return participant


def _visitor_or_403(request: HttpRequest, help_request: HelpRequest) -> Participant:
    participant = _participant_or_403(request, help_request)
    if participant.kind != AuthorKind.VISITOR:
        raise PermissionDenied("Only the visitor can do this.")
    return participant


def _require_helper(request: HttpRequest) -> frozenset[Role]:
    roles = roles_for(request.user)
    if not is_helper(roles):
        raise PermissionDenied("Only volunteers and staff can see the queue.")
    return roles


def _waiting_room_context() -> dict[str, Any]:
    """What every visitor page shows of the waiting room: the emergency text, opening hours and
    alternatives (``helpline``) and who is on duty now (``wait``)."""
    return {
        "helpline": selectors.helpline_config(),
        "helpline_time_zone": settings.TIME_ZONE,
        "wait": selectors.wait_snapshot(),
    }


def _unavailable(request: HttpRequest) -> HttpResponse:
    """What a blocked visitor sees: neutral, with the alternatives (never "you are blocked")."""
    return render(request, "chat/unavailable.html", {"text": app_settings.UNAVAILABLE_TEXT}, status=403)


def help_request_new(request: HttpRequest) -> HttpResponse:
    """The form; when nobody is on duty it says so first and offers to leave a message instead."""
    address = limits.request_client_ip(request)
    if blocks.is_blocked(address=address, grants=visitors.session_grants(request.session)):
        return _unavailable(request)
    form = HelpRequestForm(request.POST or None)
    context: dict[str, Any] = {"form": form, **_waiting_room_context()}
    if request.method == "POST" and form.is_valid():
        if not limits.help_request_allowed(request):
            form.add_error(None, RATE_LIMITED)
            return render(request, "chat/new.html", context, status=429)
        visitors.session_prepare(request)
        try:
            help_request = services.help_request_create(**form.cleaned_data, address=address)
        except services.ChatError as exc:
            form.add_error(None, str(exc.detail))
        else:
            secret = services.help_request_token_rotate(help_request=help_request)
            visitors.session_grant(request.session, help_request)
            visitors.new_link_remember(request.session, help_request, secret)
            return redirect(help_request)
    return render(request, "chat/new.html", context)


@never_cache
def help_request_page(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The visitor's page, or the room of a volunteer or staff member. Never cached: it carries the
    conversation, and right after creating or rotating it, the visitor's private link."""
    help_request = _help_request_or_404(public_id)
    token = request.GET.get("token")
    if token is not None and visitors.token_is_valid(help_request, token):
        # The private link: this browser becomes an owner, and the token leaves the address bar.
        visitors.session_prepare(request)
        visitors.session_grant(request.session, help_request)
        return redirect(help_request)
    if request.user.is_anonymous and blocks.is_blocked(
        grants=visitors.session_grants(request.session, help_request.public_id)
    ):
        return _unavailable(request)
    participant = selectors.help_request_participant(
        help_request=help_request, user=request.user, session=request.session, token=None
    )
    if participant is None:
        if request.user.is_authenticated:
            raise PermissionDenied("You cannot see this help request.")
        # Said in plain words, in the site's layout, with the way to ask again and the quick exit:
        # whoever lands here may be the visitor on another device, or with an old link. It tells
        # nothing about the request itself (not even whether it ended), only about what was brought.
        return render(request, "chat/no_access.html", {"link_refused": token is not None}, status=403)
    audit.access_read(
        help_request_id=help_request.pk, participant=participant, user=request.user, channel=audit.AccessChannel.PAGE
    )
    watching = _watching(request, participant)
    context: dict[str, Any] = {
        "help_request": help_request,
        "participant": participant,
        "queue_position": selectors.queue_position(help_request=help_request),
        "chat_config": {
            "public_id": str(help_request.public_id),
            "ws_path": f"/ws/help-requests/{help_request.public_id}/",
            "me": participant.key,
            "mode": WATCH_MODE if watching else "",
        },
    }
    if participant.kind == AuthorKind.VISITOR:
        # The plain secret exists only right after it was made (creation or "new private link").
        secret = visitors.new_link_pop(request.session, help_request)
        if secret is not None:
            context["private_link"] = request.build_absolute_uri(f"{help_request.get_absolute_url()}?token={secret}")
        context["link_available"] = not visitors.access_ended(help_request) and not (
            help_request.status == Status.CLOSED and not help_request.visitor_token_hash
        )
        context["transcript_email_available"] = (
            not help_request.is_read_only and selectors.contact_email(help_request) is not None
        )
        context.update(_waiting_room_context())
        if context["queue_position"] is not None:
            context["wait_estimate"] = events.wait_estimate_frame(
                context["wait"], queue_position=context["queue_position"], category=help_request.category
            )
        if help_request.status == Status.RESOLVED:
            context["feedback_given"] = selectors.feedback_given(help_request=help_request)
            context["feedback_form"] = None if context["feedback_given"] else FeedbackForm()
        return render(request, "chat/help_request.html", context)
    # A helper's room: the internal notes (never on the visitor's page, above) and the handoff form.
    context["helpers"] = list(helpers()) if participant.kind == AuthorKind.STAFF else []
    context["canned_replies"] = selectors.canned_replies_for(help_request=help_request, helper=request.user)
    context["watching"] = watching
    context["notes"] = selectors.notes_for(help_request_id=help_request.pk)
    context["colleagues"] = [user for user in helpers() if user.pk != help_request.assigned_to_id]
    return render(request, "chat/room.html", context)


def _watching(request: HttpRequest, participant: Participant) -> bool:
    """``?mode=watch`` (also a form's ``mode`` field): staff watching, read-only and invisible."""
    if (request.GET.get("mode") or request.POST.get("mode")) != WATCH_MODE:
        return False
    if participant.kind != AuthorKind.STAFF:
        raise PermissionDenied("Only staff can watch a conversation.")
    return True


def _room_helper_or_403(request: HttpRequest, help_request: HelpRequest) -> Participant:
    participant = _participant_or_403(request, help_request)
    if not participant.is_helper:
        raise PermissionDenied("Only the room's helpers and staff can do this.")
    return participant


def _back_to_room(help_request: HelpRequest, *, watching: bool) -> HttpResponse:
    return redirect(help_request.get_watch_url() if watching else help_request.get_absolute_url())


@require_POST
def help_request_note(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """An internal note from the room page's form (the page's script posts to the API instead)."""
    help_request = _help_request_or_404(public_id)
    by = _room_helper_or_403(request, help_request)
    try:
        services.note_post(help_request_id=help_request.pk, participant=by, body=request.POST.get("body", ""))
    except services.ChatError as exc:
        messages.error(request, _error_text(exc))
    return _back_to_room(help_request, watching=_watching(request, by))


@require_POST
def help_request_support(request: HttpRequest, public_id: UUID) -> HttpResponse:
    help_request = _help_request_or_404(public_id)
    by = _room_helper_or_403(request, help_request)
    try:
        services.help_request_support(help_request_id=help_request.pk, by=by)
    except services.ChatError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.info(request, "Staff on duty have been asked to support you.")
    return redirect(help_request)


@require_POST
@login_required
def help_request_urgent(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A helper raises or clears the urgent flag, with a note saying why."""
    help_request = _help_request_or_404(public_id)
    _room_helper_or_403(request, help_request)
    urgent = request.POST.get("urgent") == "true"
    try:
        services.help_request_set_urgent(
            help_request=help_request, urgent=urgent, reason=request.POST.get("reason", ""), by=request.user
        )
    except services.ChatError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.info(request, "Flagged urgent: staff on duty are told." if urgent else "The urgent flag is cleared.")
    return redirect(help_request)


@require_POST
@login_required
def help_request_debrief(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """After an urgent conversation ended, its helper asks staff on duty for a debrief."""
    help_request = _help_request_or_404(public_id)
    by = _room_helper_or_403(request, help_request)
    try:
        services.help_request_debrief(help_request=help_request, by=by)
    except services.ChatError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.info(request, "Staff on duty know you would like a debrief. Take a break in the meantime.")
    return redirect(help_request)


@require_POST
def help_request_join(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A watching staff member joins visibly; the room page opens in its usual (visible) mode."""
    help_request = _help_request_or_404(public_id)
    by = _participant_or_403(request, help_request)
    try:
        services.supervisor_join(help_request=help_request, by=by)
    except services.ChatError as exc:
        messages.error(request, _error_text(exc))
        return _back_to_room(help_request, watching=by.kind == AuthorKind.STAFF)
    return redirect(help_request)


@require_POST
def help_request_transfer(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Hand the request to a colleague (``to``: a username) or back to the queue (``to`` empty)."""
    help_request = _help_request_or_404(public_id)
    by = _room_helper_or_403(request, help_request)
    username = request.POST.get("to", "")
    to = selectors.user_get_active(username=username) if username else None
    if username and to is None:
        messages.error(request, "Choose a colleague, or the queue.")
        return redirect(help_request)
    try:
        services.help_request_transfer(help_request=help_request, by=by, to=to, note=request.POST.get("note", ""))
    except services.ChatError as exc:
        messages.error(request, _error_text(exc))
        return redirect(help_request)
    messages.info(request, "Handed over.")
    if by.kind == AuthorKind.STAFF:
        return redirect(help_request)
    return redirect(reverse("chat:queue"))  # a volunteer no longer has this room


def _error_text(exc: services.ChatError) -> str:
    if isinstance(exc.detail, dict):
        return " ".join(str(error) for errors in exc.detail.values() for error in errors)
    return str(exc.detail)


@never_cache
@login_required
def queue(request: HttpRequest) -> HttpResponse:
    roles = _require_helper(request)
    # A page at a time (?page=N): the live socket keeps the first one up to date.
    page = Paginator(selectors.queue_for(user=request.user), app_settings.QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    on_page = list(page.object_list)
    positions = selectors.queue_positions(on_page, offset=(page.number - 1) * app_settings.QUEUE_PAGE_SIZE)
    rows = [(row, positions.get(row.pk)) for row in on_page]
    config = {
        "ws_path": "/ws/help-requests/queue/",
        "me": request.user.pk,
        "is_staff": Role.STAFF in roles,
        "live": page.number == 1,
    }
    capacity = selectors.helper_capacity(user_id=int(request.user.pk or 0))
    context = {
        "rows": rows,
        "page": page,
        "waiting": selectors.waiting_count(),
        "queue_config": config,
        "desk": selectors.desk_for(user=request.user),
        "capacity": capacity,
    }
    return render(request, "chat/queue.html", context)


def _after_change(request: HttpRequest, help_request: HelpRequest, action: Any) -> HttpResponse:
    try:
        action()
    except services.ChatError as exc:
        messages.error(request, str(exc.detail))
    return redirect(help_request)


@require_POST
@login_required
def help_request_claim(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _require_helper(request)
    help_request = _help_request_or_404(public_id)
    try:
        services.help_request_claim(help_request=help_request, user=request.user)
    except services.ChatError as exc:
        messages.error(request, str(exc.detail))
        return redirect(reverse("chat:queue"))
    return redirect(help_request)


@require_POST
def help_request_feedback(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The visitor's rating form (the page's own form; the API has the same rule)."""
    help_request = _help_request_or_404(public_id)
    by = _participant_or_403(request, help_request)
    if by.kind != AuthorKind.VISITOR:
        raise PermissionDenied("Only the visitor can rate the help.")
    form = FeedbackForm(request.POST)
    if form.is_valid():
        try:
            services.feedback_submit(help_request=help_request, by=by, **form.cleaned_data)
        except services.ChatError as exc:
            messages.error(request, str(exc.detail))
        else:
            messages.info(request, "Thank you for your feedback.")
    else:
        messages.error(request, "Choose a rating from 1 to 5 (the comment is optional, at most 2,000 characters).")
    return redirect(help_request)


@require_POST
@login_required
def help_request_assign(request: HttpRequest, public_id: UUID) -> HttpResponse:
    help_request = _help_request_or_404(public_id)
    if Role.STAFF not in roles_for(request.user):
        raise PermissionDenied("Only staff can assign help requests.")
    assignee_id = _int_or_none(request.POST.get("assignee"))
    assignee = None if assignee_id is None else get_user_model().objects.filter(pk=assignee_id).first()
    if assignee is None:
        return HttpResponseBadRequest("Choose a volunteer or staff member.")
    return _after_change(
        request,
        help_request,
        lambda: services.help_request_assign(help_request=help_request, assignee=assignee, by=request.user),
    )


@require_POST
def help_request_resolve(request: HttpRequest, public_id: UUID) -> HttpResponse:
    help_request = _help_request_or_404(public_id)
    by = _participant_or_403(request, help_request)
    return _after_change(request, help_request, lambda: services.help_request_resolve(help_request=help_request, by=by))


@require_POST
def help_request_close(request: HttpRequest, public_id: UUID) -> HttpResponse:
    help_request = _help_request_or_404(public_id)
    by = _participant_or_403(request, help_request)
    if by.kind != AuthorKind.VISITOR:
        return _after_change(
            request, help_request, lambda: services.help_request_close(help_request=help_request, by=by)
        )
    try:
        services.help_request_close(help_request=help_request, by=by)
    except services.ChatError as exc:
        messages.error(request, str(exc.detail))
        return redirect(help_request)
    # Closing ends the visitor's access (chat.visitors): this browser forgets the request too.
    return _forget(request, help_request, "Your request is closed. Thank you for reaching out.")


@require_POST
def help_request_rotate(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The visitor's "new private link": old links and the other devices' access end."""
    help_request = _help_request_or_404(public_id)
    _visitor_or_403(request, help_request)
    try:
        secret = services.help_request_token_rotate(help_request=help_request)
    except services.ChatError as exc:
        messages.error(request, str(exc.detail))
        return redirect(help_request)
    # A new session id too: a copy of this browser's cookie (the same session) ends with the rest.
    visitors.session_prepare(request)
    visitors.session_grant(request.session, help_request)
    visitors.new_link_remember(request.session, help_request, secret)
    return redirect(help_request)


@require_POST
def help_leave(request: HttpRequest) -> HttpResponse:
    """The quick exit's last word (chat/exit.js sends it as a beacon while the page goes): this
    browser forgets every help request it held, so a page reopened from the browser's history shows
    nothing of them (the private link still opens them). An anonymous visitor's session ends."""
    visitors.session_forget_all(request.session)
    if not request.user.is_authenticated:
        request.session.flush()
    return HttpResponse(status=204)


@require_POST
def help_request_forget(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """ "Forget this device": this browser no longer opens the request (the private link still does)."""
    help_request = _help_request_or_404(public_id)
    return _forget(request, help_request, "This device no longer has access to your request.")


@never_cache
@require_http_methods(["GET", "POST"])
def help_request_erase(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """ "Delete my conversation": GET asks the visitor to confirm, POST deletes it (and this browser
    forgets the request: the visitor lands on the help form)."""
    help_request = _help_request_or_404(public_id)
    by = _visitor_or_403(request, help_request)
    if request.method != "POST":
        return render(request, "chat/erase_confirm.html", {"help_request": help_request})
    try:
        services.help_request_erase(help_request=help_request, by=by)
    except services.ChatError as exc:
        messages.error(request, str(exc.detail))
        return redirect(help_request)
    return _forget(request, help_request, "Your conversation has been deleted.")


@never_cache
@require_GET
def help_request_transcript(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The visitor's copy of their conversation, a plain text download (never cached)."""
    help_request = _help_request_or_404(public_id)
    _visitor_or_403(request, help_request)
    return transcripts.transcript_response(help_request)


@require_POST
def help_request_transcript_email(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The visitor's choice: email the transcript to their contact when the request is resolved."""
    help_request = _help_request_or_404(public_id)
    by = _visitor_or_403(request, help_request)
    wanted = request.POST.get("wanted") == "on"
    try:
        services.help_request_transcript_email_set(help_request=help_request, by=by, wanted=wanted)
    except services.ChatError as exc:
        detail = exc.detail.get("wanted", [""])[0] if isinstance(exc.detail, dict) else exc.detail
        messages.error(request, str(detail))
    else:
        messages.info(
            request,
            "We will email you the transcript when this request is resolved."
            if wanted
            else "We will not email you the transcript.",
        )
    return redirect(help_request)


def _forget(request: HttpRequest, help_request: HelpRequest, text: str) -> HttpResponse:
    visitors.session_forget(request.session, help_request)
    if not request.user.is_authenticated:
        # An anonymous visitor's session holds nothing else worth keeping on a shared computer.
        request.session.flush()
    messages.info(request, text)
    return redirect(reverse("chat:help-request-new"))


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 19 else None
