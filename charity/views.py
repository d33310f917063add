from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from charity.roles import roles_for


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"roles": sorted(roles_for(request.user))})
