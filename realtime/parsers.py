"""Request body parsers of the REST API.

DRF's ``JSONParser`` turns a ``ValueError`` into a 400 but lets ``RecursionError`` through: a body
of ``[`` repeated 100,000 times (deeper than the interpreter's recursion limit) became a 500. This one answers
it as any other malformed JSON. It is the default parser (``REST_FRAMEWORK``) and the one views
name when they accept JSON only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

NESTED_TOO_DEEPLY = "JSON parse error - nested too deeply."


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(NESTED_TOO_DEEPLY) from exc
