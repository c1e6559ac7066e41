"""Stance v1: cue lexicon + dependency parse -> (actor, score, cue, via) for one sentence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pipeline.config import StanceFile

_SUBJ = {"nsubj", "csubj"}
_NOUNISH = {"NOUN", "PROPN", "PRON"}


@dataclass(frozen=True)
class Cue:
    polarity: int           # +1 support, -1 oppose, 0 neutral
    weight: float
    text: str


@dataclass(frozen=True)
class StanceHit:
    actor_key: Any          # whatever the caller's actor lookup returns
    score: float
    cue: str
    via: str                # subject | speaker


class CueLexicon:
    """The cue lists of stance.yaml, ready for lookups on lemmas."""

    def __init__(self, cfg: StanceFile):
        self.verbs: dict[str, int] = {}
        self.phrases: dict[tuple[str, str], int] = {}
        for polarity, cues in ((1, cfg.support), (-1, cfg.oppose), (0, cfg.neutral)):
            for verb in cues.verbs:
                self.verbs[verb.lower()] = polarity
            for phrase in cues.phrases:
                words = phrase.lower().split()
                if len(words) == 2:
                    self.phrases[(words[0], words[1])] = polarity
        self.weak = {w.lower() for w in cfg.weak}
        self.negators = {w.lower() for w in cfg.negators}
        self.hedges = {w.lower() for w in cfg.hedges}
        self.speech = {w.lower() for w in cfg.speech_verbs}
        self.threshold = cfg.label_threshold

    def cue_of(self, tok: Any) -> Cue | None:
        if tok.pos_ != "VERB":
            return None
        lemma = tok.lemma_.lower()
        if lemma in self.negators and any(c.dep_ == "xcomp" for c in tok.children):
            return None  # "refused to back": the complement carries the (negated) cue
        for child in tok.children:
            if child.dep_ in ("prt", "prep"):
                key = (lemma, child.lower_)
                if key in self.phrases:
                    return Cue(self.phrases[key], 1.0, f"{lemma} {child.lower_}")
        if lemma in self.verbs:
            return Cue(self.verbs[lemma], 0.5 if lemma in self.weak else 1.0, lemma)
        return None

    def label(self, score: float) -> str:
        if score >= self.threshold:
            return "support"
        if score <= -self.threshold:
            return "oppose"
        return "neutral"


def _negated(tok: Any, lex: CueLexicon) -> bool:
    if any(c.dep_ == "neg" for c in tok.children):
        return True
    head = tok.head
    # "refused to back", "declined to endorse": the cue is the open complement of a negating verb
    if tok.dep_ == "xcomp" and head is not tok and head.lemma_.lower() in lex.negators:
        return True
    return tok.dep_ == "xcomp" and any(c.dep_ == "neg" for c in head.children)


def _hedged(tok: Any, lex: CueLexicon) -> bool:
    chain = [tok] + ([tok.head] if tok.dep_ == "xcomp" else [])
    return any(c.dep_ in ("aux", "advmod") and c.lower_ in lex.hedges for t in chain for c in t.children)


def _score(cue: Cue, tok: Any, lex: CueLexicon) -> float:
    polarity, weight = cue.polarity, cue.weight
    if _negated(tok, lex):
        # "never accept" is a firm no; "did not rule out" is a cautious opening
        weight = weight if polarity > 0 else weight * 0.5
        polarity = -polarity
    if _hedged(tok, lex):
        weight *= 0.5
    return polarity * weight


def _subject_tokens(tok: Any) -> list[Any]:
    """Subjects of a verb, climbing through xcomp/conj heads ("agreed to join", "met and backed")."""
    cur = tok
    for _ in range(4):
        subj = [c for c in cur.children if c.dep_ in _SUBJ]
        if subj:
            out = []
            for s in subj:
                out.append(s)
                out.extend(c for c in s.conjuncts)
            return out
        if cur.dep_ in ("xcomp", "conj") and cur.head is not cur:
            cur = cur.head
            continue
        break
    return []


def _speaker_tokens(tok: Any, lex: CueLexicon) -> list[Any]:
    """The speaker of reported speech around the cue: "X said ...", "... , X told", "according to X"."""
    cur = tok
    for _ in range(6):
        for child in cur.children:
            if child.lower_ == "according":
                return [g for c in child.children if c.lower_ == "to" for g in c.children if g.dep_ == "pobj"]
        if cur.lemma_.lower() in lex.speech and cur is not tok:
            return [c for c in cur.children if c.dep_ in _SUBJ]
        if cur.head is cur:
            break
        cur = cur.head
    return []


def _actors_of(tokens: list[Any], actor_at: Callable[[Any], Any]) -> list[Any]:
    found = []
    for t in tokens:
        key = actor_at(t)
        if key is None:  # "Duma lawmakers", "Russia's parliament": the actor qualifies the head noun
            key = next((actor_at(c) for c in t.children
                        if c.dep_ in ("compound", "poss", "amod") and actor_at(c) is not None), None)
        if key is not None and key not in found:
            found.append(key)
    return found


def sentence_stances(sent: Any, lex: CueLexicon, actor_at: Callable[[Any], Any]) -> list[StanceHit]:
    """Stance hits in one parsed sentence; `actor_at(token)` returns an actor key or None."""
    hits: list[StanceHit] = []
    for tok in sent:
        cue = lex.cue_of(tok)
        if cue is None:
            continue
        score = _score(cue, tok, lex)
        subjects = _actors_of(_subject_tokens(tok), actor_at)
        via = "subject"
        if not subjects:
            subjects = _actors_of(_speaker_tokens(tok, lex), actor_at)
            via = "speaker"
        for actor in subjects:
            hits.append(StanceHit(actor, score, cue.text, via))
    return hits
