"""Cycle plumbing: when the spaCy workers are started before polling."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from pipeline import store
from pipeline.config import FeedConfig
from pipeline.cycle import expect_big_batch


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
