"""Marts and the new alert rules: a handful of raw rows in, the exact rows out; incremental == full."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import BACKENDS, open_test_store
from pipeline.sqlrun import alert_queries, build_models, raise_alerts, set_rule_variables, set_variables
from tests.test_sql_models import add_mention, add_stance, add_topic, ts


@pytest.fixture(params=BACKENDS)
def conn(request, tmp_path, default_config):
    """Every mart test runs on both storage backends."""
    c = open_test_store(tmp_path, request.param)
    set_rule_variables(c, default_config, now=ts(27))
    c.execute("insert into actors (actor_id, name, type) values ('duma', 'Russian State Duma', 'legislature')")
    yield c
    c.close()


def article(c, aid: str, domain: str, when: datetime, story: str | None = None, seq: int = 1, feed: str = "f") -> None:
    c.execute("insert into articles (article_id, url, canonical_url, feed, source_domain, title, published_at, "
              "fetched_at, text, extracted, story_id, load_seq) values (?, ?, ?, ?, ?, ?, ?, ?, '', true, ?, ?)",
              [aid, f"http://{domain}/{aid}", f"http://{domain}/{aid}", feed, domain, f"Title {aid}", when, when,
               story, seq])


def test_topic_volume_daily_counts_stories_once(conn):
    article(conn, "a1", "one.example", ts(3, 9))
    article(conn, "a2", "two.example", ts(3, 10), story="a1")      # wire copy of a1
    article(conn, "a3", "two.example", ts(3, 11))
    article(conn, "a4", "one.example", ts(4, 9))
    for aid in ("a1", "a2", "a3", "a4"):
        add_topic(conn, aid, "ceasefire", 0)
    add_topic(conn, "a3", "ceasefire", 2)
    add_topic(conn, "a3", "peacekeeping", 1)
    build_models(conn)
    rows = conn.execute("select topic, day, articles, stories, sources, mentions, last_event_at "
                        "from topic_volume_daily order by all").fetchall()
    assert rows == [("ceasefire", ts(3).date(), 3, 2, 2, 4, ts(3, 11)), ("ceasefire", ts(4).date(), 1, 1, 1, 1, ts(4, 9)),
                    ("peacekeeping", ts(3).date(), 1, 1, 1, 1, ts(3, 11))]


def test_actor_activity_daily(conn):
    article(conn, "a1", "one.example", ts(3, 9))
    article(conn, "a2", "two.example", ts(3, 10))
    add_mention(conn, "a1", "stubb", "Alexander Stubb", False, 0)
    add_mention(conn, "a1", "stubb", "Alexander Stubb", False, 1)
    add_mention(conn, "a2", "stubb", "Alexander Stubb", False, 0)
    add_topic(conn, "a2", "coalition", 0)
    build_models(conn)
    rows = conn.execute("select actor_id, day, actor_name, is_known, mentions, articles, "
                        "topic_mentions, topic_articles from actor_activity_daily").fetchall()
    assert rows == [("stubb", ts(3).date(), "Alexander Stubb", False, 3, 2, 1, 1)]


def test_stance_ledger_periods_with_sources_and_evidence(conn):
    for i, (day, score, domain) in enumerate([(3, -1.0, "one.example"), (4, -0.5, "two.example"),
                                              (18, 0.5, "one.example"), (19, 1.0, "three.example")]):
        article(conn, f"d{i}", domain, ts(day))
        add_stance(conn, f"d{i}", "duma", "peacekeeping", 0, score, day)
    build_models(conn)
    rows = conn.execute("select actor_name, period, stance, started_at, ended_at, evidence_count, sources, stories, "
                        "mean_score, first_evidence_url, last_evidence_url, last_sentence, is_current "
                        "from stance_ledger order by period").fetchall()
    assert rows == [
        ("Russian State Duma", 1, "oppose", ts(3), ts(4), 2, 2, 2, -0.75, "http://one.example/d0",
         "http://two.example/d1", "duma said oppose in d1", False),
        ("Russian State Duma", 2, "support", ts(18), ts(19), 2, 2, 2, 0.75, "http://one.example/d2",
         "http://three.example/d3", "duma said support in d3", True),
    ]


def test_feed_health_and_topical_rhythm(conn):
    conn.execute("insert into feeds (feed, url, last_status, last_success_at, last_polled_at, consecutive_failures) "
                 "values ('wire', 'http://w/f', 'ok', ?, ?, 0), ('dead', 'http://d/f', 'error', ?, ?, 3)",
                 [ts(26, 23), ts(26, 23), ts(20), ts(26, 23)])
    for day in range(20, 27):
        article(conn, f"w{day}", "w.example", ts(day), feed="wire")
        add_topic(conn, f"w{day}", "ceasefire", 0)
    article(conn, "x1", "w.example", ts(26, 8), feed="wire")      # off topic
    build_models(conn)
    rows = conn.execute("select feed, status, items_per_day, topic_articles_7d, last_topic_article_at, main_topic, "
                        "topic_days_active, consecutive_failures from feed_health order by feed").fetchall()
    assert rows == [("dead", "failing", 0.0, 0, None, None, 0, 3),
                    ("wire", "ok", 1.0, 6, ts(26), "ceasefire", 7, 0)]   # 7 days back from 27 Feb noon


def test_incremental_builds_equal_a_full_build(conn):
    """Load in four batches, building after each; the marts must equal one full build of the result."""
    marts = ["int_actor_topic_context", "actor_source_stats", "actor_topic_stories", "actor_first_seen",
             "actor_activity_daily", "topic_volume_daily", "feed_topic_daily", "actor_stance_daily", "stance_ledger"]
    n = 0
    for seq in range(1, 5):
        for k in range(6):
            n += 1
            aid = f"a{n}"
            article(conn, aid, ["one.example", "two.example", "three.example"][n % 3], ts(2 + n % 9, 8 + k),
                    story=f"a{n - 1}" if n % 5 == 0 else None, seq=seq)
            add_mention(conn, aid, ["stubb", "duma", "orban"][n % 3], ["Alexander Stubb", "Duma", "Viktor Orban"][n % 3],
                        n % 3 == 1, 0, seq=seq)
            add_mention(conn, aid, "stubb", "Alexander Stubb", False, 1, start=5, seq=seq)
            add_topic(conn, aid, ["ceasefire", "coalition"][n % 2], n % 2, seq=seq)
            add_stance(conn, aid, ["duma", "stubb"][n % 2], "peacekeeping", 0, [-1.0, 0.5, 1.0, -0.5][n % 4], 2 + n % 9,
                       seq=seq)
        build_models(conn)
        states = dict(conn.execute("select model, watermark from model_state").fetchall())
        assert set(states.values()) == {seq}
    def rows(m):      # generations and last-build deltas say when a row was written: they differ by design
        return conn.execute(f"select columns(c -> c not like '%gen%' and c not like 'delta%') from {m} "
                            "order by all").fetchall()

    incremental = {m: rows(m) for m in marts}
    build_models(conn, full=True)
    for m in marts:
        assert rows(m) == incremental[m], m


def test_a_fold_reads_only_the_generations_of_its_keys_and_still_equals_a_full_build(conn, monkeypatch):
    """actor_source_stats folds read only the row groups of the generations its keys were last
    written in (sqlrun._touched_in). Keys come back from old generations, from more generations than
    the filter keeps ranges for, and new keys arrive: the result must still equal a full build."""
    from pipeline.sqlrun import _touched_in

    monkeypatch.setattr("pipeline.sqlrun.MAX_GEN_RANGES", 3)      # ranges get merged below
    pairs = 6
    n = 0

    def batch(seq: int, which: list[int]) -> None:
        nonlocal n
        for i in which:
            n += 1
            article(conn, f"g{n}", f"s{i}.example", ts(1 + n % 20, 8), seq=seq)
            add_mention(conn, f"g{n}", f"actor{i}", f"Actor {i}", False, 0, seq=seq)
            add_topic(conn, f"g{n}", "coalition", 0, seq=seq)

    for seq in range(1, pairs + 1):               # one new pair per build: generations 1 .. pairs
        batch(seq, [seq - 1])
        build_models(conn)
    gens = dict(conn.execute("select actor_id, touched_gen from actor_source_stats").fetchall())
    assert len(set(gens.values())) == pairs
    # the fold's filter names exactly the generations of the keys it meets, or none for new keys
    conn.execute("create or replace temp table _delta as select hash('actor1', 's1.example') as _key "
                 "union all select hash('actor4', 's4.example')")
    assert _touched_in(conn, "actor_source_stats") == (
        f"(m.touched_gen between {gens['actor1']} and {gens['actor1']} "
        f"or m.touched_gen between {gens['actor4']} and {gens['actor4']})")
    conn.execute("create or replace temp table _delta as select hash('nobody', 'x.example') as _key")
    assert _touched_in(conn, "actor_source_stats") == "false"
    batch(pairs + 1, [0, 2, 4])                                 # old keys come back
    build_models(conn)
    batch(pairs + 2, list(range(pairs)) + [pairs, pairs + 1])   # every key, and two new ones
    build_models(conn)

    def rows(m):
        return conn.execute(f"select columns(c -> c not like '%gen%' and c not like 'delta%') from {m} "
                            "order by all").fetchall()

    incremental = {m: rows(m) for m in ("actor_source_stats", "actor_first_seen")}
    assert len(incremental["actor_source_stats"]) == pairs + 2
    assert dict(conn.execute("select actor_id, mentions from actor_source_stats").fetchall())["actor0"] == 3
    build_models(conn, full=True)
    assert {m: rows(m) for m in incremental} == incremental


def test_a_key_hash_clash_falls_back_to_the_full_key(conn, caplog):
    for seq, day in ((1, 3), (2, 4)):
        aid = f"c{seq}"
        article(conn, aid, "one.example", ts(day), seq=seq)
        add_mention(conn, aid, "stubb", "Alexander Stubb", False, 0, seq=seq)
        add_topic(conn, aid, "coalition", 0, seq=seq)
        if seq == 1:
            build_models(conn)
            conn.execute("update actor_source_stats set _check = _check + 1")   # play a clash of _key
    build_models(conn)
    assert "hash clash" in caplog.text
    assert conn.execute("select mentions, articles, topic_sentences from actor_source_stats").fetchall() == [(2, 2, 2)]
    assert conn.execute("select mentions, sources, topic_stories from actor_first_seen").fetchall() == [(2, 1, 2)]


def test_a_rule_change_rebuilds_what_depends_on_it(conn):
    article(conn, "d1", "one.example", ts(3))
    add_stance(conn, "d1", "duma", "peacekeeping", 0, 0.3, 3)
    build_models(conn)
    assert conn.execute("select stance from stance_ledger").fetchall() == [("support",)]
    set_variables(conn, {"stance_threshold": 0.5})
    build_models(conn)
    assert conn.execute("select stance from stance_ledger").fetchall() == [("neutral",)]


def spike_history(conn, topic="ceasefire", today=10):
    """Baseline of 1-2 stories a day over 14 days, then `today` stories on 20 Feb."""
    n = 0
    for day in range(6, 20):
        for _ in range(1 + day % 2):
            n += 1
            article(conn, f"s{n}", "one.example", ts(day))
            add_topic(conn, f"s{n}", topic, 0)
    for k in range(today):
        n += 1
        article(conn, f"s{n}", ["one.example", "two.example"][k % 2], ts(20, 8 + k))
        add_topic(conn, f"s{n}", topic, 0)


def test_alert_volume_spike_exact(conn):
    spike_history(conn)
    build_models(conn)
    assert raise_alerts(conn, "c1", ts(20, 22)) != []
    rows = conn.execute("select alert_type, severity, topic, occurred_at, summary, details->>'stories', "
                        "details->>'z', json_array_length(evidence) from alerts").fetchall()
    assert rows == [("volume_spike", "critical", "ceasefire", ts(20, 17),
                     "Volume spike: ceasefire on 2026-02-20: 10 stories (2 sources) vs 1.5 a day over the previous 14 days",
                     "10", "17.0", 3)]


def test_volume_spike_needs_k_sigma_and_respects_the_cooldown(conn):
    spike_history(conn, today=2)          # 2 stories: within the baseline's range
    build_models(conn)
    assert raise_alerts(conn, "c1", ts(20, 22)) == []
    conn.execute("delete from articles where published_at >= ?", [ts(20)])
    set_variables(conn, {"spike_cooldown_hours": 48.0})
    spike_history_next = [(21, 8), (22, 9)]          # two spike days within 48 h: only the first alerts
    n = 1000
    for day, count in spike_history_next:
        for k in range(count):
            n += 1
            article(conn, f"x{n}", "one.example", ts(day, 8 + k), seq=2)
            add_topic(conn, f"x{n}", "ceasefire", 0, seq=2)
    build_models(conn)
    raise_alerts(conn, "c2", ts(22, 23))
    assert conn.execute("select details->>'day' from alerts").fetchall() == [("2026-02-21",)]


def test_alert_source_silent_tells_silent_from_failing(conn):
    conn.execute("insert into feeds (feed, url, last_status, last_success_at, last_polled_at, consecutive_failures, "
                 "last_error) values ('quiet', 'http://q/f', 'ok', ?, ?, 0, null), "
                 "('broken', 'http://b/f', 'error', ?, ?, 9, 'HTTP 503'), ('fine', 'http://f/f', 'ok', ?, ?, 0, null)",
                 [ts(26, 23), ts(26, 23), ts(22), ts(26, 23), ts(26, 23), ts(26, 23)])
    for feed in ("quiet", "broken", "fine"):
        last = 26 if feed == "fine" else 22
        for day in range(16, last + 1):
            aid = f"{feed}{day}"
            article(conn, aid, f"{feed}.example", ts(day, 10), feed=feed)
            add_topic(conn, aid, "peacekeeping", 0)
    set_variables(conn, {"cycle_now": ts(24, 12)})
    build_models(conn)
    raise_alerts(conn, "c1", ts(24, 12))
    rows = conn.execute("select feed, severity, topic, occurred_at, details->>'state', summary from alerts "
                        "order by feed").fetchall()
    assert rows == [
        ("broken", "warning", "peacekeeping", ts(23, 10), "failing",
         "Source failing: broken has had no peacekeeping article for 50 h (it published on 7 of the 7 days before); "
         "polls are failing: HTTP 503"),
        ("quiet", "info", "peacekeeping", ts(23, 10), "silent",
         "Source silent: quiet has had no peacekeeping article for 50 h (it published on 7 of the 7 days before)"),
    ]
    # one alert per silence: the next cycle raises nothing new
    build_models(conn)
    assert raise_alerts(conn, "c2", ts(24, 13)) == []
    # the rule runs every cycle: a silence already raised is not looked at again (no evidence rebuilt)
    assert conn.execute(alert_queries()["alert_source_silent"]).fetchall() == []


def test_severity_escalates_with_independent_sources(conn):
    for i, domain in enumerate(["a.example", "b.example", "c.example", "d.example"]):
        article(conn, f"n{i}", domain, ts(10 + i))
        add_mention(conn, f"n{i}", "stubb", "Alexander Stubb", False, 0)
        add_topic(conn, f"n{i}", "coalition", 0)
    build_models(conn)
    raise_alerts(conn, "c1", ts(27))
    row = conn.execute("select severity, details->>'sources', evidence_query from alerts").fetchone()
    assert row == ("critical", "4", "select * from int_actor_topic_context where actor_id = 'stubb' order by event_at")
    assert conn.execute(row[2]).fetchall()        # the evidence query runs


def test_internal_models_exact_rows(conn):
    """int_actor_topic_context, actor_source_stats, actor_topic_stories, feed_topic_daily and
    actor_stance_daily on three articles (one a wire copy of another)."""
    article(conn, "a1", "one.example", ts(3, 9), feed="one")
    article(conn, "a2", "two.example", ts(3, 10), story="a1", feed="two")
    article(conn, "a3", "one.example", ts(4, 9), feed="one")
    for aid in ("a1", "a2", "a3"):
        add_mention(conn, aid, "stubb", "Alexander Stubb", False, 0)
        add_topic(conn, aid, "coalition", 0)
    add_mention(conn, "a3", "stubb", "Alexander Stubb", False, 2)           # outside topic context
    add_stance(conn, "a1", "stubb", "coalition", 0, 1.0, 3)
    add_stance(conn, "a2", "stubb", "coalition", 0, 0.5, 3)
    build_models(conn)
    assert conn.execute("select article_id, sentence_index, actor_id, topic, source_domain, feed, story_id "
                        "from int_actor_topic_context order by all").fetchall() == [
        ("a1", 0, "stubb", "coalition", "one.example", "one", "a1"),
        ("a2", 0, "stubb", "coalition", "two.example", "two", "a1"),
        ("a3", 0, "stubb", "coalition", "one.example", "one", "a3")]
    assert conn.execute("select actor_id, source_domain, first_seen_at, last_seen_at, mentions, articles, "
                        "topic_first_at, topic_articles, topic_sentences, topics from actor_source_stats "
                        "order by all").fetchall() == [
        ("stubb", "one.example", ts(3, 9), ts(4, 9), 3, 2, ts(3, 9), 2, 2, ["coalition"]),
        ("stubb", "two.example", ts(3, 10), ts(3, 10), 1, 1, ts(3, 10), 1, 1, ["coalition"])]
    assert conn.execute("select actor_id, story_id, first_at from actor_topic_stories order by all").fetchall() == [
        ("stubb", "a1", ts(3, 9)), ("stubb", "a3", ts(4, 9))]
    assert conn.execute("select feed, day, topic_articles, last_topic_article_at, main_topic from feed_topic_daily "
                        "order by all").fetchall() == [
        ("one", ts(3).date(), 1, ts(3, 9), "coalition"), ("one", ts(4).date(), 1, ts(4, 9), "coalition"),
        ("two", ts(3).date(), 1, ts(3, 10), "coalition")]
    assert conn.execute("select actor_id, topic, day, score, evidence_count, sources, source_list, story_list, stance "
                        "from actor_stance_daily").fetchall() == [
        ("stubb", "coalition", ts(3).date(), 0.75, 2, 2, ["one.example", "two.example"], ["a1"], "support")]
    assert conn.execute("select topic_sources, topic_stories, topic_sentences from actor_first_seen").fetchall() == [
        (2, 2, 3)]
