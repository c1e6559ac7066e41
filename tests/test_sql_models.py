"""SQL models and alert rules: a handful of raw rows in, the exact rows out."""
from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from tests.conftest import BACKENDS, open_test_store
from pipeline.sqlrun import build_models, raise_alerts, set_rule_variables


def ts(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 2, day, hour)


@pytest.fixture(params=BACKENDS)
def conn(request, tmp_path, default_config):
    """Every model test runs on both storage backends: the same SQL must give the same rows."""
    c = open_test_store(tmp_path, request.param)
    set_rule_variables(c, default_config)
    c.execute("insert into actors (actor_id, name, type) values ('duma', 'Russian State Duma', 'legislature'), "
              "('starmer', 'Keir Starmer', 'person')")
    yield c
    c.close()


def add_article(c: duckdb.DuckDBPyConnection, aid: str, domain: str, day: int) -> None:
    c.execute("insert into articles (article_id, url, canonical_url, feed, source_domain, title, published_at, "
              "fetched_at, text, extracted, load_seq) values (?, ?, ?, 'f', ?, ?, ?, ?, '', true, 1)",
              [aid, f"http://{domain}/{aid}", f"http://{domain}/{aid}", domain, f"Title {aid}", ts(day), ts(27)])


def add_mention(c, aid: str, actor: str, name: str, known: bool, sent: int, start: int = 0, seq: int = 1) -> None:
    c.execute("insert into actor_mentions values (?, ?, ?, ?, 'PERSON', ?, ?, ?, ?)",
              [aid, actor, name, known, sent, start + sent * 100, name, seq])


def add_topic(c, aid: str, topic: str, sent: int, seq: int = 1) -> None:
    c.execute("insert into topic_mentions values (?, ?, ?, ?, ?, ?)",
              [aid, topic, sent, topic, f"sentence {aid}/{sent}", seq])


def add_stance(c, aid: str, actor: str, topic: str, sent: int, score: float, day: int, seq: int = 1) -> None:
    label = "support" if score >= 0.25 else "oppose" if score <= -0.25 else "neutral"
    c.execute("insert into stances values (?, ?, ?, ?, ?, ?, 'cue', 'subject', ?, ?, ?)",
              [aid, actor, topic, sent, label, score, f"{actor} said {label} in {aid}", ts(day), seq])


def test_actor_first_seen(conn):
    add_article(conn, "a1", "one.example", 2)
    add_article(conn, "a2", "two.example", 5)
    add_mention(conn, "a1", "stubb", "Alexander Stubb", False, 0)
    add_mention(conn, "a2", "stubb", "Alexander Stubb", False, 1)
    add_topic(conn, "a2", "coalition", 1)
    add_mention(conn, "a2", "starmer", "Starmer", True, 3)
    build_models(conn)
    rows = conn.execute("select actor_id, actor_name, is_known, first_seen_at, first_source, articles, sources, "
                        "first_topic_seen_at, first_topic, topic_articles, topic_sources "
                        "from actor_first_seen order by actor_id").fetchall()
    assert rows == [
        ("starmer", "Keir Starmer", True, ts(5), "two.example", 1, 1, None, None, 0, 0),
        ("stubb", "Alexander Stubb", False, ts(2), "one.example", 2, 2, ts(5), "coalition", 1, 1),
    ]


def test_stance_ledger_periods(conn):
    for i, (day, score) in enumerate([(3, -1.0), (4, -0.5), (4, -1.0), (18, 0.5), (19, 1.0)]):
        add_article(conn, f"d{i}", "one.example" if i % 2 else "two.example", day)
        add_stance(conn, f"d{i}", "duma", "peacekeeping", 0, score, day)
    build_models(conn)
    rows = conn.execute("select actor_id, actor_name, topic, period, stance, started_at, ended_at, evidence_count, "
                        "mean_score from stance_ledger order by period").fetchall()
    assert rows == [
        ("duma", "Russian State Duma", "peacekeeping", 1, "oppose", ts(3), ts(4), 3, round(-2.5 / 3, 3)),
        ("duma", "Russian State Duma", "peacekeeping", 2, "support", ts(18), ts(19), 2, 0.75),
    ]


def test_alert_stance_change_exact(conn):
    for i, (day, score) in enumerate([(3, -1.0), (9, -1.0), (18, 0.5)]):
        add_article(conn, f"d{i}", "one.example", day)
        add_stance(conn, f"d{i}", "duma", "peacekeeping", 0, score, day)
        add_mention(conn, f"d{i}", "duma", "Russian State Duma", True, 0)
    add_article(conn, "s1", "one.example", 3)
    add_article(conn, "s2", "two.example", 20)
    add_stance(conn, "s1", "starmer", "coalition", 0, 1.0, 3)
    add_stance(conn, "s2", "starmer", "coalition", 0, 1.0, 20)
    build_models(conn)
    assert raise_alerts(conn, "c1", ts(27)) != []
    rows = conn.execute("select alert_type, actor_id, actor_name, topic, occurred_at, detected_at, summary, "
                        "details->>'before', details->>'after' from alerts").fetchall()
    assert rows == [("stance_change", "duma", "Russian State Duma", "peacekeeping", ts(18), ts(27),
                     "Stance change: Russian State Duma on peacekeeping: oppose -> support "
                     "(2 sentences before, 1 in 1 sources since 2026-02-18)", "oppose", "support")]
    evidence = json.loads(conn.execute("select evidence from alerts").fetchone()[0])
    assert [(e["side"], e["stance"], e["url"]) for e in evidence] == [
        ("before", "oppose", "http://one.example/d1"), ("after", "support", "http://one.example/d2")]
    # rerun: the same alert is never raised twice
    build_models(conn)
    assert raise_alerts(conn, "c2", ts(28)) == []


def test_alert_stance_change_needs_evidence_each_side(conn, default_config):
    conn.execute("set variable stance_min_evidence = 2")
    for i, (day, score) in enumerate([(3, -1.0), (9, -1.0), (18, 0.5)]):
        add_article(conn, f"d{i}", "one.example", day)
        add_stance(conn, f"d{i}", "duma", "peacekeeping", 0, score, day)
    build_models(conn)
    assert raise_alerts(conn, "c1", ts(27)) == []


def test_alert_new_actor_exact(conn):
    # Stubb in topic context in two sources; a footballer in two sources but never near a topic;
    # a spokesman in topic context in one source only; a registered actor in two.
    for aid, domain, day in [("a1", "one.example", 16), ("a2", "two.example", 17), ("b1", "one.example", 6),
                             ("b2", "two.example", 10), ("c1", "one.example", 12)]:
        add_article(conn, aid, domain, day)
    for aid in ("a1", "a2"):
        add_mention(conn, aid, "stubb", "Alexander Stubb", False, 0)
        add_topic(conn, aid, "coalition", 0)
        add_mention(conn, aid, "starmer", "Keir Starmer", True, 0, start=50)
    for aid in ("b1", "b2"):
        add_mention(conn, aid, "mateo-ferreira", "Mateo Ferreira", False, 0)
    add_mention(conn, "c1", "ivan-ivanov", "Ivan Ivanov", False, 2)
    add_topic(conn, "c1", "ceasefire", 2)
    build_models(conn)
    raise_alerts(conn, "c1", ts(27))
    rows = conn.execute("select alert_id, alert_type, actor_id, actor_name, topic, occurred_at, summary, "
                        "details->>'first_source' from alerts").fetchall()
    assert rows == [(rows[0][0], "new_actor", "stubb", "Alexander Stubb", "coalition", ts(17),
                     "New actor in the story: Alexander Stubb (coalition), backed by 2 independent sources "
                     "(2 stories, 2 sentences); first in one.example", "one.example")]
    assert len(rows[0][0]) == 16
    evidence = json.loads(conn.execute("select evidence from alerts").fetchone()[0])
    assert [e["source_domain"] for e in evidence] == ["one.example", "two.example"]


def test_models_are_ordered_by_dependency():
    from pipeline.sqlrun import load_models

    order = [m.name for m in load_models()]
    assert order.index("stg_articles") < order.index("int_actor_topic_context") < order.index("actor_first_seen")
    assert order.index("actor_stance_daily") < order.index("stance_ledger")


def test_cluster_by_names_a_key_column_of_a_merge_model(tmp_path):
    from pipeline.sqlrun import load_models

    head = "-- materialized: merge\n-- unique_key: actor_id, day\n"
    (tmp_path / "ok.sql").write_text(head + "-- cluster_by: day\nselect 1 as actor_id, 2 as day")
    assert [m.cluster_by for m in load_models(tmp_path)] == ["day"]
    (tmp_path / "ok.sql").write_text(head + "-- cluster_by: mentions\nselect 1 as actor_id, 2 as day")
    with pytest.raises(ValueError, match="ok.sql: '-- cluster_by:' names one of a merge model's unique_key"):
        load_models(tmp_path)
