"""Flat-cost benchmark: does a cycle cost the same with 10k, 100k and 1M articles already stored?

    .venv/bin/python bench/flatcost.py [--sizes 10000,100000,1000000] [--new 100] [--repeat 5] [--check]

For each size: a fresh database is filled with that many articles of history (bench/models.py's
generator: 10 actor mentions per article, topic mentions and stances, over the 400 days before
today, stored in loads of 100 as cycles store them), every model is built once, and then real cycles (`run_cycle`: poll, fetch+extract,
annotate, load, models, alerts, notify, publish) run against a local site of 20 feeds, with spaCy
loaded once as `newsmon watch` does (so the read copy is refreshed within its time budget,
NEWSMON_READ_COPY_BUDGET, as there). It times the median of `--repeat` cycles with nothing new
(every feed answers 304) and of cycles with `--new` new articles, prints the curve with a
per-stage breakdown, and the peak RSS of those cycles. Up to half the cycles also refresh the read
copy (0.2 s at 10k, 0.5 s at 100k, 3-5 s at 1M), so with 3 cycles of a kind one or two of them
could; 5 keep the median on a cycle's own work. Target (issue 7): each kind of cycle within
+-20% of its time at the smallest size; --check exits non-zero when missed.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.models import generate  # noqa: E402
from bench.sitegen import start_in_process  # noqa: E402
from bench.throughput import TreeRss  # noqa: E402

FEEDS = 20


def prepare(folder: Path, size: int, now: datetime, config) -> None:
    """History of `size` articles, registry and the first full model build."""
    from pipeline import store
    from pipeline.sqlrun import run_alerts, run_models

    conn = store.connect(folder / "newsmon.duckdb")
    conn.execute("insert into feeds (feed, url, last_status, last_success_at, consecutive_failures) "
                 "select 'feed' || i, 'https://s' || i || '.example/feed', 'ok', now(), 0 from range(1000) t(i)")
    # in loads of 100 articles, as cycles store them; the next load continues the store's clock
    generate(conn, size, 10, start=(now - timedelta(days=400)).replace(tzinfo=None), per_load=100)
    conn.execute("update store_clock set value = (select max(load_seq) from articles) where name = 'load'")
    run_models(conn, config, now)
    run_alerts(conn, config, "history", now)
    conn.execute("checkpoint")
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--new", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    from pipeline.config import FeedConfig, load_config
    from pipeline.cycle import run_cycle
    from pipeline.nlp import Annotator
    from pipeline.settings import Settings

    sizes = [int(x) for x in args.sizes.split(",")]
    per_feed = max(1, args.new // FEEDS)
    site = start_in_process("127.0.0.1", per_feed, distinct_pages=args.new * (args.repeat + 2))
    base_cfg = load_config(ROOT / "config")
    config = replace(base_cfg, channels=(), feeds=tuple(
        FeedConfig(name=f"bench{i}", url=f"{site.base}/feed/{i}.xml") for i in range(FEEDS)))
    annotator = Annotator.build(config)
    curve: dict[int, dict[str, float]] = {}
    peak = 0
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"newsmon-flat-{size}-"))
        settings = replace(Settings.from_env(folder, folder / "newsmon.duckdb"), data_dir=folder,
                           allow_private_networks=True, host_min_gap=0.0, per_host_limit=8,
                           poll_min_interval=0.0, poll_initial_interval=0.0)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        t = time.perf_counter()
        prepare(folder, size, now, config)
        print(f"{size:>9,} articles of history generated and built in {time.perf_counter() - t:.0f} s "
              f"({(folder / 'newsmon.duckdb').stat().st_size / 2**20:,.0f} MB)", flush=True)
        site.advance(per_feed)
        run_cycle(config, settings, annotator)          # the feeds' first poll: ETags are known from here on
        rss = TreeRss(__import__("os").getpid())
        idle, busy, stages, copies, work = [], [], {}, [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            s = run_cycle(config, settings, annotator)
            idle.append(time.perf_counter() - t)
            assert s.new_articles == 0, s
            copies.append(None if s.read_copy_stale else s.stage_seconds["publish"])
            site.advance(per_feed)
            t = time.perf_counter()
            s = run_cycle(config, settings, annotator)
            busy.append(time.perf_counter() - t)
            work.append(busy[-1] - s.stage_seconds.get("publish", 0.0))    # without checkpoint + read copy
            assert s.new_articles == per_feed * FEEDS, (s.new_articles, s.feed_errors)
            copies.append(None if s.read_copy_stale else s.stage_seconds["publish"])
            stages = s.stage_seconds
        peak = max(peak, rss.stop())
        curve[size] = {"idle": statistics.median(idle), "busy": statistics.median(busy),
                       "work": statistics.median(work)}
        print(f"  cycle, nothing new: {curve[size]['idle']:.2f} s  (runs {', '.join(f'{x:.2f}' for x in idle)})")
        print(f"  cycle, {per_feed * FEEDS} new:      {curve[size]['busy']:.2f} s  (runs "
              f"{', '.join(f'{x:.2f}' for x in busy)}); last: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()),
              flush=True)
        done = [c for c in copies if c is not None]
        print(f"  read copy refreshed in {len(done)} of {len(copies)} cycles"
              + (f" (checkpoint + copy {statistics.median(done):.2f} s each)" if done else "")
              + f"; budget {settings.read_copy_budget:.0%} of wall time", flush=True)
    site.shutdown()
    first = curve[sizes[0]]
    print("\nstored articles | nothing new | 100 new | vs smallest | 100 new without checkpoint + read copy")
    for size, c in curve.items():
        print(f"{size:>15,} | {c['idle']:>9.2f} s | {c['busy']:>5.2f} s | "
              f"{c['idle'] / first['idle']:.2f}x / {c['busy'] / first['busy']:.2f}x | "
              f"{c['work']:.2f} s = {c['work'] / first['work']:.2f}x")
    print(f"peak RSS of this process during the timed cycles: {peak / 2**20:,.0f} MB "
          f"(max RSS of the whole run, generation included: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)")
    missed = [f"{size:,}: {kind} {c[kind] / first[kind]:.2f}x" for size, c in curve.items() for kind in ("idle", "busy")
              if abs(c[kind] / first[kind] - 1) > 0.2]
    print("MISSED (more than +-20% off the smallest size): " + "; ".join(missed) if missed else "target met")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
