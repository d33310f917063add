from django.urls import path

from shifts import views

urlpatterns = [path("shifts/", views.my_shifts, name="my-shifts")]
