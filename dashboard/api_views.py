"""The control room over HTTP: the same snapshot the live dashboard pushes (staff only)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.selectors import dashboard_snapshot
from dashboard.serializers import AnnouncementIn, AnnouncementOut
from dashboard.services import announcement_send


class DashboardSnapshot(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(dashboard_snapshot())


class AnnouncementCreate(APIView):
    """Staff send an announcement to everyone or a role; the answer says how many people it reached."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=AnnouncementIn, responses={201: AnnouncementOut})
    def post(self, request: Request) -> Response:
        serializer = AnnouncementIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sent = announcement_send(
            audience=data["audience"],
            title=data["title"],
            body=data["body"],
            kind=data["kind"],
            priority=data["priority"],
            by=request.user,
        )
        out = {
            "id": sent.pk,
            "audience": sent.audience,
            "kind": sent.kind,
            "priority": sent.priority,
            "reached": sent.reached,
            "notification_id": sent.notification_id,
        }
        return Response(AnnouncementOut(out).data, status=status.HTTP_201_CREATED)
