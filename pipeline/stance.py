"""Stance: cue lexicon + dependency parse -> (actor, score, cue, via, topics) for one sentence.

A cue (verb, verb + particle, or predicate adjective) counts for the actor that is its subject (or
passive agent), else for the speaker of the reported speech around it. Negation flips it, hedges
halve it, and a cue inside a conditional or temporal clause ("once a ceasefire is agreed") is no
stance at all. Each cue is tied to the topics in its object, else in its own clause, else to the
sentence's topics no other cue claimed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from pipeline.config import StanceFile

_SUBJ = {"nsubj", "csubj"}
_OBJECT_DEPS = {"dobj", "xcomp", "ccomp", "attr", "nsubjpass", "oprd", "dative", "acomp"}
_OTHER_CLAUSE = {"conj", "advcl", "parataxis", "relcl", "ccomp", "cc"}
_SIDE_CLAUSE = {"advcl", "relcl", "parataxis"}     # never part of a cue's object
_MAIN_DEPS = {"ROOT", "ccomp", "xcomp", "conj"}    # cues that may take the sentence's unclaimed topics
_CONDITION = {"once", "when", "if", "after", "before", "until", "unless", "whether", "whenever"}
_NOTHING = {"nothing", "none"}
_ANAPHORA = {"it", "them", "this", "that", "these", "those"}


@dataclass(frozen=True)
class Cue:
    polarity: int           # +1 support, -1 oppose, 0 neutral
    weight: float
    text: str
    particle: Any = None    # the second word of a phrase cue ("for" in "call for")


@dataclass(frozen=True)
class StanceHit:
    actor_key: Any          # whatever the caller's actor lookup returns
    score: float
    cue: str
    via: str                # subject | speaker
    topics: frozenset[str] = frozenset()   # the topics this cue is about


class CueLexicon:
    """The cue lists of stance.yaml, ready for lookups on lemmas."""

    def __init__(self, cfg: StanceFile):
        self.verbs: dict[str, int] = {}
        self.adjectives: dict[str, int] = {}
        self.phrases: dict[tuple[str, str], int] = {}
        for polarity, cues in ((1, cfg.support), (-1, cfg.oppose), (0, cfg.neutral)):
            for verb in cues.verbs:
                self.verbs[verb.lower()] = polarity
            for adj in cues.adjectives:
                self.adjectives[adj.lower()] = polarity
            for phrase in cues.phrases:
                words = phrase.lower().split()
                if len(words) == 2:
                    self.phrases[(words[0], words[1])] = polarity
        self.weak = {w.lower() for w in cfg.weak}
        self.negators = {w.lower() for w in cfg.negators}
        self.hedges = {w.lower() for w in cfg.hedges}
        self.speech = {w.lower() for w in cfg.speech_verbs}
        self.denials = {w.lower() for w in cfg.denials}
        self.threshold = cfg.label_threshold

    def cue_of(self, tok: Any) -> Cue | None:
        lemma = tok.lemma_.lower()
        if tok.pos_ == "ADJ":   # "Copenhagen was open to ...", "ready to contribute"
            if lemma not in self.adjectives or tok.dep_ not in ("acomp", "amod", "ROOT", "xcomp", "conj"):
                return None
            if any(c.dep_ == "xcomp" and self.cue_of(c) is not None for c in tok.children):
                return None  # "ready to discuss": the complement's cue decides
            return Cue(self.adjectives[lemma], 0.5 if lemma in self.weak else 1.0, lemma)
        if tok.pos_ != "VERB":
            return None
        if lemma in self.negators and any(c.dep_ == "xcomp" for c in tok.children):
            return None  # "refused to back": the complement carries the (negated) cue
        for child in tok.children:
            if child.dep_ in ("prt", "prep", "dobj"):   # "call for", "rule out", "take part"
                key = (lemma, child.lower_)
                if key in self.phrases:
                    return Cue(self.phrases[key], 1.0, f"{lemma} {child.lower_}", child)
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
    if any(c.dep_ == "neg" or (c.dep_ == "dobj" and c.lower_ in _NOTHING) for c in tok.children):
        return True
    head = tok.head
    # "refused to back", "declined to endorse": the cue is the open complement of a negating verb
    if tok.dep_ == "xcomp" and head is not tok and head.lemma_.lower() in lex.negators:
        return True
    return tok.dep_ == "xcomp" and any(c.dep_ == "neg" for c in head.children)


def _hedged(tok: Any, lex: CueLexicon) -> bool:
    chain = [tok] + ([tok.head] if tok.dep_ == "xcomp" else [])
    return any(c.dep_ in ("aux", "advmod") and c.lower_ in lex.hedges for t in chain for c in t.children)


def _no_position(tok: Any, lex: CueLexicon) -> bool:
    """A cue in an "if"/"once"/"after" clause states a condition, and one under a denial ("denied
    that Putin had agreed") states what did not happen: neither is a position."""
    if any(c.dep_ == "mark" and c.lower_ in _CONDITION for c in tok.children):
        return True
    return tok.dep_ == "ccomp" and tok.head.lemma_.lower() in lex.denials


def _score(cue: Cue, tok: Any, lex: CueLexicon) -> float | None:
    """The cue's score in context, or None when it expresses no stance ("not discussing")."""
    polarity, weight = cue.polarity, cue.weight
    if _negated(tok, lex):
        if polarity == 0:
            return None
        # "never accept" is a firm no; "did not rule out" is a cautious opening
        weight = weight if polarity > 0 else weight * 0.5
        polarity = -polarity
    if _hedged(tok, lex):
        weight *= 0.5
    return polarity * weight


def _subject_tokens(tok: Any) -> list[Any]:
    """Subjects of a verb (or passive agents: "rejected by Moscow"), climbing through xcomp/conj/acomp
    heads ("agreed to join", "met and backed", "was ready to contribute")."""
    cur = tok
    for _ in range(4):
        subj = [c for c in cur.children if c.dep_ in _SUBJ]
        if not subj:
            subj = [g for c in cur.children if c.dep_ == "agent" for g in c.children if g.dep_ == "pobj"]
        if subj:
            out = []
            for s in subj:
                out.append(s)
                out.extend(c for c in s.conjuncts)
            return out
        if cur.dep_ in ("xcomp", "conj", "acomp") and cur.head is not cur:
            cur = cur.head
            continue
        break
    return []


def _speaker_tokens(tok: Any, lex: CueLexicon, actor_at: Callable[[Any], Any]) -> list[Any]:
    """The speaker of reported speech around the cue: "X said ...", "... , X told", "according to X"."""
    cur = tok
    for _ in range(6):
        for child in cur.children:
            if child.lower_ == "according":
                return [g for c in child.children if c.lower_ == "to" for g in c.children if g.dep_ == "pobj"]
        if cur.lemma_.lower() in lex.speech and cur is not tok:
            return [c for c in cur.children if c.dep_ in _SUBJ]
        if cur is not tok and any(c.dep_ in _SUBJ and actor_at(c) is not None for c in cur.children):
            return []   # "X said Kyiv welcomed ...": what lies below belongs to Kyiv's clause, not to X
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


def _walk(top: Any, skip_first: set[str], skip_all: set[str]) -> Iterator[Any]:
    """`top` and its dependents, leaving out `top`'s children in `skip_first` and any in `skip_all`."""
    stack = [top]
    while stack:
        cur = stack.pop()
        yield cur
        stack.extend(c for c in cur.children
                     if c.dep_ not in skip_all and (cur is not top or c.dep_ not in skip_first))


def _topics_of(tok: Any, cue: Cue, topic_at: dict[int, str]) -> tuple[frozenset[str], frozenset[str]]:
    """(topics in the cue's object, topics in the cue's own clause); side clauses never count."""
    heads = [c for c in tok.children if c.dep_ in _OBJECT_DEPS or c is cue.particle
             or (tok.pos_ == "ADJ" and c.dep_ == "prep")]
    in_object = {topic_at[t.i] for h in heads for t in _walk(h, set(), _SIDE_CLAUSE) if t.i in topic_at}
    in_clause = {topic_at[t.i] for t in _walk(tok, _OTHER_CLAUSE, _SIDE_CLAUSE) if t.i in topic_at}
    return frozenset(in_object), frozenset(in_clause)


def _antecedent_topic(tok: Any, topic_at: dict[int, str]) -> frozenset[str]:
    """"... while Lavrov dismissed it": a pronoun object stands for the nearest topic named before it."""
    for c in tok.children:
        if c.dep_ in ("dobj", "nsubjpass") and c.lower_ in _ANAPHORA:
            before = [k for k in topic_at if k < c.i]
            if before:
                return frozenset({topic_at[max(before)]})
    return frozenset()


def sentence_stances(sent: Any, lex: CueLexicon, actor_at: Callable[[Any], Any],
                     topic_at: dict[int, str] | None = None) -> list[StanceHit]:
    """Stance hits in one parsed sentence; `actor_at(token)` returns an actor key or None and
    `topic_at` maps the token index of each topic term to its topic (None: every hit gets no topics)."""
    topic_at = topic_at or {}
    found: list[tuple[Any, float, str, str, frozenset[str] | None]] = []
    claimed: set[str] = set()
    for tok in sent:
        cue = lex.cue_of(tok)
        if cue is None or _no_position(tok, lex):
            continue
        if tok.dep_ == "xcomp" and tok.head is not tok and tok.head.pos_ == "VERB" and lex.cue_of(tok.head):
            continue    # "agreed to join", "did not rule out contributing": the governing cue decides
        score = _score(cue, tok, lex)
        if score is None:
            continue
        subjects = _actors_of(_subject_tokens(tok), actor_at)
        via = "subject"
        if not subjects:
            subjects = _actors_of(_speaker_tokens(tok, lex, actor_at), actor_at)
            via = "speaker"
        in_object, in_clause = _topics_of(tok, cue, topic_at)
        if not in_object:
            in_object = _antecedent_topic(tok, topic_at)
        topics = in_object or in_clause or (None if tok.dep_ in _MAIN_DEPS else frozenset())
        claimed |= topics or set()
        for actor in subjects:
            found.append((actor, score, cue.text, via, topics))
    unclaimed = frozenset(set(topic_at.values()) - claimed)
    return [StanceHit(actor, score, cue, via, topics if topics is not None else unclaimed)
            for actor, score, cue, via, topics in found]
