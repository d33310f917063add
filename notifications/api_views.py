"""The notifications REST API under ``/api/notifications/`` (also the SSE fallback's POST side)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from charity.roles import roles_for
from notifications import selectors, services
from notifications.models import Recipient
from notifications.preferences import preferences_state
from notifications.serializers import (
    AckIn,
    CountOut,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    PushEndpointIn,
    PushSubscriptionIn,
    ReadIn,
    UnreadOut,
)
from realtime.throttles import RECEIPT_THROTTLES


def _user_id(request: Request) -> int:
    return int(request.user.pk)  # type: ignore[arg-type]


class NotificationList(generics.ListAPIView[Recipient]):
    """The person's unexpired notifications, newest first. ``?unread=true`` for unread only."""

    serializer_class = NotificationOut

    def get_queryset(self) -> QuerySet[Recipient]:
        unread_only = self.request.query_params.get("unread", "").lower() in {"1", "true", "yes"}
        return selectors.recipient_list(user_id=_user_id(self.request), unread_only=unread_only)


class UnreadCount(APIView):
    @extend_schema(responses=UnreadOut)
    def get(self, request: Request) -> Response:
        return Response({"unread": selectors.notification_unread_count(user_id=_user_id(request))})


class MarkRead(APIView):
    """Mark some of the person's notifications read; ids that are not theirs are ignored."""

    throttle_classes = RECEIPT_THROTTLES

    @extend_schema(request=ReadIn, responses=CountOut)
    def post(self, request: Request) -> Response:
        serializer = ReadIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.recipient_mark_read(
            user_id=_user_id(request), notification_ids=serializer.validated_data["ids"]
        )
        return Response({"count": count})


class MarkAllRead(APIView):
    throttle_classes = RECEIPT_THROTTLES

    @extend_schema(request=None, responses=CountOut)
    def post(self, request: Request) -> Response:
        return Response({"count": services.recipient_mark_all_read(user_id=_user_id(request))})


class Acknowledge(APIView):
    """Delivered through ``up_to``: what a client on the SSE fallback sends instead of an ``ack`` frame."""

    throttle_classes = RECEIPT_THROTTLES

    @extend_schema(request=AckIn, responses=CountOut)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = AckIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.recipient_ack_up_to(user_id=_user_id(request), up_to=serializer.validated_data["up_to"])
        return Response({"count": count}, status=status.HTTP_200_OK)


class Preferences(APIView):
    """The person's choices: per kind and channel (in-app, email, Web Push), a daily email digest per
    kind, their time zone and quiet hours. ``PUT`` changes only what it names."""

    throttle_classes = RECEIPT_THROTTLES

    @extend_schema(responses=PreferencesOut)
    def get(self, request: Request) -> Response:
        return Response(self._state(request))

    @extend_schema(request=PreferencesIn, responses=PreferencesOut)
    def put(self, request: Request) -> Response:
        serializer = PreferencesIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.preferences_update(
            user_id=_user_id(request),
            kinds=data.get("kinds", []),
            time_zone=data.get("time_zone"),
            quiet=(data["quiet_start"], data["quiet_end"]) if "quiet_start" in data else None,
        )
        return Response(self._state(request))

    @staticmethod
    def _state(request: Request) -> dict[str, Any]:
        state = preferences_state(user_id=_user_id(request), roles=roles_for(request.user))
        return dict(PreferencesOut(state).data)


class PushSubscriptions(APIView):
    """This device's Web Push subscription: ``POST`` stores it (the browser's
    ``PushSubscription.toJSON()``), ``DELETE`` forgets it."""

    throttle_classes = RECEIPT_THROTTLES

    @extend_schema(request=PushSubscriptionIn, responses={201: None})
    def post(self, request: Request) -> Response:
        serializer = PushSubscriptionIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.push_subscription_save(
            user_id=_user_id(request),
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
        )
        return Response(status=status.HTTP_201_CREATED)

    @extend_schema(request=PushEndpointIn, responses={204: None})
    def delete(self, request: Request) -> Response:
        serializer = PushEndpointIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.push_subscription_delete(user_id=_user_id(request), endpoint=serializer.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)
