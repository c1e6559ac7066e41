"""Cycle stages as separate steps that hand over files: what the Airflow tasks call (no Airflow here)."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import staging, store
from pipeline.config import Config, load_config
from pipeline.cycle import (CycleSummary, annotate_stage, dedupe_articles, fetch_stage, models_stage, notify_stage,
                            poll_stage, select_new_entries)
from pipeline.settings import Settings


def _context(settings: Settings | None) -> tuple[Settings, Config]:
    settings = settings or Settings.from_env()
    return settings, load_config(settings.config_dir)


def run_dir(settings: Settings, run_id: str) -> Path:
    """The staging folder of one run (Airflow run ids contain ':' and '+')."""
    return settings.data_dir / "staging" / re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)


def poll(run_id: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings, config = _context(settings)
    folder = run_dir(settings, run_id)
    conn = store.connect(settings.db_path)
    try:
        polls = poll_stage(conn, config, settings, now)
        entries = select_new_entries(conn, polls)
    finally:
        conn.close()
    staging.dump(folder / "polls.json", polls)
    staging.dump(folder / "entries.json", entries)
    return {"run_dir": str(folder), "feeds": len(polls), "failed": sum(p.status == "error" for p in polls),
            "new_entries": len(entries)}


def fetch_extract(folder: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings, _ = _context(settings)
    entries = staging.load_entries(Path(folder) / "entries.json")
    articles = dedupe_articles(fetch_stage(entries, settings, now))
    staging.dump(Path(folder) / "articles.json", articles)
    return {"run_dir": folder, "articles": len(articles), "not_extracted": sum(not a.extracted for a in articles)}


def annotate(folder: str, settings: Settings | None = None) -> dict[str, Any]:
    from pipeline.nlp import Annotator

    settings, config = _context(settings)
    articles = staging.load_articles(Path(folder) / "articles.json")
    annotations = annotate_stage(articles, Annotator.build(config, settings.spacy_model)) if articles else []
    staging.dump(Path(folder) / "annotations.json", annotations)
    return {"run_dir": folder, "annotated": len(annotations)}


def load(folder: str, cycle_id: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings, config = _context(settings)
    base = Path(folder)
    polls = staging.load_polls(base / "polls.json")
    articles = staging.load_articles(base / "articles.json")
    annotations = staging.load_annotations(base / "annotations.json")
    conn = store.connect(settings.db_path)
    try:
        counts = store.load_cycle(conn, cycle_id, now, polls, articles, annotations, config.actors, settings)
    finally:
        conn.close()
    return {"run_dir": folder, "new_articles": counts.new_articles, "actor_mentions": counts.actor_mentions,
            "stances": counts.stances}


def models_alerts(cycle_id: str, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    settings, config = _context(settings)
    conn = store.connect(settings.db_path)
    try:
        summary = CycleSummary(cycle_id)
        models_stage(conn, config, summary, now)
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
    conn = store.connect(settings.db_path)
    try:
        notify_stage(conn, config, summary, now)
        conn.execute("checkpoint")
    finally:
        conn.close()
    return {"sent": summary.alerts_sent, "failed": summary.deliveries_failed, "pending": summary.alerts_pending}


def publish_read_copy(settings: Settings | None = None) -> dict[str, Any]:
    from pipeline.publish import publish

    settings = settings or Settings.from_env()
    return {"read_copy": str(publish(settings.db_path))}
