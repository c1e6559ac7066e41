"""Actor registry patterns and the normalisation of candidate (unregistered) actors."""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from datetime import date
from typing import Any

from pipeline.config import ActorConfig, RoleConfig
from pipeline.urls import fold, slug

# NER labels that can be actors, and the label a registry type is tagged with.
ACTOR_LABELS = ("PERSON", "ORG", "GPE", "NORP")
_TYPE_LABEL = {"person": "PERSON", "country": "GPE"}
NOT_ACTOR = "NOT_ACTOR"        # EntityRuler label of names that only look like an actor ("Washington Post")
ROLE_PREFIX = "role:"          # EntityRuler id prefix of a role title ("role:uk-prime-minister")
_FORMER = {"former", "ex", "ex-", "then", "late", "outgoing", "previous", "erstwhile"}
_ACTING_DEPS = {"nsubj", "nsubjpass", "poss", "appos"}

_TITLES = re.compile(
    r"^(?:(?:the|former|acting|interim|deputy|vice|foreign|defen[cs]e|prime|chief|general|senior|"
    r"mr|mrs|ms|dr|sir|dame|lord|president|minister|chancellor|secretary|premier|king|queen|prince|"
    r"spokesman|spokeswoman|spokesperson|speaker|senator|ambassador|envoy|commissioner|pope|admiral|gen|"
    r"british|french|german|russian|ukrainian|american|us|u\.s\.|eu|finnish|polish|italian)\.?\s+)+",
    re.IGNORECASE,
)
_POSSESSIVE = re.compile(r"(?:'s|’s|'|’)$")
_JUNK = {
    # wire services, publications and generic words NER often tags as ORG/PERSON
    "reuters", "ap", "afp", "associated press", "bbc", "cnn", "bloomberg", "the guardian", "guardian",
    "politico", "al jazeera", "dw", "euronews", "kyiv independent", "tass", "ria novosti", "interfax",
    "getty images", "getty", "x", "twitter", "telegram", "facebook", "youtube", "newsletter", "cookies",
    "west", "western", "europe", "european", "the west", "parliament", "government", "cabinet",
    "ministry", "army", "president", "minister", "officials", "monday", "tuesday", "wednesday",
    "thursday", "friday", "saturday", "sunday", "fox news", "interfax", "pope",
    "defence", "defense", "state", "foreign", "brent", "crude", "ministry of defence", "secretary",
}


@dataclass(frozen=True)
class Candidate:
    actor_id: str
    name: str


def ruler_label(actor: ActorConfig) -> str:
    return _TYPE_LABEL.get(actor.type, "ORG")


def ruler_patterns(actors: tuple[ActorConfig, ...], roles: dict[str, RoleConfig] | None = None,
                   not_actors: tuple[str, ...] = ()) -> list[dict]:
    """EntityRuler phrase patterns: every name and alias of every registered actor (exact case), every
    role title in its usual spellings, and the look-alike names that are no actor at all.

    The ruler keeps the longest match, so "US President" beats "US" and "Washington Post" beats
    "Washington". Phrase patterns only: token patterns cost several times more per document.
    """
    patterns: list[dict] = []
    for actor in actors:
        for alias in dict.fromkeys([actor.name, *actor.aliases]):
            patterns.append({"label": ruler_label(actor), "pattern": alias, "id": actor.id})
    for role, spec in (roles or {}).items():
        for title in spec.titles:
            for spelling in case_variants(title):
                patterns.append({"label": "PERSON", "pattern": spelling, "id": ROLE_PREFIX + role})
    for name in not_actors:
        patterns.append({"label": NOT_ACTOR, "pattern": name, "id": NOT_ACTOR})
    return patterns


def case_variants(title: str) -> list[str]:
    """A title as written, in lower case, and with each word capitalised or not ("UK Prime Minister",
    "UK prime minister", "the Kremlin Spokesman" ...); acronyms keep their case."""
    options = []
    for word in title.split():
        forms = {word, word.lower(), word[:1].upper() + word[1:].lower()}
        if word.isupper() and len(word) > 1:
            forms = {word}
        options.append(sorted(forms))
    return sorted({" ".join(combo) for combo in product(*options)})


class RoleBook:
    """Who held which role when, from the registry's `roles:` entries."""

    def __init__(self, actors: tuple[ActorConfig, ...]):
        self._terms: dict[str, list[tuple[date, date | None, str]]] = {}
        for actor in actors:
            for term in actor.roles:
                self._terms.setdefault(term.role, []).append((term.since, term.until, actor.id))

    def holder(self, role: str, day: date) -> str | None:
        """The actor id holding `role` on `day` (terms run from `since` inclusive to `until` exclusive)."""
        for since, until, actor_id in self._terms.get(role, ()):
            if since <= day and (until is None or day < until):
                return actor_id
        return None


def role_is_named(span: Any) -> bool:
    """A role title that does not stand for its current holder: "former US President ...", or a
    title followed by the holder's name ("UK Prime Minister Keir Starmer"), which speaks for itself."""
    doc = span.doc
    before = [doc[i].lower_ for i in range(max(0, span.start - 2), span.start)]
    if any(w in _FORMER for w in before):
        return True
    if span.end < len(doc):
        nxt = doc[span.end]
        return nxt.is_alpha and nxt.is_title and not nxt.is_sent_start
    return False


def is_acting_place(span: Any) -> bool:
    """An unregistered place counts as an actor only when it acts or owns: the subject of a verb
    ("Japan will not send ..."), a possessor ("Hungary's Viktor Orban"), or a conjunct of one."""
    root = span.root
    if root.dep_ == "conj":
        root = root.head
    return root.dep_ in _ACTING_DEPS


def normalise_name(surface: str) -> str:
    """Strip titles, a leading article and possessives; squeeze spaces."""
    name = re.sub(r"\s+", " ", surface).strip(" \t\"'“”‘’.,;:()[]")
    name = _POSSESSIVE.sub("", name).strip()
    stripped = _TITLES.sub("", name).strip()
    return stripped or name


def is_junk(name: str, label: str, topic_words: frozenset[str] = frozenset()) -> bool:
    """Dates, numbers, generic nouns, publications, nationalities, and the topic words themselves
    ("Peacekeepers" at the start of a sentence) are no actors."""
    if len(name) < 3 or len(name) > 80:
        return True
    if any(ch.isdigit() for ch in name) or not any(ch.isupper() for ch in name):
        return True
    if fold(name) in _JUNK or fold(name) in topic_words:
        return True
    if label == "NORP":  # nationalities and groups are context, not actors, unless registered
        return True
    return len(name.split()) > 6


def merge_people(names: list[tuple[str, str]]) -> dict[str, str]:
    """Map each one-word name to the full PERSON name it abbreviates in the same article.

    `names` holds (normalised name, label); returns {short name: full name}.
    """
    full = [n for n, label in names if label == "PERSON" and " " in n]
    out: dict[str, str] = {}
    for name, _label in names:  # the small model sometimes tags a lone surname ORG or GPE
        if " " in name:
            continue
        matches = {f for f in full if fold(f).split()[-1] == fold(name)}
        if len(matches) == 1:
            out[name] = matches.pop()
    return out


def candidate_id(name: str) -> str:
    """Stable id of an unregistered actor: the slug of its folded name."""
    return slug(name)
