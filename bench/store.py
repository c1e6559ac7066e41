"""Storage benchmark: the two backends side by side at 100k and 1M stored articles.

    .venv/bin/python bench/store.py [--sizes 100000,1000000] [--catalog sqlite|postgres] [--queries 50] [--check]

For each size, a history is generated in a DuckDB file (deterministic): articles with 150-word
texts (bench/search.py's vocabulary), 10 actor mentions each, topic mentions and stances
(bench/models.py), with every model built and the search index complete. It is then copied into a
DuckLake (`newsmon migrate`'s code; SQLite catalog, or PostgreSQL with --catalog postgres) and the
same measurements run on both backends:
- load: `store.load_cycle` + search indexing of 2,000 new real-size articles (~900 words, with
  annotations) in batches of 500, one process; and on the lake also 4 writer processes at once;
- models: a cycle's model build + alert candidates after 100 new articles (incremental), and a full
  rebuild of every model;
- search: `--queries` queries of 1-3 words through `pipeline.search.search`, p50/p95.
Target (issue 9): search p95 < 200 ms at 1M articles; --check exits non-zero when missed.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import models as model_bench  # noqa: E402
from bench import search as search_bench  # noqa: E402
from bench.nlpcorpus import FILLER  # noqa: E402

NOW = model_bench.START + timedelta(days=400)
LOAD_ARTICLES, LOAD_BATCH, WRITERS = 2000, 500, 4


def synthetic(i: int):
    """A real-size article (~900 words) with a topic mention, two actor mentions and a stance."""
    from pipeline.records import ActorMention, Annotation, Article, Stance, TopicMention

    rng = random.Random(i)
    text = " ".join(rng.choice(FILLER) for _ in range(45))
    aid, domain = f"n{i}", f"s{i % 1000}.example"
    art = Article(aid, f"https://{domain}/n/{i}", f"https://{domain}/n/{i}", f"feed{i % 1000}", domain,
                  f"New story {i}", NOW - timedelta(minutes=30), NOW, "en", text, content_hash=aid)
    ann = Annotation(aid, [TopicMention(aid, "ceasefire", 0, "truce", text[:80])],
                     [ActorMention(aid, f"known-{i % 50}", f"Known {i % 50}", True, "PERSON", 0, 0, "Known"),
                      ActorMention(aid, f"cand-{i % 997}", f"Cand {i % 997}", False, "PERSON", 1, 120, "Cand")],
                     [Stance(aid, f"known-{i % 50}", "ceasefire", 0, "support", 0.7, "backs", "subject", text[:80],
                             NOW - timedelta(minutes=30))])
    return art, ann


def _load(settings, ids: list[int], cycle: str) -> float:
    from pipeline import store
    from pipeline.config import load_config
    from pipeline.cycle import index_stage

    actors = load_config(ROOT / "config").actors
    conn = store.open_store(settings)
    started = time.perf_counter()
    for first in range(0, len(ids), LOAD_BATCH):
        pairs = [synthetic(i) for i in ids[first:first + LOAD_BATCH]]
        store.load_cycle(conn, cycle, NOW, [], [a for a, _ in pairs], [n for _, n in pairs], actors, settings)
        index_stage(conn, settings)
    took = time.perf_counter() - started
    conn.close()
    return took


def _writer(settings, ids: list[int], cycle: str, start, out) -> None:
    logging.disable(logging.WARNING)
    from pipeline import store

    store.open_store(settings).close()       # imports and extensions loaded before the clock starts
    start.wait()
    began = time.time()
    _load(settings, ids, cycle)
    out.put((began, time.time()))


def history(folder: Path, size: int) -> Path:
    """A DuckDB file with `size` articles (text, mentions, stances), models built, search indexed."""
    from pipeline import store
    from pipeline.config import load_config
    from pipeline.search import index_new
    from pipeline.sqlrun import build_models, raise_alerts, set_rule_variables

    db = folder / "history.duckdb"
    conn = store.connect(db)
    conn.execute("insert into actors (actor_id, name) select 'known-' || i, 'Known ' || i from range(50) t(i)")
    conn.execute("insert into feeds (feed, url, last_status, last_success_at, consecutive_failures) "
                 "select 'feed' || i, 'https://s' || i || '.example/feed', 'ok', timestamp '2026-02-04', 0 "
                 "from range(1000) t(i)")
    vocab = search_bench.vocabulary()
    for start in range(0, size, 100_000):
        search_bench.generate(conn, vocab, start, min(100_000, size - start), 150, 1)
    conn.execute(f"update articles set published_at = timestamp '{model_bench.START:%Y-%m-%d}' "
                 f"+ to_seconds(cast(cast(substr(article_id, 2) as bigint) * (400 * 86400.0 / {size}) as bigint)), "
                 f"source_domain = 's' || (cast(substr(article_id, 2) as bigint) % 1000) || '.example', "
                 f"feed = 'feed' || (cast(substr(article_id, 2) as bigint) % 1000)")
    # as loads would have stored them: 1,000 articles per load, in load order
    conn.execute("update articles set load_seq = 1 + cast(substr(article_id, 2) as bigint) // 1000")
    model_bench.generate(conn, size, 10, with_articles=False)
    set_rule_variables(conn, load_config(ROOT / "config"), now=NOW)
    with store.transaction(conn):
        build_models(conn)
        raise_alerts(conn, "history", NOW)
        index_new(conn)
    conn.execute("update store_clock set value = (select max(load_seq) from articles) where name = 'load'")
    conn.execute("checkpoint")
    conn.close()
    return db


def measure(settings, label: str, next_id: int, queries: list[str], parallel: bool) -> dict[str, float]:
    from pipeline import store
    from pipeline.config import load_config
    from pipeline.search import SearchError, search
    from pipeline.sqlrun import build_models, raise_alerts, run_alerts, run_models, set_rule_variables

    config = load_config(ROOT / "config")
    out: dict[str, float] = {}
    ids = list(range(next_id, next_id + LOAD_ARTICLES))
    out["load_per_s"] = LOAD_ARTICLES / _load(settings, ids, f"{label}-load")
    if parallel:
        ctx = multiprocessing.get_context("spawn")
        results, start = ctx.Queue(), ctx.Barrier(WRITERS)
        share = LOAD_ARTICLES // WRITERS
        base = next_id + LOAD_ARTICLES
        procs = [ctx.Process(target=_writer, args=(settings, list(range(base + w * share, base + (w + 1) * share)),
                                                   f"{label}-w{w}", start, results)) for w in range(WRITERS)]
        for p in procs:
            p.start()
        spans = [results.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join()
        out["load_4_writers_per_s"] = LOAD_ARTICLES / (max(e for _, e in spans) - min(b for b, _ in spans))
    conn = store.open_store(settings)
    run_models(conn, config, NOW)              # take in the loads above, so the cycle below sees 100 new
    run_alerts(conn, config, f"{label}-catchup", NOW)
    _load(settings, list(range(next_id + 3 * LOAD_ARTICLES, next_id + 3 * LOAD_ARTICLES + 100)), f"{label}-cycle")
    started = time.perf_counter()
    run_models(conn, config, NOW)
    run_alerts(conn, config, f"{label}-cycle", NOW)
    out["cycle_models_alerts_s"] = time.perf_counter() - started
    set_rule_variables(conn, config, now=NOW)
    started = time.perf_counter()
    with store.transaction(conn):
        build_models(conn, full=True)
        raise_alerts(conn, f"{label}-full", NOW)
    out["full_build_s"] = time.perf_counter() - started
    conn.close()
    reader = store.open_reader(settings, live=True)
    search(reader, "ceasefire talks")          # extension load, first touch
    times = []
    for q in queries:
        started = time.perf_counter()
        try:
            search(reader, q, limit=10)
        except SearchError:
            continue
        times.append(time.perf_counter() - started)
    reader.close()
    times.sort()
    out["search_p50_ms"] = statistics.median(times) * 1000
    out["search_p95_ms"] = times[max(0, int(round(0.95 * len(times))) - 1)] * 1000
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--catalog", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)       # the default config's unset chat channels

    from pipeline.migrate import copy_store
    from pipeline.settings import Settings

    rnd = random.Random(3)
    vocab = search_bench.vocabulary()
    head, tail = vocab[:600], vocab[600:20_000]
    queries = [" ".join(rnd.choice(head if rnd.random() < 0.3 else tail) for _ in range(rnd.randint(1, 3)))
               for _ in range(args.queries)]
    missed = []
    with contextlib.ExitStack() as stack:
        new_catalog = None
        if args.catalog == "postgres":
            from tests.postgres import postgres_server

            new_catalog = stack.enter_context(postgres_server())
        for size in (int(s) for s in args.sizes.split(",")):
            folder = Path(tempfile.mkdtemp(prefix=f"newsmon-store-{size}-"))
            started = time.perf_counter()
            db = history(folder, size)
            print(f"\n== {size:,} articles: history generated, modelled and indexed in "
                  f"{time.perf_counter() - started:.0f} s ({db.stat().st_size / 2**20:,.0f} MB) ==", flush=True)
            plain = Settings(config_dir=ROOT / "config", db_path=db, data_dir=folder)
            lake = replace(plain, storage="ducklake", db_path=folder / "lake.duckdb",
                           lake_catalog=new_catalog() if new_catalog else None)
            started = time.perf_counter()
            counts = copy_store(plain, lake)
            size_mb = sum(p.stat().st_size for p in Path(lake.lake_data_path).rglob("*") if p.is_file()) / 2**20
            print(f"copied to the lake ({args.catalog} catalog) in {time.perf_counter() - started:.0f} s: "
                  f"{sum(counts.values()):,} rows, {size_mb:,.0f} MB of Parquet", flush=True)
            results = {}
            for name, settings in (("duckdb", plain), ("ducklake", lake)):
                results[name] = measure(settings, name, 10_000_000, queries, parallel=name == "ducklake")
                print(f"  {name:9} " + ", ".join(f"{k} {v:,.1f}" for k, v in results[name].items()), flush=True)
            d, k = results["duckdb"], results["ducklake"]
            print(f"  ducklake / duckdb: load {k['load_per_s'] / d['load_per_s']:.2f}x, "
                  f"cycle models {k['cycle_models_alerts_s'] / d['cycle_models_alerts_s']:.2f}x, "
                  f"full build {k['full_build_s'] / d['full_build_s']:.2f}x, "
                  f"search p95 {k['search_p95_ms'] / d['search_p95_ms']:.2f}x")
            if size >= 1_000_000:
                missed += [f"{n} search p95 {r['search_p95_ms']:.0f} ms >= 200 ms"
                           for n, r in results.items() if r["search_p95_ms"] >= 200]
            shutil.rmtree(folder, ignore_errors=True)
    print("MISSED: " + "; ".join(missed) if missed else "targets met")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
