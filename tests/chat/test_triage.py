"""The risk list: whole words and phrases, case and accents ignored, the list cached per process."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.test import Client

from chat import selectors, services, triage
from chat.models import RiskTerm, Severity
from chat.participants import user_participant
from tests.chat.conftest import apost_as_visitor, avisit, claim, joined, receive_until
from tests.chat.conftest import make as amake


def make(*terms: tuple[str, int]) -> triage.Matcher:
    return triage.Matcher(terms)


@pytest.mark.parametrize(
    "text",
    ["I self harm", "SELF-HARM again", "self  harm", "it's self\nharm", "Self\u2013harm."],
)
def test_a_phrase_matches_across_case_and_separators(text: str) -> None:
    assert [m.phrase for m in make(("self harm", 2))(text)] == ["self harm"]


@pytest.mark.parametrize("text", ["myselfharm", "selfharm", "self harming", "spills", "pillsbury"])
def test_only_whole_words_match(text: str) -> None:
    assert make(("self harm", 2), ("pills", 2))(text) == []


def test_accents_are_ignored_both_ways() -> None:
    find = make(("désespéré", 1), ("naive", 1))
    assert [m.phrase for m in find("je suis DESESPERE")] == ["désespéré"]
    assert [m.phrase for m in find("so naïve")] == ["naive"]


def test_an_apostrophe_in_a_phrase_matches_its_variants() -> None:
    find = make(("can't go on", 1))
    assert find("I can't go on") and find("i CAN'T  go on") and find("I can\u2019t go on")
    assert not find("I can go on")


def test_matches_are_distinct_and_the_most_severe_first() -> None:
    find = make(("pills", 2), ("overdose", 3), ("scared", 1))
    found = find("scared, pills, more pills, overdose")
    assert [(m.phrase, m.severity) for m in found] == [("overdose", 3), ("pills", 2), ("scared", 1)]


def test_the_longest_phrase_wins_where_two_overlap() -> None:
    find = make(("kill", 1), ("kill myself", 3))
    assert [m.phrase for m in find("I want to kill myself")] == ["kill myself"]


def test_a_phrase_listed_twice_keeps_its_highest_severity() -> None:
    find = make(("Self harm", 1), ("self-harm", 3))
    assert [m.severity for m in find("self harm")] == [3]


def test_an_empty_list_or_text_matches_nothing() -> None:
    assert make()("anything at all") == []
    assert make(("x", 1))("") == []
    assert make(("---", 1))("---") == []


def test_the_reason_names_each_phrase_and_its_severity() -> None:
    found = make(("overdose", 3), ("scared", 1))("scared of an overdose")
    assert triage.reason(found) == "Risk list: “overdose” (critical), “scared” (concern)"


@pytest.mark.django_db
def test_the_shipped_list_is_a_marked_starting_point() -> None:
    terms = RiskTerm.objects.all()
    assert terms.filter(severity=Severity.CRITICAL).exists()
    assert all("safeguarding lead" in term.note for term in terms)
    assert [m.phrase for m in triage.match("I took an OVERDOSE")] == ["overdose"]


@pytest.mark.django_db
def test_a_committed_change_to_the_list_reaches_the_matcher(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        RiskTerm.objects.all().delete()
    assert triage.match("the bailiffs are here") == []
    with django_capture_on_commit_callbacks(execute=True):
        term = RiskTerm.objects.create(phrase="bailiffs", severity=Severity.CONCERN)
    assert [m.phrase for m in triage.match("the bailiffs are here")] == ["bailiffs"]
    with django_capture_on_commit_callbacks(execute=True):
        term.active = False
        term.save()
    assert triage.match("the bailiffs are here") == []


@pytest.mark.django_db
def test_a_change_never_committed_leaves_the_matcher_as_it_was(django_capture_on_commit_callbacks: Any) -> None:
    assert triage.match("I took an overdose")
    with django_capture_on_commit_callbacks(execute=False):  # rolled back: the callbacks never run
        RiskTerm.objects.filter(phrase="overdose").delete()
    assert triage.match("I took an overdose")


@pytest.mark.django_db
def test_match_looks_in_every_text_given(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        RiskTerm.objects.all().delete()
        RiskTerm.objects.create(phrase="evicted", severity=Severity.CONCERN)
        RiskTerm.objects.create(phrase="not safe", severity=Severity.HIGH)
    found = triage.match("We were evicted", "I am not safe here", "evicted again")
    assert [m.phrase for m in found] == ["not safe", "evicted"]


def test_a_phrase_without_a_word_is_refused() -> None:
    with pytest.raises(ValidationError):
        RiskTerm(phrase="!!!", severity=Severity.HIGH).full_clean(validate_unique=False)


# -- the risk list at work: requests, messages, the queue, the flag by hand, the debrief ---------------


def staff_told(kind: str) -> list[Any]:
    from notifications.models import Notification

    return list(Notification.objects.filter(kind=kind).values_list("priority", "audience"))


@pytest.mark.django_db
def test_a_description_on_the_list_makes_the_request_urgent_and_first(visit: Any, make_user: Any) -> None:
    make_user("sam", roles=("staff",))
    calm = visit(description="I need a food parcel")
    worried = visit(description="I took an OVERDOSE of my pills")
    request = worried.help_request()
    assert request.urgent and request.urgent_reason == "Risk list: “overdose” (critical), “pills” (high)"
    assert not calm.help_request().urgent
    # Urgent first, then the oldest.
    assert selectors.queue_position(help_request=request) == 1
    assert selectors.queue_position(help_request=calm.help_request()) == 2
    assert staff_told("help_request.urgent") == [("critical", "role:staff")]
    [note] = selectors.notes_for(help_request_id=request.pk)
    assert note.body.startswith("Urgent (The risk list): Risk list: “overdose”")


@pytest.mark.django_db
def test_the_reason_never_reaches_the_visitor(visit: Any) -> None:
    visitor = visit(description="I want to end my life")
    assert visitor.help_request().urgent
    for path in (f"/help/{visitor.public_id}/", f"/api/help-requests/{visitor.public_id}/"):
        text = visitor.client.get(path).content.decode()
        assert "end my life" not in text.replace(visitor.help_request().description, "")
        assert "Risk list" not in text and "critical" not in text


@pytest.mark.django_db(transaction=True)
async def test_a_visitors_message_on_the_list_flags_the_request_live(make_user: Any, sockets: Any) -> None:
    # Its own list: a transactional test's database starts empty (no data migration rows).
    await database_sync_to_async(RiskTerm.objects.get_or_create)(phrase="hopeless", defaults={"severity": 1})
    vera = await amake(make_user, "vera", roles=("volunteer",))
    visitor = await avisit(description="Help with rent")
    await claim(visitor, vera)
    own = await sockets(visitor.path, cookie=visitor.cookie)
    helper = await sockets(visitor.path, user=vera)
    await joined(own)
    await receive_until(helper, "presence")
    await apost_as_visitor(visitor, "honestly I feel hopeless")
    visitor_frames = await receive_until(own, "urgent")
    assert visitor_frames[-1] == {"type": "urgent", "urgent": True}
    assert "note" not in [frame["type"] for frame in visitor_frames]
    helper_frames = await receive_until(helper, "note")
    assert "“hopeless” (concern)" in helper_frames[-1]["body"]
    # Already urgent: another match changes nothing.
    await apost_as_visitor(visitor, "still hopeless")
    frames = await receive_until(own, "message")
    assert "urgent" not in [frame["type"] for frame in frames]


@pytest.mark.django_db
def test_helpers_flag_and_clear_by_hand_with_a_note_and_it_is_audited(visit: Any, make_user: Any) -> None:
    from chat.models import AccessAction, AccessRecord

    vera = make_user("vera", roles=("volunteer",))
    visitor = visit(description="Help with rent")
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    client = Client()
    client.force_login(vera)
    url = f"/api/help-requests/{visitor.public_id}/urgent/"
    assert client.post(url, {"urgent": True}, content_type="application/json").json() == {
        "reason": ["This field is required."]
    }
    assert visitor.client.post(url, {"urgent": True, "reason": "x"}, content_type="application/json").status_code == 403
    response = client.post(
        url, {"urgent": True, "reason": "Mentions a partner's threats"}, content_type="application/json"
    )
    assert response.status_code == 200
    request = visitor.help_request()
    assert request.urgent and request.urgent_reason == "Mentions a partner's threats"
    assert client.post(url, {"urgent": False, "reason": "Safe now"}, content_type="application/json").status_code == 200
    assert not visitor.help_request().urgent
    entries = AccessRecord.objects.filter(help_request=request).values_list("username", "action", "reason")
    assert list(entries.filter(action__in=[AccessAction.FLAG, AccessAction.UNFLAG]).order_by("id")) == [
        ("vera", "flag", "Mentions a partner's threats"),
        ("vera", "unflag", "Safe now"),
    ]


@pytest.mark.django_db
def test_a_debrief_is_offered_after_an_urgent_conversation_ends(visit: Any, make_user: Any) -> None:
    vera = make_user("vera", roles=("volunteer",))
    make_user("sam", roles=("staff",))
    visitor = visit(description="I am not safe at home")
    services.help_request_claim(help_request=visitor.help_request(), user=vera)
    client = Client()
    client.force_login(vera)
    page = f"/help/{visitor.public_id}/"
    assert "Request a debrief" not in client.get(page).content.decode()
    with pytest.raises(services.ChatError):
        services.help_request_debrief(help_request=visitor.help_request(), by=user_participant(vera))
    services.help_request_resolve(help_request=visitor.help_request(), by=user_participant(vera))
    assert "Request a debrief" in client.get(page).content.decode()
    client.post(f"/help/{visitor.public_id}/debrief/")
    assert staff_told("help_request.debrief") == [("normal", "role:staff")]
    with pytest.raises(services.ChatError):
        services.help_request_debrief(help_request=visitor.help_request(), by=user_participant(vera))
