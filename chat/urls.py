from django.urls import path

from chat import api_views, views

app_name = "chat"

# The API takes any id: a malformed one is answered like an unknown one, 404 in JSON.
API = "api/help-requests/<str:public_id>/"

urlpatterns = [
    path("help/new/", views.help_request_new, name="help-request-new"),
    path("help/queue/", views.queue, name="queue"),
    path("help/leave/", views.help_leave, name="help-leave"),
    path("help/<uuid:public_id>/", views.help_request_page, name="help-request"),
    path("help/<uuid:public_id>/claim/", views.help_request_claim, name="help-request-claim"),
    path("help/<uuid:public_id>/assign/", views.help_request_assign, name="help-request-assign"),
    path("help/<uuid:public_id>/resolve/", views.help_request_resolve, name="help-request-resolve"),
    path("help/<uuid:public_id>/close/", views.help_request_close, name="help-request-close"),
    path("help/<uuid:public_id>/new-link/", views.help_request_rotate, name="help-request-rotate"),
    path("help/<uuid:public_id>/forget/", views.help_request_forget, name="help-request-forget"),
    path("help/<uuid:public_id>/delete/", views.help_request_erase, name="help-request-erase"),
    path("help/<uuid:public_id>/transcript.txt", views.help_request_transcript, name="help-request-transcript"),
    path(
        "help/<uuid:public_id>/transcript-email/",
        views.help_request_transcript_email,
        name="help-request-transcript-email",
    ),
    path("help/<uuid:public_id>/notes/", views.help_request_note, name="help-request-note"),
    path("help/<uuid:public_id>/transfer/", views.help_request_transfer, name="help-request-transfer"),
    path("help/<uuid:public_id>/support/", views.help_request_support, name="help-request-support"),
    path("help/<uuid:public_id>/join/", views.help_request_join, name="help-request-join"),
    path("help/<uuid:public_id>/urgent/", views.help_request_urgent, name="help-request-urgent"),
    path("help/<uuid:public_id>/debrief/", views.help_request_debrief, name="help-request-debrief"),
    path("api/help-requests/", api_views.HelpRequestCreateApi.as_view(), name="api-help-request-create"),
    path(API, api_views.HelpRequestDetailApi.as_view(), name="api-help-request"),
    path(API + "messages/", api_views.HelpRequestMessagesApi.as_view(), name="api-help-request-messages"),
    path(
        API + "messages/<str:message_id>/redact/",
        api_views.HelpRequestMessageRedactApi.as_view(),
        name="api-help-request-message-redact",
    ),
    path(API + "read/", api_views.HelpRequestReadApi.as_view(), name="api-help-request-read"),
    path(API + "claim/", api_views.HelpRequestClaimApi.as_view(), name="api-help-request-claim"),
    path(API + "assign/", api_views.HelpRequestAssignApi.as_view(), name="api-help-request-assign"),
    path(API + "resolve/", api_views.HelpRequestResolveApi.as_view(), name="api-help-request-resolve"),
    path(API + "close/", api_views.HelpRequestCloseApi.as_view(), name="api-help-request-close"),
    path(API + "token/", api_views.HelpRequestTokenApi.as_view(), name="api-help-request-token"),
    path(API + "ticket/", api_views.HelpRequestTicketApi.as_view(), name="api-help-request-ticket"),
    path(
        API + "canned-replies/", api_views.HelpRequestCannedRepliesApi.as_view(), name="api-help-request-canned-replies"
    ),
    path(API + "erase/", api_views.HelpRequestEraseApi.as_view(), name="api-help-request-erase"),
    path(API + "transcript/", api_views.HelpRequestTranscriptApi.as_view(), name="api-help-request-transcript"),
    path(
        API + "transcript-email/",
        api_views.HelpRequestTranscriptEmailApi.as_view(),
        name="api-help-request-transcript-email",
    ),
    path(API + "feedback/", api_views.HelpRequestFeedbackApi.as_view(), name="api-help-request-feedback"),
    path("help/<uuid:public_id>/feedback/", views.help_request_feedback, name="help-request-feedback"),
    path(API + "notes/", api_views.HelpRequestNotesApi.as_view(), name="api-help-request-notes"),
    path(API + "transfer/", api_views.HelpRequestTransferApi.as_view(), name="api-help-request-transfer"),
    path(API + "support/", api_views.HelpRequestSupportApi.as_view(), name="api-help-request-support"),
    path(API + "join/", api_views.HelpRequestJoinApi.as_view(), name="api-help-request-join"),
    path(API + "urgent/", api_views.HelpRequestUrgentApi.as_view(), name="api-help-request-urgent"),
]
