"""The risk list: whole words and phrases, case and accents ignored, the list cached per process."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from chat import triage
from chat.models import RiskTerm, Severity


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
def test_a_change_to_the_list_reaches_the_matcher() -> None:
    RiskTerm.objects.all().delete()
    assert triage.match("the bailiffs are here") == []
    term = RiskTerm.objects.create(phrase="bailiffs", severity=Severity.CONCERN)
    assert [m.phrase for m in triage.match("the bailiffs are here")] == ["bailiffs"]
    term.active = False
    term.save()
    assert triage.match("the bailiffs are here") == []


@pytest.mark.django_db
def test_match_looks_in_every_text_given() -> None:
    RiskTerm.objects.all().delete()
    RiskTerm.objects.create(phrase="evicted", severity=Severity.CONCERN)
    RiskTerm.objects.create(phrase="not safe", severity=Severity.HIGH)
    found = triage.match("We were evicted", "I am not safe here", "evicted again")
    assert [m.phrase for m in found] == ["not safe", "evicted"]


def test_a_phrase_without_a_word_is_refused() -> None:
    with pytest.raises(ValidationError):
        RiskTerm(phrase="!!!", severity=Severity.HIGH).full_clean(validate_unique=False)
