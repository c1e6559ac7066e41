"""Score the annotator against a hand-labelled gold set (tests/eval/gold.jsonl).

Each gold line is one sentence with its date, the topics it mentions, the registered actors in it
(ids, role titles resolved on that date), the candidate actors in it when it mentions a topic
(names as an analyst would write them), and the stance of each actor that takes one per topic.

    topics      micro P/R/F1 over (sentence, topic), and per topic
    known       micro P/R/F1 over (sentence, registered actor id)
    candidates  micro P/R/F1 over (sentence, candidate id) in topic sentences
    stance      per label P/R/F1 over (sentence, actor, topic); macro-F1 over support/oppose/neutral
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from pipeline.actors import candidate_id
from pipeline.records import Annotation, Article
from pipeline.settings import PROJECT_ROOT

GOLD_PATH = PROJECT_ROOT / "tests" / "eval" / "gold.jsonl"
FLOORS_PATH = PROJECT_ROOT / "tests" / "eval" / "floors.json"
LABELS = ("support", "oppose", "neutral")


@dataclass(frozen=True)
class GoldItem:
    id: str
    split: str
    date: str
    text: str
    topics: frozenset[str]
    actors: frozenset[str]
    candidates: frozenset[str]                 # candidate ids (slugs of the names)
    stances: dict[tuple[str, str], str]        # (actor id, topic) -> label


def load_gold(path: Path = GOLD_PATH, split: str = "all") -> list[GoldItem]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = GoldItem(
                raw["id"], raw["split"], raw["date"], raw["text"], frozenset(raw["topics"]), frozenset(raw["actors"]),
                frozenset(candidate_id(c) for c in raw["candidates"]),
                {(s["actor"], s["topic"]): s["stance"] for s in raw["stances"]},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: not a gold item ({type(exc).__name__}: {exc})") from None
        if split in ("all", item.split):
            items.append(item)
    return items


def _article(item: GoldItem) -> Article:
    when = datetime.combine(datetime.fromisoformat(item.date).date(), time(12), tzinfo=timezone.utc)
    return Article(item.id, f"https://gold.invalid/{item.id}", f"https://gold.invalid/{item.id}", "gold",
                   "gold.invalid", "", when, when, "en", item.text)


@dataclass(frozen=True)
class Prediction:
    topics: frozenset[str]
    actors: frozenset[str]
    candidates: frozenset[str]
    stances: dict[tuple[str, str], str]


def prediction(ann: Annotation) -> Prediction:
    topic_sentences = {t.sentence_index for t in ann.topics}
    return Prediction(
        frozenset(t.topic for t in ann.topics),
        frozenset(m.actor_id for m in ann.actors if m.is_known),
        frozenset(m.actor_id for m in ann.actors if not m.is_known and m.sentence_index in topic_sentences),
        _one_label_per_pair(ann),
    )


def _one_label_per_pair(ann: Annotation) -> dict[tuple[str, str], str]:
    """A sentence split in two by the tagger can give a pair two stances; the strongest one counts."""
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for s in ann.stances:
        key = (s.actor_id, s.topic)
        if key not in best or abs(s.score) > best[key][0]:
            best[key] = (abs(s.score), s.stance)
    return {k: v[1] for k, v in best.items()}


def predict(annotator: Any, items: Sequence[GoldItem]) -> list[Prediction]:
    return [prediction(a) for a in annotator.annotate([_article(i) for i in items])]


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add_sets(self, gold: Iterable[Any], pred: Iterable[Any]) -> None:
        g, p = set(gold), set(pred)
        self.tp += len(g & p)
        self.fp += len(p - g)
        self.fn += len(g - p)


@dataclass
class Report:
    split: str
    sentences: int
    topics: PRF = field(default_factory=PRF)
    per_topic: dict[str, PRF] = field(default_factory=dict)
    known: PRF = field(default_factory=PRF)
    candidates: PRF = field(default_factory=PRF)
    stance: dict[str, PRF] = field(default_factory=lambda: {label: PRF() for label in LABELS})
    errors: list[str] = field(default_factory=list)

    @property
    def stance_macro_f1(self) -> float:
        return sum(p.f1 for p in self.stance.values()) / len(self.stance)

    def scores(self) -> dict[str, float]:
        return {"topic_f1": round(self.topics.f1, 4), "known_actor_f1": round(self.known.f1, 4),
                "candidate_actor_f1": round(self.candidates.f1, 4), "stance_macro_f1": round(self.stance_macro_f1, 4)}

    def text(self) -> str:
        def row(name: str, p: PRF) -> str:
            return f"  {name:<22} P {p.precision:.3f}  R {p.recall:.3f}  F1 {p.f1:.3f}   (tp {p.tp}, fp {p.fp}, fn {p.fn})"

        lines = [f"gold split: {self.split}, {self.sentences} sentences", row("topics", self.topics)]
        lines += [row(f"  topic {t}", p) for t, p in sorted(self.per_topic.items())]
        lines += [row("known actors", self.known), row("candidate actors", self.candidates)]
        lines += [row(f"stance {label}", self.stance[label]) for label in LABELS]
        lines.append(f"  {'stance macro-F1':<22} {self.stance_macro_f1:.3f}")
        return "\n".join(lines)


def score(items: Sequence[GoldItem], preds: Sequence[Prediction], split: str = "all") -> Report:
    report = Report(split, len(items))
    for item, pred in zip(items, preds):
        report.topics.add_sets(item.topics, pred.topics)
        for topic in item.topics | pred.topics:
            report.per_topic.setdefault(topic, PRF()).add_sets(item.topics & {topic}, pred.topics & {topic})
        report.known.add_sets(item.actors, pred.actors)
        report.candidates.add_sets(item.candidates, pred.candidates)
        for pair in item.stances.keys() | pred.stances.keys():
            gold, got = item.stances.get(pair, "none"), pred.stances.get(pair, "none")
            for label in LABELS:
                prf = report.stance[label]
                if gold == label and got == label:
                    prf.tp += 1
                elif got == label:
                    prf.fp += 1
                elif gold == label:
                    prf.fn += 1
            if gold != got:
                report.errors.append(f"{item.id} stance {pair[0]}/{pair[1]}: gold {gold}, got {got}")
        for kind, g, p in (("topic", item.topics, pred.topics), ("actor", item.actors, pred.actors),
                           ("candidate", item.candidates, pred.candidates)):
            for miss in sorted(g - p):
                report.errors.append(f"{item.id} {kind} missed: {miss}")
            for extra in sorted(p - g):
                report.errors.append(f"{item.id} {kind} extra: {extra}")
    return report


def evaluate(annotator: Any, split: str = "test", path: Path = GOLD_PATH) -> Report:
    items = load_gold(path, split)
    return score(items, predict(annotator, items), split)


def load_floors(path: Path = FLOORS_PATH) -> dict[str, float]:
    return {k: float(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["floors"].items()}
