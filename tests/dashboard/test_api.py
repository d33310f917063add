"""Announcements and dashboard over REST, and the Prometheus endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard import metrics
from dashboard.models import Announcement
from realtime.cache import shared_cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_metrics_figures() -> None:
    """Scrapes serve figures computed in the last interval; each test computes its own."""
    shared_cache().delete(metrics.FIGURES_KEY)


def client_for(user: Any | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("who", [None, "volunteer", "donor"])
def test_announcements_and_dashboard_are_staff_only(make_user: Any, who: str | None) -> None:
    client = client_for(make_user(roles=(who,)) if who else None)
    response = client.post("/api/announcements/", {"audience": "all", "title": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert client.get("/api/dashboard/").status_code == 403
    assert not Announcement.objects.exists()


def test_staff_announcement_answers_how_many_it_reached(make_user: Any) -> None:
    staff = make_user(roles=("staff",))
    make_user(roles=("donor",))
    make_user(roles=("donor",))
    response = client_for(staff).post(
        "/api/announcements/",
        {"audience": "donor", "title": "Thank you", "body": "…", "priority": "normal"},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["reached"] == 2 and body["priority"] == "normal" and body["audience"] == "donor"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "x"}, "audience"),
        ({"audience": "visitor", "title": "x"}, "audience"),
        ({"audience": "all"}, "title"),
        ({"audience": "all", "title": ""}, "title"),
        ({"audience": "all", "title": "x" * 201}, "title"),
        ({"audience": "all", "title": 5}, "title"),
        ({"audience": "all", "title": "x", "priority": "urgent"}, "priority"),
    ],
)
def test_bad_announcements_are_400_with_field_errors(make_user: Any, payload: dict[str, Any], field: str) -> None:
    response = client_for(make_user(roles=("staff",))).post(
        "/api/announcements/", payload, content_type="application/json"
    )
    assert response.status_code == 400 and field in response.json()


def test_dashboard_api_is_the_same_snapshot(make_user: Any) -> None:
    body = client_for(make_user(roles=("staff",))).get("/api/dashboard/").json()
    assert set(body) == {"generated_at", "metrics", "online", "conversations", "activity", "feedback"}
    assert body["metrics"]["waiting"] == 0


def test_metrics_endpoint_is_restricted_and_exports_dashboard_figures(settings: Any, make_user: Any) -> None:
    from chat.models import HelpRequest

    HelpRequest.objects.create(name="a", description="x")
    settings.METRICS_ALLOWED_IPS = ["10.9.9.9"]
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "s3cret"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert response.status_code == 200
    text = response.content.decode()
    assert "charity_waiting 1.0" in text
    assert "charity_frames_out_total" in text or "charity_open_sockets" in text


def test_metrics_answer_only_the_token_by_default_even_from_loopback(settings: Any) -> None:
    """Behind the documented proxy every scrape comes from 127.0.0.1: loopback proves nothing."""
    from django.conf import settings as configured

    assert configured.METRICS_ALLOWED_IPS == [], "no allow-list unless one is set"
    settings.METRICS_TOKEN = "s3cret"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 403
    allowed = Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert allowed.status_code == 200


def test_metrics_with_neither_token_nor_allow_list_answer_nobody(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_AUTHORIZATION="Bearer").status_code == 403


def test_a_non_ascii_authorization_header_is_refused_not_an_error(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3crét").status_code == 403


def test_metrics_allow_list_takes_networks_through_the_trusted_proxy(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    settings.REALTIME_TRUSTED_PROXIES = ["127.0.0.1"]
    proxied = Client(REMOTE_ADDR="127.0.0.1")
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert proxied.get("/metrics").status_code == 403, "the proxy itself is not on the list"


def test_scrapes_in_a_row_compute_the_dashboard_figures_once(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import selectors

    computed = []
    original = selectors.dashboard_snapshot

    def counting(**kwargs: Any) -> Any:
        computed.append(1)
        return original(**kwargs)

    monkeypatch.setattr(selectors, "dashboard_snapshot", counting)
    settings.METRICS_TOKEN = "s3cret"
    settings.DASHBOARD_REFRESH_INTERVAL = 60
    scrapes = [Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret") for _ in range(3)]
    assert [scrape.status_code for scrape in scrapes] == [200, 200, 200]
    assert all(b"charity_waiting 0.0" in scrape.content for scrape in scrapes)
    assert len(computed) == 1
    # Once the interval is over, the next scrape computes them again.
    shared_cache().delete(metrics.FIGURES_KEY)
    Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert len(computed) == 2


def test_metrics_from_an_allowed_address(settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    # A forged X-Forwarded-For does not help without a trusted proxy.
    settings.REALTIME_TRUSTED_PROXIES = []
    forged = Client(REMOTE_ADDR="203.0.113.1").get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert forged.status_code == 403


def test_openapi_schema_and_docs_are_served(make_user: Any) -> None:
    client = client_for(make_user(roles=("staff",)))
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/announcements/" in schema.content
    assert client.get("/api/docs/").status_code == 200
