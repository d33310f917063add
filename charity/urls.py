from django.contrib import admin
from django.urls import include, path

from charity import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("notifications.urls")),
    path("", include("chat.urls")),
    path("", include("donations.urls")),
    path("", include("shifts.urls")),
]
