"""Ingest benchmark: 1,000 feeds x 50 items on a local site; cold poll, 304 poll, fetch+extract vs raw trafilatura.

    .venv/bin/python bench/ingest.py [--feeds 1000] [--items 50] [--pages 400] [--check]

Prints the figures and the ratios against the raw library measured in the same run; --check exits
non-zero when a target is missed (warm 304 cycle < 10 s; fetch+extract >= 90% of raw per-core x cores).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sitegen import serve  # noqa: E402


def _raw_extract(html: bytes) -> int:
    import trafilatura

    return len(trafilatura.extract(html, fast=True, include_comments=False) or "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--pages", type=int, default=400)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    import urllib3

    from pipeline import store
    from pipeline.config import FeedConfig, load_config
    from pipeline.cycle import poll_stage, select_new_entries
    from pipeline.extract import fetch_articles, shared_pool
    from pipeline.fetch import Fetcher
    from pipeline.settings import PROJECT_ROOT, Settings

    ctx = mp.get_context("spawn")
    ready, port = ctx.Event(), ctx.Value("i", 0)
    server = ctx.Process(target=serve, args=("127.0.0.1", args.items, ready, port), daemon=True)
    server.start()
    ready.wait(30)
    base = f"http://127.0.0.1:{port.value}"
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-bench-"))
    cores = os.cpu_count() or 1
    settings = replace(Settings.from_env(tmp, tmp / "bench.duckdb"), allow_private_networks=True, host_min_gap=0.0,
                       per_host_limit=16, fetch_workers=16, data_dir=tmp)
    base_cfg = load_config(PROJECT_ROOT / "config")
    config = replace(base_cfg, feeds=tuple(FeedConfig(name=f"f{i}", url=f"{base}/feed/{i}.xml") for i in range(args.feeds)))
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    conn = store.connect(settings.db_path)
    results: dict[str, float] = {}

    t = time.perf_counter()
    polls = poll_stage(conn, config, settings, now)
    entries = select_new_entries(conn, polls)
    results["cold_poll_s"] = time.perf_counter() - t
    store.load_cycle(conn, "cold", now, polls, [], [], config.actors, settings)
    print(f"cold poll: {args.feeds} feeds, {len(entries)} new entries in {results['cold_poll_s']:.2f} s "
          f"({args.feeds / results['cold_poll_s']:.0f} feeds/s, {len(entries) / results['cold_poll_s']:.0f} entries/s)")

    t = time.perf_counter()
    warm = poll_stage(conn, config, settings, now + timedelta(hours=1))
    results["warm_poll_s"] = time.perf_counter() - t
    n304 = sum(p.status == "not_modified" for p in warm)
    print(f"warm poll: {len(warm)} feeds polled, {n304} answered 304, in {results['warm_poll_s']:.2f} s (target < 10 s)")
    conn.close()

    sample = entries[: args.pages]
    with urllib3.PoolManager() as client:
        pages = [client.request("GET", e.url).data for e in sample]
    print(f"pages: {len(pages)}, mean {sum(map(len, pages)) / len(pages) / 1024:.1f} KB HTML")
    _raw_extract(pages[0])
    t = time.perf_counter()
    for html in pages:
        _raw_extract(html)
    raw1 = len(pages) / (time.perf_counter() - t)
    with ctx.Pool(cores) as pool:
        pool.map(_raw_extract, pages[: cores * 2])
        t = time.perf_counter()
        pool.map(_raw_extract, pages, chunksize=4)
        rawn = len(pages) / (time.perf_counter() - t)
    print(f"raw trafilatura.extract: {raw1:.1f} pages/s on one core; {rawn:.1f} pages/s with {cores} processes "
          f"({rawn / raw1:.2f}x)")

    pool = shared_pool(settings.extraction_workers(beside_spacy=False))
    with Fetcher(settings) as f:
        fetch_articles(f, sample[: cores * 4], now)  # warm the worker processes (imports, dateparser)
        t = time.perf_counter()
        arts = fetch_articles(f, sample, now)
        ours = len(arts) / (time.perf_counter() - t)
    pool.close()
    extracted = sum(a.extracted for a in arts)
    target = 0.9 * raw1 * cores
    print(f"newsmon fetch+extract (HTTP + trafilatura with metadata + language + SimHash): {ours:.1f} articles/s, "
          f"{extracted}/{len(arts)} extracted")
    print(f"  ratio vs raw per-core x {cores} cores: {ours / (raw1 * cores):.2f} (target >= 0.90); "
          f"vs raw {cores}-process ceiling measured here: {ours / rawn:.2f}")
    server.terminate()
    missed = []
    if results["warm_poll_s"] >= 10:
        missed.append("warm 304 poll >= 10 s")
    if ours < target:
        missed.append(f"fetch+extract {ours:.1f}/s < 90% of raw x cores ({target:.1f}/s)")
    if missed:
        print("MISSED: " + "; ".join(missed))
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
