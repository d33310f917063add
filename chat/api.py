"""The chat's REST endpoints (DRF), one view per operation with its input serializer.

``POST /api/help-requests/``: an anonymous visitor opens a help request. The body must be JSON
(no form encodings), so another site cannot make a visitor's browser post one behind their back.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from charity.frames import TextField
from chat import selectors, services, visitors
from chat.models import MAX_CONTACT_CHARS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, Category


class HelpRequestCreateApi(APIView):
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        name = TextField(max_length=MAX_NAME_CHARS)
        description = TextField(max_length=MAX_DESCRIPTION_CHARS)
        contact = TextField(max_length=MAX_CONTACT_CHARS, required=False, allow_blank=True, default="")
        category = serializers.ChoiceField(choices=Category.choices, default=Category.GENERAL)

    class OutputSerializer(serializers.Serializer[dict[str, Any]]):
        public_id = serializers.UUIDField()
        url = serializers.CharField()
        status = serializers.CharField()
        queue_position = serializers.IntegerField(allow_null=True)
        token = serializers.CharField()

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session_key = visitors.session_prepare(request)
        try:
            help_request = services.help_request_create(**serializer.validated_data, session_key=session_key)
        except services.ChatError as exc:
            return Response(exc.detail, status=status.HTTP_400_BAD_REQUEST)
        visitors.session_grant(request.session, help_request.public_id)
        output = self.OutputSerializer(
            {
                "public_id": help_request.public_id,
                "url": request.build_absolute_uri(help_request.get_absolute_url()),
                "status": help_request.status,
                "queue_position": selectors.queue_position(help_request=help_request),
                "token": visitors.help_request_token(help_request.public_id),
            }
        )
        return Response(output.data, status=status.HTTP_201_CREATED)
