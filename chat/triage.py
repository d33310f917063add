"""The risk list: which words and phrases in a help request make it urgent.

A visitor's description and each of their messages are matched against the active
:class:`~chat.models.RiskTerm` rows. Matching ignores case and accents and works on whole words
and phrases: the text and each phrase are folded (:func:`fold`: Unicode NFKD, combining marks
dropped, ``casefold``) and split into words; a phrase matches where its words appear in the text in
a row, whatever separates them (spaces, hyphens, punctuation). "self harm" matches "Self-harm" and
"SELF  HARM", not "myselfharm"; "pills" does not match "spills".

The compiled list is cached per process and rebuilt when any process changes the list: saving or
deleting a term bumps a version number in the shared cache once it commits (:func:`list_changed`).
The process that made the change rebuilds on its next match; the others read the version at most
once every ``RECHECK_SECONDS`` (a visitor's every message is matched: a cache read for each was one
more round trip on the chat path), so a change reaches them within that second.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from chat.models import RiskTerm, Severity
from realtime.cache import shared_cache

__all__ = [
    "Match",
    "Matcher",
    "connect_signals",
    "fold",
    "list_changed",
    "match",
    "match_cached",
    "matcher",
    "reason",
]

_WORD = re.compile(r"\w+")
VERSION_KEY = "chat:risk-list:version"
# How often a process reads the list's version from the shared cache (seconds).
RECHECK_SECONDS = 1.0


def fold(text: str) -> str:
    """``text`` without case or accents: "Émile" and "EMILE" fold alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class Match:
    phrase: str
    severity: int

    @property
    def label(self) -> str:
        return f"“{self.phrase}” ({Severity(self.severity).label.lower()})"


class Matcher:
    """Every active phrase in one alternation, longest first, bounded by non-word characters."""

    def __init__(self, terms: Iterable[tuple[str, int]]) -> None:
        self._severity: dict[str, tuple[str, int]] = {}
        for phrase, severity in terms:
            key = " ".join(words(phrase))
            if key and severity > self._severity.get(key, ("", 0))[1]:
                self._severity[key] = (phrase, severity)
        keys = sorted(self._severity, key=len, reverse=True)
        alternatives = (r"\W+".join(map(re.escape, key.split(" "))) for key in keys)
        self._pattern = re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)") if keys else None

    def __call__(self, text: str) -> list[Match]:
        """The distinct phrases found in ``text``, the most severe first."""
        if self._pattern is None or not text:
            return []
        found: dict[str, Match] = {}
        for hit in self._pattern.finditer(fold(text)):
            key = " ".join(_WORD.findall(hit.group()))
            phrase, severity = self._severity[key]
            found.setdefault(key, Match(phrase, severity))
        return sorted(found.values(), key=lambda m: (-m.severity, m.phrase))


_lock = threading.Lock()
_cached: tuple[int, Matcher] | None = None
_checked_at = float("-inf")


def list_changed() -> None:
    """Make every process rebuild its matcher (this one on its next use, the others within
    ``RECHECK_SECONDS``); the admin calls this on save."""
    global _cached
    try:
        shared_cache().incr(VERSION_KEY)
    except ValueError:
        shared_cache().set(VERSION_KEY, 1, timeout=None)
    with _lock:
        _cached = None


def matcher() -> Matcher:
    """The matcher of the active risk list, rebuilt when the list changed."""
    global _cached, _checked_at
    now = time.monotonic()
    with _lock:
        if _cached is not None and now - _checked_at < RECHECK_SECONDS:
            return _cached[1]
    version = shared_cache().get(VERSION_KEY, 0)
    with _lock:
        if _cached is None or _cached[0] != version:
            terms = RiskTerm.objects.filter(active=True).values_list("phrase", "severity")
            _cached = (version, Matcher(terms))
        _checked_at = now
        return _cached[1]


def match_cached(text: str) -> list[Match] | None:
    """``match(text)`` with the matcher this process has, if it read the list's version less than
    ``RECHECK_SECONDS`` ago; None otherwise (``match`` reads the cache, maybe the database). Does no
    I/O: the event loop calls it."""
    with _lock:
        if _cached is None or time.monotonic() - _checked_at >= RECHECK_SECONDS:
            return None
        find = _cached[1]
    return find(text)


def match(*texts: str) -> list[Match]:
    """The risk-list phrases found in any of ``texts``, the most severe first."""
    find = matcher()
    found: dict[str, Match] = {}
    for text in texts:
        for hit in find(text):
            found.setdefault(hit.phrase, hit)
    return sorted(found.values(), key=lambda m: (-m.severity, m.phrase))


def reason(matches: Iterable[Match]) -> str:
    """The urgent flag's reason, for helpers and staff: "Risk list: “overdose” (critical), …"."""
    return "Risk list: " + ", ".join(m.label for m in matches)


def _on_list_change(sender: type[RiskTerm], **kwargs: object) -> None:
    # Once the change is committed: a change rolled back never reaches a matcher.
    transaction.on_commit(list_changed)


def connect_signals() -> None:
    """Any save or delete of a term, from the admin or elsewhere, reaches every process's matcher."""
    post_save.connect(_on_list_change, sender=RiskTerm, dispatch_uid="chat.triage.saved")
    post_delete.connect(_on_list_change, sender=RiskTerm, dispatch_uid="chat.triage.deleted")
