"""`newsmon run` over the demo site on loopback: two phases, exact alerts, idempotent reruns, bad feeds."""
from __future__ import annotations

import duckdb
import pytest

from pipeline.cli import main
from pipeline.demo.site import PHASE_ONE_END, TIMELINE_END
from tests.conftest import write_config

DATA_TABLES = ("articles", "topic_mentions", "actor_mentions", "stances", "alerts", "alert_deliveries")


def counts(db) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as c:
        return {t: c.execute(f"select count(*) from {t}").fetchone()[0] for t in DATA_TABLES}


def alerts(db) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as c:
        return c.execute("select alert_type, actor_id, topic, details->>'before', details->>'after', sent_at is not null "
                         "from alerts order by alert_type, actor_id").fetchall()


@pytest.fixture
def demo_config(tmp_path, demo_site, webhook, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_URL", webhook.apprise_url)
    return write_config(tmp_path / "config", demo_site.feeds_yaml(),
                        "channels:\n  - name: test-hook\n    url: ${TEST_HOOK_URL}\n")


@pytest.mark.slow
def test_two_phases_raise_exactly_the_story_alerts(tmp_path, demo_site, webhook, demo_config, capsys):
    db = tmp_path / "newsmon.duckdb"
    run = ["run", "--config", str(demo_config), "--db", str(db)]

    demo_site.cutoff = PHASE_ONE_END
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "feeds polled 3, failed 0" in out and "new articles 11" in out
    assert alerts(db) == []                     # the Duma has only rejected so far; Stubb not yet in the story

    demo_site.cutoff = TIMELINE_END
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "new articles 11" in out and "alerts raised 2, messages sent 2" in out
    assert alerts(db) == [
        ("new_actor", "alexander-stubb", "coalition", None, None, True),
        ("stance_change", "russian-state-duma", "peacekeeping", "oppose", "support", True),
    ]
    assert len(webhook.received) == 2
    messages = {m["payload"]["title"] for m in webhook.received}
    assert messages == {"[newsmon] New actor: Alexander Stubb", "[newsmon] Stance change: Russian State Duma"}
    # the footballer never shares a sentence with a topic: the selective parse never even makes him a
    # candidate; Starmer's stance never changes
    with duckdb.connect(str(db), read_only=True) as c:
        assert c.execute("select count(*) from actor_mentions where actor_id = 'mateo-ferreira'").fetchone()[0] == 0
        assert c.execute("select distinct stance from stance_ledger where actor_id = 'keir-starmer'").fetchall() == [("support",)]

    # rerun of the same cycle: nothing new anywhere, no second message
    before = counts(db)
    assert main(run) == 0
    assert counts(db) == before and len(webhook.received) == 2
    # even when the feeds are fetched unconditionally (validators forgotten)
    with duckdb.connect(str(db)) as c:
        c.execute("update feeds set etag = null, last_modified = null")
    assert main(run) == 0
    assert counts(db) == before and len(webhook.received) == 2
    assert "alerts raised 0, messages sent 0" in capsys.readouterr().out


@pytest.mark.slow
def test_bad_feeds_are_recorded_and_the_others_still_load(tmp_path, demo_site, capsys):
    base = demo_site.base_url("courier")
    feeds = (f"feeds:\n  - {{name: good, url: '{base}/feed.xml'}}\n"
             f"  - {{name: unreachable, url: 'http://127.0.0.1:9/feed.xml'}}\n"
             f"  - {{name: malformed, url: '{base}/faults/malformed.xml'}}\n"
             f"  - {{name: missing, url: '{base}/faults/nothing-here.xml'}}\n"
             f"  - {{name: bad-links, url: '{base}/faults/bad-links.xml'}}\n")
    cfg = write_config(tmp_path / "config", feeds)
    db = tmp_path / "newsmon.duckdb"
    assert main(["run", "--config", str(cfg), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "feeds polled 5, failed 3" in out
    with duckdb.connect(str(db), read_only=True) as c:
        status = dict(c.execute("select feed, last_status || ': ' || coalesce(last_error, '') from feeds").fetchall())
        fallback = c.execute("select title, extracted, extraction_error, text from articles "
                             "where feed = 'bad-links' order by title").fetchall()
        good = c.execute("select count(*) from articles where feed = 'good' and extracted").fetchone()[0]
    assert status["good"] == "ok: "
    assert status["unreachable"].startswith("error: ConnectError")
    assert status["malformed"].startswith("error: malformed feed")
    assert status["missing"] == "error: HTTP 404"
    assert status["bad-links"] == "ok: "
    assert fallback == [
        ("A PDF about peacekeepers", False, "not HTML (content-type application/pdf)",
         "The summary of a report on peacekeepers."),
        ("Missing page on the ceasefire", False, "fetch failed: HTTP 404", "A summary about the ceasefire talks."),
    ]
    assert good == 4


def test_unusable_database_is_a_clear_error(tmp_path, demo_site, capsys):
    cfg = write_config(tmp_path / "config", demo_site.feeds_yaml())
    bogus = tmp_path / "not-a-db.duckdb"
    bogus.write_bytes(b"this is not a database" * 100)
    assert main(["run", "--config", str(cfg), "--db", str(bogus)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bogus) in err


def test_demo_command_shows_the_story(tmp_path, capsys):
    from pipeline.demo.run import run_demo

    summaries = run_demo(tmp_path)
    assert [len(s.alerts_raised) for s in summaries] == [0, 2]
    out = capsys.readouterr().out
    assert "New actor in the story: Alexander Stubb" in out
    assert "Stance change: Russian State Duma on peacekeeping: oppose -> support" in out
    assert "local webhook received 2 message(s)" in out
    from datetime import datetime, timezone

    from pipeline.digest import write_digest
    from pipeline.settings import Settings

    demo = Settings.from_env(None, tmp_path / "demo" / "newsmon-demo.duckdb")   # reads its read copy
    digest = write_digest(demo, tmp_path / "digests",
                          datetime(2026, 2, 27, 13, tzinfo=timezone.utc)).read_text()
    assert "[new_actor] New actor in the story: Alexander Stubb" in digest
    assert "[stance_change] Stance change: Russian State Duma on peacekeeping: oppose -> support" in digest


def test_same_article_in_two_feeds_is_stored_once(tmp_path, demo_site, capsys):
    url = demo_site.base_url("courier") + "/feed.xml"
    feeds = f"feeds:\n  - {{name: first, url: '{url}'}}\n  - {{name: again, url: '{url}?utm_source=x'}}\n"
    db = tmp_path / "newsmon.duckdb"
    assert main(["run", "--config", str(write_config(tmp_path / "config", feeds)), "--db", str(db)]) == 0
    with duckdb.connect(str(db), read_only=True) as c:
        assert c.execute("select feed, count(*) from articles group by feed").fetchall() == [("first", 4)]
        assert c.execute("select count(distinct canonical_url) from articles").fetchone()[0] == 4


def test_watch_runs_cycles_in_one_process_and_stops(tmp_path, demo_site, webhook, demo_config, capsys):
    db = tmp_path / "watch.duckdb"
    demo_site.cutoff = TIMELINE_END
    assert main(["watch", "--config", str(demo_config), "--db", str(db), "--min-gap", "0", "--max-sleep", "0.1",
                 "--max-cycles", "3"]) == 0
    out = capsys.readouterr().out
    assert "22 new articles, 2 alerts raised, 2 sent" in out
    assert out.strip().endswith("watch ended after 3 cycle(s): 22 new articles, 2 alerts")
    assert len(webhook.received) == 2 and alerts(db)[0][0] == "new_actor"


@pytest.mark.slow
def test_watch_leaves_a_fresh_read_copy_when_the_budget_skipped_it(tmp_path, demo_site, demo_config, monkeypatch):
    """A tiny budget: after the first cycle (alerts: always copied) the copy is skipped, and
    refreshed once more when watch stops."""
    monkeypatch.setenv("NEWSMON_READ_COPY_BUDGET", "0.000001")
    db = tmp_path / "watch.duckdb"
    demo_site.cutoff = TIMELINE_END
    assert main(["watch", "--config", str(demo_config), "--db", str(db), "--min-gap", "0", "--max-sleep", "0.1",
                 "--max-cycles", "3"]) == 0
    rows = {}
    for name in ("watch.duckdb", "watch.read.duckdb"):
        with duckdb.connect(str(tmp_path / name), read_only=True) as c:
            rows[name] = c.execute("select * from cycles order by all").fetchall()
    # the copy after the first cycle (alerts) held one cycle; the copy on exit holds them all
    assert rows["watch.read.duckdb"] == rows["watch.duckdb"] and len(rows["watch.duckdb"]) >= 2


def test_watch_stops_cleanly_on_sigterm(tmp_path, demo_site, demo_config):
    import signal
    import subprocess
    import sys

    demo_site.cutoff = TIMELINE_END
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "watch", "--config", str(demo_config),
                             "--db", str(tmp_path / "w.duckdb"), "--min-gap", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()          # the first cycle's line: it is now sleeping
        assert "22 new articles" in first
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "watch ended after 1 cycle(s): 22 new articles, 2 alerts" in out


@pytest.mark.slow
def test_a_big_batch_is_annotated_while_it_is_fetched_with_the_same_result(tmp_path, demo_site, monkeypatch):
    """From NEWSMON_ANNOTATE_PARALLEL_FROM articles on, spaCy workers take each page as soon as it is
    extracted; what lands in the database is exactly what annotating in this process gives."""
    demo_site.cutoff = TIMELINE_END
    config = write_config(tmp_path / "config", demo_site.feeds_yaml(), "channels: []\n")
    rows = {}
    for mode, parallel_from in (("in-process", "1000"), ("streamed", "5")):
        monkeypatch.setenv("NEWSMON_ANNOTATE_PARALLEL_FROM", parallel_from)
        db = tmp_path / f"{mode}.duckdb"
        assert main(["run", "--config", str(config), "--db", str(db)]) == 0
        with duckdb.connect(str(db), read_only=True) as c:
            rows[mode] = [c.execute(f"select * exclude (load_seq) from {t} order by all").fetchall()
                          for t in ("topic_mentions", "actor_mentions", "stances")]
    assert rows["streamed"] == rows["in-process"] and all(rows["streamed"])
