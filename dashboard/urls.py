from django.urls import path

from dashboard import api_views
from dashboard.metrics import metrics_view

urlpatterns = [
    path("api/dashboard/", api_views.DashboardSnapshot.as_view(), name="api-dashboard"),
    path("api/announcements/", api_views.AnnouncementCreate.as_view(), name="api-announcements"),
    path("metrics", metrics_view, name="metrics"),
]
