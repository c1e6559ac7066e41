"""Proof under the real Airflow scheduler: mapped loads write one DuckLake at the same time.

    .venv/bin/python bench/airflow_lake.py [--feeds 8] [--items 60] [--catalog sqlite|postgres] [--check]

Starts a local news site (loopback) with `--feeds` feeds of `--items` real-size articles, then
`newsmon airflow` (standalone: scheduler, LocalExecutor, API server; SQLite metadata) with
NEWSMON_STORAGE=ducklake. The news_monitor DAG's first run polls every feed, fetches, annotates and
loads the batches as mapped `load` tasks, which run at the same time on the lake. Reported from
Airflow's own metadata database: how many `load` tasks ran at once, their states and tries; from the
task logs: lock errors (none allowed) and commit conflicts retried by the store; from the lake:
every article stored exactly once. --check exits non-zero unless >= 4 loads overlapped, every task
succeeded on its first try, no lock error was logged, and the article count is exact.
With --catalog postgres a throwaway PostgreSQL server (Debian's) holds the catalog.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sitegen import BenchSite  # noqa: E402
from pipeline.spawn import stop_session  # noqa: E402

LOCK_ERRORS = re.compile(r"Could not set lock|Conflicting lock|database is locked.*(?<!retry)$|"
                         r"TransactionContext Error(?!.*retry)", re.MULTILINE)


def max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=8)
    ap.add_argument("--items", type=int, default=60)
    ap.add_argument("--port", type=int, default=18081)
    ap.add_argument("--catalog", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsmon-airflow-lake-"))
    site = BenchSite("127.0.0.1", args.items)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    config = work / "config"
    config.mkdir()
    (config / "feeds.yaml").write_text("feeds:\n" + "".join(
        f"  - name: bench-{i}\n    url: {site.base}/feed/{i}.xml\n" for i in range(args.feeds)))
    env = {**os.environ, "NEWSMON_STORAGE": "ducklake", "NEWSMON_DB": str(work / "newsmon.duckdb"),
           "NEWSMON_DATA_DIR": str(work), "NEWSMON_ALLOW_PRIVATE_NETWORKS": "1", "NEWSMON_HOST_MIN_GAP": "0",
           "NEWSMON_PER_HOST_LIMIT": "8", "AIRFLOW__CORE__PARALLELISM": "6"}
    with contextlib.ExitStack() as stack:
        if args.catalog == "postgres":
            from tests.postgres import postgres_server

            env["NEWSMON_LAKE_CATALOG"] = stack.enter_context(postgres_server())()
        return run(args, work, site, env)


def run(args: argparse.Namespace, work: Path, site: BenchSite, env: dict[str, str]) -> int:
    log = open(work / "airflow.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("newsmon")), "airflow", "--config", str(work / "config"),
                             "--port", str(args.port)], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    meta = work / "airflow" / "airflow.db"
    state, started = None, time.time()
    try:
        while time.time() - started < args.timeout:
            time.sleep(3)
            if proc.poll() is not None:
                print(f"the launcher ended early; see {work / 'airflow.log'}")
                return 1
            if not meta.exists():
                continue
            try:
                with sqlite3.connect(meta) as db:
                    row = db.execute("select state from dag_run where dag_id = 'news_monitor' "
                                     "order by id limit 1").fetchone()
            except sqlite3.Error:
                continue
            if row and row[0] in ("success", "failed"):
                state = row[0]
                break
        took = time.time() - started
        with sqlite3.connect(meta) as db:
            tis = db.execute("select task_id, map_index, state, try_number, start_date, end_date from task_instance "
                             "where dag_id = 'news_monitor' order by task_id, map_index").fetchall()
    finally:
        stop_session(proc, 60)
        log.close()
    loads = [t for t in tis if t[0] == "load"]
    spans = [(datetime.fromisoformat(t[4]), datetime.fromisoformat(t[5])) for t in loads if t[4] and t[5]]
    overlap = max_overlap(spans)
    logs = list((work / "airflow" / "logs").rglob("*.log"))
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    lock_errors = LOCK_ERRORS.findall(text)
    retries = len(re.findall(r"commit conflict \(", text))
    failed = [(t[0], t[1], t[2], t[3]) for t in tis if t[2] != "success" or (t[3] or 1) > 1]

    from pipeline import store
    from pipeline.settings import Settings

    os.environ.update({k: v for k, v in env.items() if k.startswith("NEWSMON_")})
    conn = store.open_reader(Settings.from_env())
    n, distinct = conn.execute("select count(*), count(distinct article_id) from articles").fetchone()
    alerts = conn.execute("select count(*) from alerts").fetchone()[0]
    conn.close()
    expected = args.feeds * args.items
    print(f"news_monitor run: {state} in {took:.0f} s (launcher start included); catalog {args.catalog}")
    print(f"mapped loads: {len(loads)}, at most {overlap} running at once; "
          + ", ".join(f"[{t[1]}] {t[2]} try {t[3]} {t[4][11:19]}-{(t[5] or '')[11:19]}" for t in loads))
    print(f"commit conflicts retried by the store: {retries}; lock errors in task logs: {len(lock_errors)}")
    print(f"articles in the lake: {n} ({distinct} distinct; expected {expected}); alerts {alerts}")
    print(f"tasks not succeeding on their first try: {failed or 'none'}; work folder {work}")
    missed = [m for m, bad in (("fewer than 4 loads at once", overlap < 4), ("a task failed or retried", bool(failed)),
                               ("lock errors", bool(lock_errors)), ("article count", (n, distinct) != (expected,) * 2),
                               ("run not successful", state != "success")) if bad]
    print("MISSED: " + "; ".join(missed) if missed else "all checks passed")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
