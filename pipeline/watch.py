"""Continuous mode: cycle after cycle in one process (spaCy and the extraction workers stay loaded),
polling only the feeds that are due and sleeping until the next one is."""
from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from pipeline import store
from pipeline.config import Config
from pipeline.records import as_utc
from pipeline.cycle import CycleBusy, CycleSummary, cycle_lock, run_cycle, utcnow
from pipeline.publish import publish
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class WatchStats:
    cycles: int = 0
    new_articles: int = 0
    alerts: int = 0
    busy: int = 0


def next_due(settings: Settings) -> datetime | None:
    """The earliest next_poll_at over all feeds (None: no feed state yet, poll now)."""
    if settings.storage == "duckdb" and not settings.db_path.exists():
        return None
    try:
        conn = store.open_store(settings, read_only=True)
    except store.StoreError:          # no lake yet
        return None
    try:
        row = conn.execute("select min(next_poll_at) from feeds").fetchone()
    finally:
        conn.close()
    return as_utc(row[0]) if row and row[0] else None


def watch(config: Config, settings: Settings, annotator: Any, min_gap: float = 5.0, max_sleep: float = 60.0,
          max_cycles: int | None = None, on_cycle: Callable[[CycleSummary], None] | None = None,
          stop: threading.Event | None = None, clock: Callable[[], datetime] = utcnow) -> WatchStats:
    """Run cycles until `stop` is set (SIGINT/SIGTERM set it when run from the CLI) or `max_cycles`
    have run. Between cycles it sleeps until the next feed is due, at least `min_gap` seconds and at
    most `max_sleep` (new feeds in the config are picked up within that)."""
    stop = stop or threading.Event()
    stats = WatchStats()
    stale = False
    while not stop.is_set() and (max_cycles is None or stats.cycles < max_cycles):
        try:
            summary = run_cycle(config, settings, annotator, now=clock())
        except CycleBusy as exc:
            stats.busy += 1
            log.warning("%s", exc)
            stop.wait(max(min_gap, 1.0))
            continue
        stale = summary.read_copy_stale
        stats.cycles += 1
        stats.new_articles += summary.new_articles
        stats.alerts += len(summary.alerts_raised)
        if on_cycle:
            on_cycle(summary)
        if max_cycles is not None and stats.cycles >= max_cycles:
            break
        due = next_due(settings)
        wait = max_sleep if due is None else (due - clock()).total_seconds()
        stop.wait(min(max(wait, min_gap), max_sleep))
    if stale:           # the last cycle skipped the read copy: leave analysts the final state
        try:
            with cycle_lock(settings.db_path):
                publish(settings.db_path)
        except CycleBusy as exc:    # another process's cycle will publish it
            log.warning("read copy not refreshed on exit: %s", exc)
    return stats


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM finish the running cycle, then end the loop."""
    def handler(signum: int, _frame: Any) -> None:
        log.warning("signal %s: stopping after the current cycle", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)

