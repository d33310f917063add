from django.urls import path

from donations import views

urlpatterns = [
    path("donate/", views.donate, name="donate"),
    path("donations/<uuid:public_id>/", views.donation_detail, name="donation-detail"),
]
