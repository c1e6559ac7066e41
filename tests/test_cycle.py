"""Cycle plumbing: when the spaCy workers are started before polling; the search index built
alongside models, alerts and delivery."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from pipeline import store
from pipeline.config import FeedConfig
from pipeline import cycle
from pipeline.cycle import CycleSummary, expect_big_batch, indexing_alongside


def test_spacy_workers_start_early_only_when_a_big_batch_is_likely(settings, default_config):
    settings = replace(settings, annotate_processes=2, annotate_parallel_from=200)
    feeds = lambda n: replace(default_config, feeds=tuple(FeedConfig(name=f"f{i}", url=f"http://x/{i}") for i in range(n)))  # noqa: E731
    conn = store.connect(settings.db_path)
    # a new database: every feed lists about ten items on its first poll
    assert not expect_big_batch(conn, feeds(3), settings)
    assert expect_big_batch(conn, feeds(20), settings)
    assert not expect_big_batch(conn, feeds(20), replace(settings, annotate_processes=1))
    # afterwards: as big as the last finished cycle
    for cycle_id, new in (("c1", 500), ("c2", 12)):
        conn.execute("insert into cycles (cycle_id, started_at, finished_at, new_articles) values (?, ?, ?, ?)",
                     [cycle_id, datetime(2026, 3, 1, tzinfo=timezone.utc),
                      datetime(2026, 3, 1, 0, int(cycle_id[1]), tzinfo=timezone.utc), new])
        assert expect_big_batch(conn, feeds(3), settings) is (new >= 200)
    conn.close()


def _slow_index(log: list[str], fail: bool = False, wait_for: threading.Event | None = None):
    def index(conn, settings):
        assert conn.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)
        log.append(f"index on {threading.current_thread().name}")
        if wait_for is not None:                  # finishes only once the body has run
            assert wait_for.wait(5), "the body did not run while the index was being built"
        time.sleep(0.3)
        if fail:
            raise ValueError("index broke")
        log.append("index done")
        return 0
    return index


def test_the_index_is_built_alongside_the_body_and_waited_for(settings, monkeypatch):
    log: list[str] = []
    body_ran = threading.Event()
    monkeypatch.setattr(cycle, "index_stage", _slow_index(log, wait_for=body_ran))
    conn, summary = store.connect(settings.db_path), CycleSummary("c1")
    with indexing_alongside(conn, settings, summary):
        body_ran.set()
    assert log[0].startswith("index on search-index") and log[-1] == "index done"
    assert 0.15 < summary.stage_seconds["search_index"] < 0.3 + 1     # the wait after the body only
    conn.close()


def test_a_failing_body_still_waits_for_the_index_and_keeps_its_own_error(settings, monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(cycle, "index_stage", _slow_index(log))
    conn = store.connect(settings.db_path)
    with pytest.raises(RuntimeError, match="models broke"):
        with indexing_alongside(conn, settings, CycleSummary("c1")):
            raise RuntimeError("models broke")
    assert log[-1] == "index done"            # no writer left running after the cycle
    monkeypatch.setattr(cycle, "index_stage", _slow_index(log, fail=True))
    with pytest.raises(ValueError, match="index broke"):
        with indexing_alongside(conn, settings, CycleSummary("c2")):
            pass
    conn.close()


def test_on_a_lake_the_index_is_built_before_the_body(tmp_path, monkeypatch):
    from pipeline.settings import Settings
    from tests.conftest import ROOT

    lake = Settings(config_dir=ROOT / "config", db_path=tmp_path / "newsmon.duckdb", data_dir=tmp_path,
                    storage="ducklake")
    log: list[str] = []
    monkeypatch.setattr(cycle, "index_stage", _slow_index(log))
    conn = store.open_store(lake)
    with indexing_alongside(conn, lake, CycleSummary("c1")):
        log.append("body")
    assert log[0] == f"index on {threading.current_thread().name}" and log[1:] == ["index done", "body"]
    cur = store.cursor(conn)
    assert cur.execute("select current_database(), current_setting('TimeZone')").fetchone() == ("lake", "UTC")
    conn.close()
