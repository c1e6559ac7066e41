"""Actor registry patterns and the normalisation of candidate (unregistered) actors."""
from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.config import ActorConfig
from pipeline.urls import fold, slug

# NER labels that can be actors, and the label a registry type is tagged with.
ACTOR_LABELS = ("PERSON", "ORG", "GPE", "NORP")
_TYPE_LABEL = {"person": "PERSON", "country": "GPE"}

_TITLES = re.compile(
    r"^(?:(?:the|former|acting|interim|deputy|vice|foreign|defen[cs]e|prime|chief|general|senior|"
    r"mr|mrs|ms|dr|sir|dame|lord|president|minister|chancellor|secretary|premier|king|queen|prince|"
    r"spokesman|spokeswoman|spokesperson|speaker|senator|ambassador|envoy|commissioner|"
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
    "thursday", "friday", "saturday", "sunday",
}


@dataclass(frozen=True)
class Candidate:
    actor_id: str
    name: str


def ruler_label(actor: ActorConfig) -> str:
    return _TYPE_LABEL.get(actor.type, "ORG")


def ruler_patterns(actors: tuple[ActorConfig, ...]) -> list[dict]:
    """EntityRuler phrase patterns: every name and alias of every registered actor, exact case."""
    patterns = []
    for actor in actors:
        for alias in dict.fromkeys([actor.name, *actor.aliases]):
            patterns.append({"label": ruler_label(actor), "pattern": alias, "id": actor.id})
    return patterns


def normalise_name(surface: str) -> str:
    """Strip titles, a leading article and possessives; squeeze spaces."""
    name = re.sub(r"\s+", " ", surface).strip(" \t\"'“”‘’.,;:()[]")
    name = _POSSESSIVE.sub("", name).strip()
    stripped = _TITLES.sub("", name).strip()
    return stripped or name


def is_junk(name: str, label: str) -> bool:
    if len(name) < 3 or len(name) > 80:
        return True
    if any(ch.isdigit() for ch in name) or not any(ch.isupper() for ch in name):
        return True
    if fold(name) in _JUNK:
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
