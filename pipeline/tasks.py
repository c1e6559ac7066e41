"""Cycle stages as separate steps that hand over files: what the Airflow tasks call (no Airflow here)."""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import staging, store
from pipeline.config import Config, load_config
from pipeline.cycle import (CycleSummary, alerts_stage, annotate_stage, dedupe_articles, fetch_stage, index_stage,
                            models_stage, notify_stage, poll_stage, select_new_entries)
from pipeline.records import FeedEntry
from pipeline.settings import Settings


def _context(settings: Settings | None) -> tuple[Settings, Config]:
    settings = settings or Settings.from_env()
    return settings, load_config(settings.config_dir)


def run_dir(settings: Settings, run_id: str) -> Path:
    """The staging folder of one run (Airflow run ids contain ':' and '+')."""
    return settings.data_dir / "staging" / re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)


BATCH_ENTRIES = 100   # entries per fetch/extract batch (a mapped Airflow task each)
MAX_BATCHES = 64      # well under Airflow's max_map_length (1024)


def batch_by_feed(entries: list[FeedEntry], size: int = BATCH_ENTRIES, limit: int = MAX_BATCHES) -> list[list[FeedEntry]]:
    """Whole feeds packed into batches of about `size` entries; always at least one (maybe empty) batch."""
    by_feed: dict[str, list[FeedEntry]] = {}
    for e in entries:
        by_feed.setdefault(e.feed, []).append(e)
    n = max(1, min(limit, -(-len(entries) // size)))
    batches: list[list[FeedEntry]] = [[] for _ in range(n)]
    for group in sorted(by_feed.values(), key=len, reverse=True):   # largest feeds first, into the lightest batch
        min(batches, key=len).extend(group)
    return batches


def poll(run_id: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings, config = _context(settings)
    folder = run_dir(settings, run_id)
    conn = store.open_store(settings)
    try:
        polls = poll_stage(conn, config, settings, now)
        entries = select_new_entries(conn, polls)
    finally:
        conn.close()
    staging.dump(folder / "polls.parquet", polls)
    batches = [str(staging.dump(folder / f"entries-{i:03d}.parquet", b)) for i, b in enumerate(batch_by_feed(entries))]
    return {"run_dir": str(folder), "feeds": len(polls), "failed": sum(p.status == "error" for p in polls),
            "new_entries": len(entries), "batches": batches}


def fetch_extract(batch: str, now: datetime, settings: Settings | None = None) -> str:
    """Fetch and extract one batch of entries; returns the path of its articles file."""
    settings, _ = _context(settings)
    path = Path(batch)
    with _own_workers():
        articles = fetch_stage(staging.load_entries(path), settings, now)
    return str(staging.dump(path.with_name(path.name.replace("entries-", "articles-")), articles))


@contextmanager
def _own_workers():
    """Stop the extraction worker processes when the task ends. The Airflow task runner exits
    without running atexit hooks: workers left behind keep the task's output pipes open, and the
    executor slot that waits for them stays taken long after the task has succeeded."""
    from pipeline.extract import shared_pool

    try:
        yield
    finally:
        shared_pool().close()


def annotate(article_file: str, settings: Settings | None = None) -> str:
    """Annotate one batch's articles; returns the path of its annotations file."""
    from pipeline.nlp import Annotator

    settings, config = _context(settings)
    path = Path(article_file)
    articles = staging.load_articles(path)
    annotations = annotate_stage(articles, Annotator.build(config, settings.spacy_model)) if articles else []
    return str(staging.dump(path.with_name(path.name.replace("articles-", "annotations-")), annotations))


def _batch_polls(annotation_file: Path) -> list:
    """The polls one batch records: those of its feeds, and batch 0 also those of the feeds in no
    batch (not modified, failed, nothing new), so every poll is recorded exactly once."""
    base = annotation_file.parent
    index = annotation_file.name.removeprefix("annotations-")
    feeds_of = {p.name.removeprefix("entries-"): {e.feed for e in staging.load_entries(p)}
                for p in base.glob("entries-*.parquet")}
    mine = feeds_of.get(index, set())
    anywhere = set().union(*feeds_of.values()) if feeds_of else set()
    first = min(feeds_of, default=index) == index
    return [p for p in staging.load_polls(base / "polls.parquet")
            if p.feed in mine or (first and p.feed not in anywhere)]


def load(annotation_file: str, cycle_id: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Load one batch (its articles, annotations and polls) and index it for search. Mapped: on the
    ducklake backend the batches load at the same time (conflicting commits are retried), on a
    DuckDB file one after another (the one-slot pool)."""
    settings, config = _context(settings)
    path = Path(annotation_file)
    articles = dedupe_articles(staging.load_articles(path.with_name(path.name.replace("annotations-", "articles-"))))
    kept = {a.article_id for a in articles}
    annotations = [a for a in staging.load_annotations(path) if a.article_id in kept]
    conn = store.open_store(settings)
    try:
        counts = store.load_cycle(conn, cycle_id, now, _batch_polls(path), articles, annotations, config.actors,
                                  settings)
        index_stage(conn, settings)
    finally:
        conn.close()
    return {"new_articles": counts.new_articles, "actor_mentions": counts.actor_mentions, "stances": counts.stances}


def total(loaded: list[dict[str, Any]]) -> dict[str, Any]:
    """The mapped loads' counts added up."""
    keys = ("new_articles", "actor_mentions", "stances")
    return {k: sum(int(d.get(k, 0)) for d in loaded) for k in keys}


def models(settings: Settings | None = None) -> dict[str, Any]:
    settings, config = _context(settings)
    conn = store.open_store(settings)
    try:
        built = models_stage(conn, config)
    finally:
        conn.close()
    return {"models": len(built)}


def alerts(cycle_id: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings, config = _context(settings)
    conn = store.open_store(settings)
    try:
        summary = CycleSummary(cycle_id)
        alerts_stage(conn, config, summary, now)
    finally:
        conn.close()
    return {"alerts_raised": len(summary.alerts_raised), "alert_ids": [a["alert_id"] for a in summary.alerts_raised]}


def notify(cycle_id: str, now: datetime, counts: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Deliver pending alerts and record the cycle; `counts` are what the earlier tasks returned."""
    settings, config = _context(settings)
    summary = CycleSummary(cycle_id, feeds_polled=counts.get("feeds", 0), feeds_failed=counts.get("failed", 0),
                           new_articles=counts.get("new_articles", 0), actor_mentions=counts.get("actor_mentions", 0),
                           stances=counts.get("stances", 0))
    summary.alerts_raised = [{"alert_id": a} for a in counts.get("alert_ids", [])]
    conn = store.open_store(settings)
    try:
        notify_stage(conn, config, summary, now)
        if settings.storage == "duckdb":
            conn.execute("checkpoint")
    finally:
        conn.close()
    return {"sent": summary.alerts_sent, "failed": summary.deliveries_failed, "pending": summary.alerts_pending}


def publish_read_copy(settings: Settings | None = None) -> dict[str, Any]:
    from pipeline.publish import publish

    settings = settings or Settings.from_env()
    if settings.storage != "duckdb":      # analysts read the lake itself
        return {"read_copy": None, "staging_pruned": prune_staging(settings)}
    return {"read_copy": str(publish(settings.db_path)), "staging_pruned": prune_staging(settings)}


def prune_staging(settings: Settings, keep: int = 20) -> int:
    """Keep the staging folders of the latest `keep` runs (for debugging); the rest are loaded and gone."""
    import shutil

    root = settings.data_dir / "staging"
    runs = sorted((p for p in root.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return len(runs[keep:])


def cycle(run_id: str, max_wait: float = 60.0, settings: Settings | None = None,
          sleep: Any = None) -> dict[str, Any]:
    """The continuous DAG's one task: wait (at most `max_wait` s) until a feed is due, then run a
    whole cycle in this process. Waiting here, not in the scheduler, keeps `@continuous` from
    spinning through empty runs."""
    import time

    from pipeline.cycle import run_cycle, utcnow
    from pipeline.nlp import LazyAnnotator
    from pipeline.watch import next_due

    settings, config = _context(settings)
    due = next_due(settings)
    wait = 0.0 if due is None else min(max((due - utcnow()).total_seconds(), 0.0), max_wait)
    if wait > 0:
        (sleep or time.sleep)(wait)
    with _own_workers():
        summary = run_cycle(config, settings, LazyAnnotator(config, settings.spacy_model), now=utcnow(),
                            cycle_id=run_id, one_shot=True)
    return {"waited_s": round(wait, 1), "feeds": summary.feeds_polled, "failed": summary.feeds_failed,
            "new_articles": summary.new_articles, "alerts_raised": len(summary.alerts_raised),
            "sent": summary.alerts_sent, "pending": summary.alerts_pending,
            "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()}}


def task_failed(task_id: str, run_id: str, error: str) -> bool:
    """Airflow's task-level failure callback: post to the config's ops channel (or the log)."""
    from pipeline.notify import report_failure

    try:
        ops_url = load_config(Settings.from_env().config_dir).ops_url
    except Exception as exc:  # a broken config is itself what failed: still say so
        ops_url = None
        error = f"{error}\n(config unreadable: {exc})"
    return report_failure(ops_url, task_id, run_id, error)
