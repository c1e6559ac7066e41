"""Airflow: the DAG folder parses cleanly, and dag.test() runs a real cycle against the demo site."""
from __future__ import annotations


import duckdb
import pytest

from pipeline.demo.site import TIMELINE_END
from tests.conftest import ROOT, write_config


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    initdb()  # once: a fresh SQLite metadata DB under the temp AIRFLOW_HOME (tests/conftest.py)

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_has_no_import_errors_and_every_task_is_guarded(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"news_monitor", "news_monitor_continuous", "newsmon_digest", "newsmon_report"}
    report = dagbag.dags["newsmon_report"]      # rebuilt after every cycle, from the read copy
    assert [t.task_id for t in report.tasks] == ["report"] and report.max_active_runs == 1
    assert [a.name for a in report.timetable.asset_condition.objects] == ["newsmon_read_copy"]
    continuous = dagbag.get_dag("news_monitor_continuous")
    assert continuous.schedule == "@continuous" and continuous.max_active_runs == 1
    # by default the 5-minute DAG runs and the continuous one waits to be chosen (NEWSMON_CONTINUOUS=1)
    assert continuous.is_paused_upon_creation is True
    assert not dagbag.get_dag("news_monitor").is_paused_upon_creation
    assert [(t.task_id, t.pool) for t in continuous.tasks] == [("cycle", "newsmon_duckdb")]
    assert {a.name for a in continuous.tasks[0].outlets} == {"newsmon_database", "newsmon_read_copy"}
    digest = dagbag.get_dag("newsmon_digest")
    assert [t.task_id for t in digest.tasks] == ["digest"]
    assert all(t.retries >= 1 and t.execution_timeout and t.on_failure_callback for t in digest.tasks)
    dag = dagbag.get_dag("news_monitor")
    assert dag.max_active_runs == 1 and not dag.catchup
    assert [t.task_id for t in dag.topological_sort()] == [
        "poll", "batches", "fetch_extract", "annotate", "gathered", "load", "models", "alerts", "notify", "publish"]
    assert dag.get_task("load").max_active_tis_per_dagrun == 4
    for t in dag.tasks:
        assert t.retries >= 1 and t.execution_timeout is not None and t.retry_exponential_backoff
        assert t.on_failure_callback  # the task-level notifier that posts to the ops channel
        assert "newsmon" in dag.tags
    db_tasks = {t.task_id for t in dag.tasks if t.pool == "newsmon_duckdb"}
    assert db_tasks == {"poll", "load", "models", "alerts", "notify", "publish"}


def test_on_the_ducklake_backend_the_loads_leave_the_one_slot_pool(monkeypatch):
    import runpy

    monkeypatch.setenv("NEWSMON_STORAGE", "ducklake")
    lake = runpy.run_path(str(ROOT / "dags" / "news_monitor.py"))
    assert lake["LOAD_POOL"] == "default_pool" and lake["DUCKDB_POOL"] == "newsmon_duckdb"
    monkeypatch.setenv("NEWSMON_STORAGE", "duckdb")
    assert runpy.run_path(str(ROOT / "dags" / "news_monitor.py"))["LOAD_POOL"] == "newsmon_duckdb"


def test_the_duckdb_pool_is_created_with_one_slot(dagbag):
    """`newsmon airflow` creates the pool with `airflow pools set`; the same command here."""
    import subprocess
    import sys
    from pathlib import Path

    from airflow.models.pool import Pool

    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "pools", "set", "newsmon_duckdb", "1", "newsmon: one DuckDB writer at a time"],
                   check=True, capture_output=True)
    pool = Pool.get_pool("newsmon_duckdb")
    assert pool is not None and pool.slots == 1


def test_dag_files_import_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, time, importlib.util as u; import airflow.sdk; t=time.perf_counter()\n"
            "for f in sys.argv[1:]:\n"
            "    s=u.spec_from_file_location('m', f); m=u.module_from_spec(s); s.loader.exec_module(m)\n"
            "heavy=[n for n in ('spacy','trafilatura','duckdb','feedparser','pipeline.tasks','pipeline.store') "
            "if n in sys.modules]\n"
            "print(','.join(heavy) or '-', time.perf_counter() - t)")
    files = [str(p) for p in sorted((ROOT / "dags").glob("*.py"))]
    heavy, seconds = subprocess.run([sys.executable, "-c", code, *files],
                                    capture_output=True, text=True, check=True).stdout.split()
    assert heavy == "-"
    # parsing every DAG file (airflow.sdk already imported) stays far below a second
    assert float(seconds) < 1.0


def demo_environment(tmp_path, demo_site, webhook, monkeypatch, db_name: str):
    """The environment a DAG run reads: the whole demo timeline as feeds, a local webhook, and a
    database under tmp_path (returned)."""
    demo_site.cutoff = TIMELINE_END
    cfg = write_config(tmp_path / "config", demo_site.feeds_yaml(),
                       "channels:\n  - name: test-hook\n    url: ${TEST_HOOK_URL}\n")
    db = tmp_path / db_name
    monkeypatch.setenv("TEST_HOOK_URL", webhook.apprise_url)
    monkeypatch.setenv("NEWSMON_CONFIG", str(cfg))
    monkeypatch.setenv("NEWSMON_DB", str(db))
    monkeypatch.setenv("NEWSMON_DATA_DIR", str(tmp_path / "data"))
    return db


@pytest.mark.slow
def test_dag_test_runs_a_cycle_against_the_demo_site(tmp_path, demo_site, webhook, monkeypatch, dagbag):
    db = demo_environment(tmp_path, demo_site, webhook, monkeypatch, "dag.duckdb")
    dag = dagbag.get_dag("news_monitor")
    run = dag.test()
    assert run.state == "success"
    with duckdb.connect(str(db), read_only=True) as c:
        got = c.execute("select alert_type, actor_id, topic, details->>'before', details->>'after', sent_at is not null "
                        "from alerts order by alert_type, actor_id").fetchall()
        assert c.execute("select count(*) from articles").fetchone()[0] == 22
    with duckdb.connect(str(db.with_name("dag.read.duckdb")), read_only=True) as c:  # the published read copy
        assert c.execute("select count(*) from alerts").fetchone()[0] == 2
    # one cycle over the whole timeline sees the same two changes as the CLI's two cycles
    assert got == [("new_actor", "alexander-stubb", "coalition", None, None, True),
                   ("stance_change", "russian-state-duma", "peacekeeping", "oppose", "support", True)]
    assert len(webhook.received) == 2


@pytest.mark.slow
def test_dag_test_on_the_ducklake_backend_gives_the_same_alerts(tmp_path, demo_site, webhook, monkeypatch, dagbag):
    from pipeline import store
    from pipeline.settings import Settings

    demo_environment(tmp_path, demo_site, webhook, monkeypatch, "dag.duckdb")
    monkeypatch.setenv("NEWSMON_STORAGE", "ducklake")
    run = dagbag.get_dag("news_monitor").test()
    assert run.state == "success"
    conn = store.open_reader(Settings.from_env())
    try:
        got = conn.execute("select alert_type, actor_id, topic, snapshot_id is not null, sent_at is not null "
                           "from alerts order by alert_type, actor_id").fetchall()
        assert conn.execute("select count(*), count(distinct article_id) from articles").fetchone() == (22, 22)
    finally:
        conn.close()
    assert got == [("new_actor", "alexander-stubb", "coalition", True, True),
                   ("stance_change", "russian-state-duma", "peacekeeping", True, True)]
    assert not (tmp_path / "dag.read.duckdb").exists()      # analysts read the lake itself
    assert len(webhook.received) == 2


@pytest.mark.slow
def test_continuous_dag_waits_for_a_due_feed_then_runs_one_cycle(tmp_path, demo_site, webhook, monkeypatch, dagbag):
    from pipeline import tasks
    from pipeline.settings import Settings

    db = demo_environment(tmp_path, demo_site, webhook, monkeypatch, "cont.duckdb")
    for bound in ("MIN", "INITIAL"):
        monkeypatch.setenv(f"NEWSMON_POLL_{bound}_INTERVAL", "30")
    run = dagbag.get_dag("news_monitor_continuous").test()
    assert run.state == "success"
    with duckdb.connect(str(db.with_name("cont.read.duckdb")), read_only=True) as c:
        assert c.execute("select count(*) from articles").fetchone()[0] == 22
        assert c.execute("select count(*) from alerts where sent_at is not null").fetchone()[0] == 2
    assert len(webhook.received) == 2
    report = dagbag.dags["newsmon_report"].test()        # what the read-copy Asset triggers next
    assert report.state == "success"
    assert "Russian State Duma" in (tmp_path / "data" / "report" / "report.html").read_text()
    # every feed was just polled: the next run waits for the first one to fall due, capped by max_wait
    waits: list[float] = []
    out = tasks.cycle("second", max_wait=7.0, settings=Settings.from_env(), sleep=waits.append)
    assert len(waits) == 1 and 6.0 < waits[0] <= 7.0 and out["waited_s"] == round(waits[0], 1)
    assert out["new_articles"] == 0 and out["alerts_raised"] == 0 and "annotate" in out["stage_seconds"]


def test_batches_keep_whole_feeds_and_are_never_empty():
    from pipeline.records import FeedEntry
    from pipeline.tasks import batch_by_feed

    def entries(feed, n):
        return [FeedEntry(feed, f"{feed}{i}", f"http://x/{feed}/{i}", f"http://x/{feed}/{i}", None, "t", "s", None)
                for i in range(n)]

    assert batch_by_feed([]) == [[]]
    got = batch_by_feed(entries("a", 120) + entries("b", 60) + entries("c", 30), size=100)
    assert len(got) == 3
    assert sorted(sorted({e.feed for e in b}) for b in got) == [["a"], ["b"], ["c"]]
    assert len(batch_by_feed(entries("a", 5000), size=10, limit=64)) == 64


def test_staging_keeps_only_the_latest_runs(tmp_path):
    import os

    from pipeline.settings import Settings
    from pipeline.tasks import prune_staging

    settings = Settings(config_dir=tmp_path, db_path=tmp_path / "x.duckdb", data_dir=tmp_path)
    for i in range(25):
        d = tmp_path / "staging" / f"run{i:02d}"
        d.mkdir(parents=True)
        os.utime(d, (1_000_000 + i, 1_000_000 + i))
    assert prune_staging(settings, keep=20) == 5
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == [f"run{i:02d}" for i in range(5, 25)]


def test_mapped_loads_record_every_poll_exactly_once(tmp_path):
    """Each load records its batch's feeds' polls; batch 0 also those of feeds in no batch."""
    from datetime import datetime

    from pipeline import staging
    from pipeline.records import FeedEntry, PollResult
    from pipeline.tasks import _batch_polls

    at = datetime(2026, 3, 1)

    def entry(feed: str, n: int) -> FeedEntry:
        return FeedEntry(feed, f"{feed}-{n}", f"https://x/{feed}/{n}", f"https://x/{feed}/{n}", None, "t", "s", at)

    polls = [PollResult(f, f"https://x/{f}.xml", at, status) for f, status in
             (("a", "ok"), ("b", "ok"), ("c", "not_modified"), ("d", "error"), ("e", "ok"))]
    staging.dump(tmp_path / "polls.parquet", polls)
    staging.dump(tmp_path / "entries-000.parquet", [entry("a", 1), entry("a", 2)])
    staging.dump(tmp_path / "entries-001.parquet", [entry("b", 1), entry("e", 1)])
    got = {i: sorted(p.feed for p in _batch_polls(tmp_path / f"annotations-{i:03d}.parquet")) for i in (0, 1)}
    assert got == {0: ["a", "c", "d"], 1: ["b", "e"]}


def test_fetch_extract_task_leaves_no_worker_process_behind(demo_site, settings):
    """The task runner exits without atexit hooks: extraction workers left alive would hold the
    LocalExecutor slot after the task succeeded (seen under the real scheduler)."""
    import multiprocessing
    from pathlib import Path

    from pipeline import staging, tasks
    from pipeline.demo.site import PHASE_ONE_END
    from pipeline.extract import shared_pool

    write_config(settings.config_dir, demo_site.feeds_yaml())
    polled = tasks.poll("leak-test", PHASE_ONE_END, settings)
    started = []
    pool = shared_pool()
    real_submit = pool.submit
    pool.submit = lambda *a, **kw: (started.append(1), real_submit(*a, **kw))[1]
    try:
        path = tasks.fetch_extract(polled["batches"][0], PHASE_ONE_END, settings)
    finally:
        del pool.submit
    assert staging.load_articles(Path(path)) and started          # the workers did the extraction
    assert pool._pool is None and multiprocessing.active_children() == []
