from django.urls import path

from chat import api, views

app_name = "chat"

urlpatterns = [
    path("help/new/", views.help_request_new, name="help-request-new"),
    path("help/queue/", views.queue, name="queue"),
    path("help/<uuid:public_id>/", views.help_request_page, name="help-request"),
    path("help/<uuid:public_id>/claim/", views.help_request_claim, name="help-request-claim"),
    path("help/<uuid:public_id>/assign/", views.help_request_assign, name="help-request-assign"),
    path("help/<uuid:public_id>/resolve/", views.help_request_resolve, name="help-request-resolve"),
    path("help/<uuid:public_id>/close/", views.help_request_close, name="help-request-close"),
    path("api/help-requests/", api.HelpRequestCreateApi.as_view(), name="api-help-request-create"),
]
