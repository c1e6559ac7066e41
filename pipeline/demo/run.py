"""`newsmon demo`: serve the demo site, run two cycles over its timeline, print and post the alerts."""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

from pipeline.config import Channel, load_config
from pipeline.cycle import CycleSummary, run_cycle
from pipeline.demo.site import PHASE_ONE_END, TIMELINE_END, DemoSite
from pipeline.demo.webhook import WebhookReceiver
from pipeline.settings import Settings
from pipeline.summary import format_summary

log = logging.getLogger(__name__)


def run_demo(data_dir: Path, echo: Callable[[str], None] = print, base_config: Path | None = None) -> list[CycleSummary]:
    """Two cycles (end of phase one, end of timeline) into a fresh demo database under data_dir."""
    os.environ["NEWSMON_ALLOW_PRIVATE_NETWORKS"] = "1"  # the demo site lives on loopback
    from pipeline.nlp import Annotator  # heavy: spaCy

    demo_dir = data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    config_dir = demo_dir / "config"
    config_dir.mkdir(parents=True)
    db_path = demo_dir / "newsmon-demo.duckdb"
    summaries = []
    with DemoSite(cutoff=PHASE_ONE_END) as site, WebhookReceiver().start() as hook:
        (config_dir / "feeds.yaml").write_text(site.feeds_yaml())
        if base_config is not None and (base_config / "alerts.yaml").is_file():
            shutil.copy(base_config / "alerts.yaml", config_dir / "alerts.yaml")
        config = load_config(config_dir)
        local = Channel("demo-webhook", hook.apprise_url, None)
        config = replace(config, channels=(*config.channels, local))
        # our own loopback outlets: a short politeness gap keeps the demo quick
        settings = replace(Settings.from_env(config_dir, db_path), allow_private_networks=True, host_min_gap=0.05)
        echo(f"demo site: {', '.join(site.base_url(o.key) for o in site.outlets)}")
        echo(f"channels: {', '.join(c.name for c in config.channels)} (demo-webhook is a local receiver)")
        echo("loading spaCy model...")
        annotator = Annotator.build(config, settings.spacy_model)
        for label, cutoff in (("phase 1 (to 14 Feb 2026)", PHASE_ONE_END), ("phase 2 (to 27 Feb 2026)", TIMELINE_END)):
            site.cutoff = cutoff
            echo(f"\n== {label}: {len([a for a in site.articles if a.date <= cutoff])} articles published ==")
            summary = run_cycle(config, settings, annotator, now=cutoff)
            summaries.append(summary)
            echo(format_summary(summary))
        echo(f"\nlocal webhook received {len(hook.received)} message(s)")
        echo(f"database: {settings.store_name}")
        from pipeline.report import build_report

        report = build_report(settings, demo_dir / "report", live=settings.storage == "duckdb"
                              and not summaries[-1].read_copy)
        echo(f"analyst report (open in a browser, works offline): {report.path}")
        echo(f"try: .venv/bin/newsmon sql \"select alert_type, actor_name, topic, summary from alerts\" --db {db_path}")
    return summaries
