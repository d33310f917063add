"""``/api/docs/``: Swagger UI served from this site (drf-spectacular-sidecar), never from a CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_another_host() -> None:
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(source.startswith("/") and not source.startswith("//") for source in sources), sources
    # The bundle, the stylesheet and the start-up script are all served here.
    for source in sources:
        response = client.get(source)
        assert response.status_code == 200, source
        if hasattr(response, "streaming_content"):
            response.close()
    assert any("swagger-ui-bundle.js" in source for source in sources)
    assert any("script=" in source for source in sources)  # the start-up script is a file, not inline
