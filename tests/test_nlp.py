"""Annotation: registry actors via the EntityRuler, candidates, topics and stance v1, exact rows."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.records import Article

WHEN = datetime(2026, 2, 3, tzinfo=timezone.utc)


def article(text: str, title: str = "") -> Article:
    return Article("a1", "http://x/1", "http://x/1", "f", "x", title, WHEN, WHEN, "en", text)


def annotate(annotator, text: str, title: str = ""):
    return annotator.annotate([article(text, title)])[0]


def stances(ann) -> set[tuple[str, str, str]]:
    return {(s.actor_id, s.topic, s.stance) for s in ann.stances}


@pytest.mark.parametrize("text, expected", [
    ("The Russian State Duma rejected any deployment of foreign peacekeepers in Ukraine.",
     {("russian-state-duma", "peacekeeping", "oppose")}),
    ("The Duma acknowledged the possibility of foreign peacekeeping forces after a ceasefire.",
     {("russian-state-duma", "peacekeeping", "support"), ("russian-state-duma", "ceasefire", "support")}),
    ("Moscow refused to back the ceasefire proposal.", {("russia", "ceasefire", "oppose")}),
    ("Keir Starmer did not rule out sending peacekeepers.", {("keir-starmer", "peacekeeping", "support")}),
    ('"We will never accept foreign troops," Peskov told reporters.', {("dmitry-peskov", "peacekeeping", "oppose")}),
    # reported speech: the stance belongs to the subject of the cue, not to the speaker
    ("Macron said the Kremlin rejected the truce.", {("russia", "ceasefire", "oppose")}),
    ("Starmer supports the deployment of British troops as part of a peacekeeping force, according to officials in London.",
     {("keir-starmer", "peacekeeping", "support")}),
    # several actors, one subject each
    ("France and Britain backed the coalition of the willing, while Lavrov dismissed it.",
     {("france", "coalition", "support"), ("united-kingdom", "coalition", "support"),
      ("sergey-lavrov", "coalition", "oppose")}),
    ("Giorgia Meloni is considering a role for Italy in the multinational force.",
     {("giorgia-meloni", "coalition", "neutral")}),
])
def test_stance(annotator, text, expected):
    assert stances(annotate(annotator, text)) == expected


def test_no_stance_without_topic(annotator):
    ann = annotate(annotator, "Keir Starmer rejected the budget amendment on Tuesday.")
    assert ann.stances == [] and ann.topics == []


def test_registry_aliases_and_metonyms(annotator):
    ann = annotate(annotator, "Officials in Kyiv and the Kremlin spoke as Zelensky met Starmer in Downing Street.")
    assert [(m.actor_id, m.surface, m.is_known) for m in ann.actors] == [
        ("ukraine", "Kyiv", True), ("russia", "the Kremlin", True), ("volodymyr-zelenskyy", "Zelensky", True),
        ("keir-starmer", "Starmer", True), ("united-kingdom", "Downing Street", True)]
    assert {m.actor_name for m in ann.actors} >= {"Ukraine", "Russia", "Volodymyr Zelenskyy"}


def test_candidate_surname_joins_full_name(annotator):
    ann = annotate(annotator, "Finnish President Alexander Stubb said Finland would join the coalition of the willing. "
                              "Stubb backed the coalition of the willing in Helsinki.")
    cands = [(m.actor_id, m.actor_name, m.sentence_index) for m in ann.actors if not m.is_known]
    assert cands == [("alexander-stubb", "Alexander Stubb", 0), ("alexander-stubb", "Alexander Stubb", 1)]
    assert ("alexander-stubb", "coalition", "support") in stances(ann)


def test_topics_lemma_aware_and_multiword(annotator):
    ann = annotate(annotator, "Peacekeepers may follow a cease-fire. The coalition of the willing met.",
                   title="Truce holds")
    assert [(t.topic, t.sentence_index, t.term) for t in ann.topics] == [
        ("ceasefire", 0, "Truce"), ("peacekeeping", 1, "Peacekeepers"), ("ceasefire", 1, "cease-fire"),
        ("coalition", 2, "coalition of the willing")]


def test_junk_entities_are_not_candidates(annotator):
    ann = annotate(annotator, "Reuters reported on Monday that 3,000 peacekeepers could deploy, the BBC said.")
    assert [m.actor_id for m in ann.actors if not m.is_known] == []


def dated(text: str, day: str) -> Article:
    when = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    return Article("a1", "http://x/1", "http://x/1", "f", "x", "", when, when, "en", text)


@pytest.mark.parametrize("day, holder", [
    ("2024-03-12", "rishi-sunak"), ("2024-07-04", "rishi-sunak"), ("2024-07-05", "keir-starmer"),
    ("2026-03-12", "keir-starmer"),
])
def test_role_titles_resolve_to_the_holder_on_the_article_date(annotator, day, holder):
    ann = annotator.annotate([dated("The British prime minister ruled out deploying peacekeepers.", day)])[0]
    assert [(m.actor_id, m.surface, m.is_known) for m in ann.actors] == [(holder, "British prime minister", True)]
    assert stances(ann) == {(holder, "peacekeeping", "oppose")}


def test_former_or_named_role_titles_are_left_alone(annotator):
    ann = annotator.annotate([dated("Former US President Joe Biden did not comment. "
                                    "US President Donald Trump backed a ceasefire.", "2025-03-05")])[0]
    assert [(m.actor_id, m.surface) for m in ann.actors] == [("joe-biden", "Joe Biden"), ("donald-trump", "Donald Trump")]
    assert stances(ann) == {("donald-trump", "ceasefire", "support")}


def test_lookalike_names_are_not_actors(annotator):
    ann = annotate(annotator, "The Washington Post said Trump Tower was evacuated, and London Stock Exchange shares fell.")
    assert [m.actor_id for m in ann.actors] == []


def test_figurative_topic_words_are_vetoed(annotator):
    ann = annotate(annotator, "The club manager called for a truce with the league. Kyiv called for a truce.")
    assert [(t.topic, t.sentence_index) for t in ann.topics] == [("ceasefire", 1)]


def test_places_count_as_candidates_only_when_they_act(annotator):
    ann = annotate(annotator, "Ukraine accepted the ceasefire after talks in Jeddah. "
                              "Hungary rejected the ceasefire plan.")
    assert [m.actor_id for m in ann.actors if not m.is_known] == ["hungary"]


def test_conditions_denials_and_side_clauses_state_no_position(annotator):
    ann = annotate(annotator, "Peskov denied that Putin had agreed to a ceasefire. "
                              "Starmer said Britain was ready to deploy peacekeepers once a ceasefire is agreed.")
    assert stances(ann) == {("united-kingdom", "peacekeeping", "support")}


def test_selective_parse_finds_what_the_full_parse_finds_in_topic_sentences(annotator):
    from dataclasses import replace

    text = ("Alexander Stubb met students in Turku on Monday. The weather was cold. "
            "Stubb backed the coalition of the willing. Markets rose in Helsinki.")
    fast = annotate(annotator, text)
    full = annotate(replace(annotator, selective=False), text)
    assert stances(fast) == stances(full) == {("alexander-stubb", "coalition", "support")}
    assert fast.topics == full.topics
    # registered actors are found in every sentence either way; candidates only where a topic is
    assert [m.actor_id for m in fast.actors if m.is_known] == [m.actor_id for m in full.actors if m.is_known] == ["finland"]


def test_annotating_in_two_processes_gives_the_same_rows(annotator, default_config):
    from dataclasses import replace as dc_replace

    from pipeline.cycle import annotate_stage
    from pipeline.settings import Settings

    texts = ["Keir Starmer backed the coalition of the willing.", "The Kremlin rejected foreign peacekeepers.",
             "Alexander Stubb said Finland would join the multinational force.", "Markets rose on Tuesday.",
             "Lavrov dismissed the ceasefire plan."]
    arts = [dc_replace(article(t), article_id=f"a{i}") for i, t in enumerate(texts)]
    settings = dc_replace(Settings.from_env(), annotate_processes=2, annotate_parallel_from=2)
    parallel = annotate_stage(arts, annotator, default_config, settings)
    assert [a.article_id for a in parallel] == [a.article_id for a in arts]
    assert parallel == annotator.annotate(arts)
