"""Analysts read a published copy: querying it in a loop during three cycles never errors and never
shows a half-written cycle."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import duckdb

from pipeline.config import load_config
from pipeline.cycle import run_cycle
from pipeline.publish import read_copy_path
from tests.conftest import write_config

ANALYST = textwrap.dedent("""
    import json, sys, time, duckdb, os
    path, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
    seen, errors, torn = [], [], []
    while not os.path.exists(stop):
        if not os.path.exists(path):
            time.sleep(0.01); continue
        try:
            with duckdb.connect(path, read_only=True) as c:
                n, total, open_cycles = c.execute(
                    "select (select count(*) from articles), "
                    "(select coalesce(sum(new_articles), 0) from cycles), "
                    "(select count(*) from cycles where finished_at is null)").fetchone()
            seen.append(n)
            if n != total or open_cycles:
                torn.append([n, total, open_cycles])
        except Exception as exc:
            errors.append(repr(exc))
    json.dump({"reads": len(seen), "distinct": sorted(set(seen)), "errors": errors, "torn": torn}, open(out, "w"))
""")


def test_analyst_reads_during_three_cycles(tmp_path, settings, annotator, demo_site):
    config = load_config(write_config(tmp_path / "config", demo_site.feeds_yaml()))
    stop, out = tmp_path / "stop", tmp_path / "analyst.json"
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(read_copy_path(settings.db_path)), str(stop), str(out)])
    try:
        for day in (8, 18, 27):
            cutoff = datetime(2026, 2, day, 12, tzinfo=timezone.utc)
            demo_site.cutoff = cutoff
            summary = run_cycle(config, settings, annotator, now=cutoff, send=lambda *a: (True, None))
            assert summary.read_copy == str(read_copy_path(settings.db_path))
            time.sleep(0.3)
    finally:
        stop.touch()
        analyst.wait(30)
    result = json.loads(out.read_text())
    assert result["errors"] == [] and result["torn"] == []
    assert result["reads"] > 10 and result["distinct"][-1] == 22
    # the live file is the pipeline's; the read copy holds the same data
    with duckdb.connect(str(read_copy_path(settings.db_path)), read_only=True) as c:
        assert c.execute("select count(*) from alerts").fetchone()[0] == 2


def test_the_read_copy_is_refreshed_within_its_time_budget(tmp_path):
    """A copy that took s seconds is next due s / budget seconds later; alerts never wait."""
    import json

    from pipeline.publish import publish, publish_due

    db = tmp_path / "live.duckdb"
    db.write_bytes(b"x" * 1000)
    target = tmp_path / "live.read.duckdb"
    assert publish_due(db, 0.1)                           # no copy yet
    publish(db)
    assert target.read_bytes() == db.read_bytes()
    (tmp_path / "live.read.duckdb.published").write_text(json.dumps({"at": 1000.0, "seconds": 2.0}))
    assert not publish_due(db, 0.1, clock=lambda: 1019.0)   # 2 s of copying buys 20 s
    assert publish_due(db, 0.1, clock=lambda: 1020.0)
    assert publish_due(db, 0.1, urgent=True, clock=lambda: 1001.0)
    assert publish_due(db, 0.0, clock=lambda: 1001.0)       # budget 0: every cycle
    (tmp_path / "live.read.duckdb.published").write_text("{not json")
    assert publish_due(db, 0.1, clock=lambda: 1001.0)       # an unreadable record never blocks publishing


def test_publish_folds_in_what_cycles_left_in_the_write_ahead_log(tmp_path):
    """A cycle that skips the copy also skips its checkpoint: the copy made later must still hold
    those rows (a bare file copy would not)."""
    import duckdb

    from pipeline import store
    from pipeline.publish import publish

    db = tmp_path / "live.duckdb"
    conn = store.connect(db)
    conn.execute("checkpoint")
    conn.execute("insert into cycles (cycle_id, started_at) values ('c1', now())")
    conn.execute("pragma disable_checkpoint_on_shutdown")
    conn.close()
    assert (tmp_path / "live.duckdb.wal").exists()
    with duckdb.connect(str(publish(db)), read_only=True) as copy:
        assert copy.execute("select cycle_id from cycles").fetchall() == [("c1",)]
