"""One pipeline cycle: poll -> fetch -> extract -> annotate -> load -> models -> alerts -> notify."""
from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import duckdb

from pipeline import store
from pipeline.config import Config
from pipeline.extract import fetch_articles
from pipeline.fetch import Fetcher
from pipeline.notify import DeliveryReport, Sender, apprise_send, deliver
from pipeline.poll import due_feeds, poll_feeds
from pipeline.publish import publish, publish_due, read_copy_path
from pipeline.records import Annotation, Article, FeedEntry, PollResult
from pipeline.settings import Settings
from pipeline.sqlrun import run_alerts, run_models

log = logging.getLogger(__name__)


class CycleBusy(Exception):
    """Another cycle holds the database."""


@contextmanager
def cycle_lock(db_path: Path) -> Iterator[None]:
    """One cycle per database at a time: a second one is refused at once with a clear message."""
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise CycleBusy(f"another newsmon cycle is running on {db_path}"
                            f"{' (PID ' + holder + ')' if holder else ''}; try again when it ends") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def new_cycle_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ")


# --- stages (each usable on its own: the CLI chains them, the DAG runs them as tasks) ---

def poll_stage(conn: duckdb.DuckDBPyConnection, config: Config, settings: Settings, now: datetime,
               all_feeds: bool = False) -> list[PollResult]:
    """Poll the feeds that are due (or all of them); a cycle with nothing due costs one query."""
    states = store.feed_states(conn)
    feeds = list(config.feeds) if all_feeds else due_feeds(config.feeds, states, now)
    with Fetcher(settings) as fetcher:
        return poll_feeds(fetcher, feeds, states, now)


def select_new_entries(conn: duckdb.DuckDBPyConnection, polls: Sequence[PollResult]) -> list[FeedEntry]:
    """Entries not stored yet; an article in two feeds is kept once (first feed in config order)."""
    seen: dict[str, FeedEntry] = {}
    for poll in polls:
        for entry in poll.entries:
            seen.setdefault(entry.article_id, entry)
    known = store.known_article_ids(conn, seen)
    return [e for key, e in seen.items() if key not in known]


def fetch_stage(entries: Sequence[FeedEntry], settings: Settings, now: datetime,
                sink: Callable[[Article], None] | None = None) -> list[Article]:
    with Fetcher(settings) as fetcher:
        return fetch_articles(fetcher, entries, now, sink=sink)


def dedupe_articles(articles: Sequence[Article]) -> list[Article]:
    """Same page reached under two URLs (redirects, syndication): keep the first by content hash."""
    seen: set[str] = set()
    out = []
    for a in articles:
        key = a.content_hash if a.extracted else a.article_id
        if key in seen:
            continue
        seen.add(key)
        out.append(a)
    return out


def annotate_in_workers(n: int, settings: Settings | None) -> bool:
    """A batch of `annotate_parallel_from` articles or more is annotated in `annotate_processes`
    worker processes (both cores; each loads spaCy once); a smaller one in this process."""
    return settings is not None and settings.annotate_processes > 1 and n >= settings.annotate_parallel_from


def annotate_stage(articles: Sequence[Article], annotator: Any, config: Config | None = None,
                   settings: Settings | None = None) -> list[Annotation]:
    """Annotate in this process, or in worker processes for a big batch (annotate_in_workers)."""
    if not articles:
        return []
    if config is not None and settings is not None and annotate_in_workers(len(articles), settings):
        from pipeline.nlp import annotate_in_processes

        return annotate_in_processes(articles, config, settings.annotate_processes, settings.spacy_model,
                                     getattr(annotator, "selective", True))
    return annotator.annotate(articles)


ITEMS_PER_NEW_FEED = 10   # a feed polled for the first time lists at least this many items, as a rule


def expect_big_batch(conn: duckdb.DuckDBPyConnection, config: Config, settings: Settings) -> bool:
    """Worth starting the spaCy workers before polling (their model loads then use the core that
    polling leaves idle)? When the last cycle was big itself, or on a new database whose feeds
    will list enough items. A wrong guess costs the two model loads, nothing else."""
    if settings.annotate_processes < 2:
        return False
    row = conn.execute("select new_articles from cycles where finished_at is not null "
                       "order by finished_at desc limit 1").fetchone()
    expected = (row[0] or 0) if row else len(config.feeds) * ITEMS_PER_NEW_FEED
    return annotate_in_workers(expected, settings)


def start_stream(annotator: Any, config: Config, settings: Settings) -> Any:
    from pipeline.nlp import AnnotationStream

    return AnnotationStream(config, settings.annotate_processes, settings.spacy_model,
                            getattr(annotator, "selective", True))


def fetch_and_annotate(entries: Sequence[FeedEntry], annotator: Any, config: Config, settings: Settings,
                       now: datetime, summary: "CycleSummary", stream: Any = None,
                       release_extractors: bool = False) -> tuple[list[Article], list[Annotation]]:
    """Fetch, extract and annotate. For a big batch the spaCy workers (`stream`, started early when
    a big batch was expected, else now) take each article as soon as it is extracted, so extraction
    and annotation share both cores instead of taking turns; `annotate` then times only the wait
    after the last page is extracted. A stream started for a batch that turned out small is closed.
    `release_extractors` (a process that runs one cycle): the extraction workers are let go as soon
    as the last page is extracted, so they exit while spaCy still works, not when the process ends."""

    def fetched(sink: Callable[[Article], None] | None = None) -> list[Article]:
        try:
            return dedupe_articles(fetch_stage(entries, settings, now, sink=sink))
        finally:
            if release_extractors:
                from pipeline.extract import shared_pool

                shared_pool().close(wait=False)

    if not annotate_in_workers(len(entries), settings):
        if stream is not None:
            stream.discard()
        with summary.timed("fetch_extract"):
            articles = fetched()
        with summary.timed("annotate"):
            return articles, annotate_stage(articles, annotator, config, settings)
    with stream or start_stream(annotator, config, settings) as stream:
        with summary.timed("fetch_extract"):
            articles = fetched(stream.add)
        with summary.timed("annotate"):
            return articles, stream.results(articles)


@dataclass
class CycleSummary:
    cycle_id: str
    feeds_polled: int = 0
    feeds_failed: int = 0
    feed_errors: list[tuple[str, str]] = field(default_factory=list)
    new_articles: int = 0
    not_extracted: int = 0
    topic_mentions: int = 0
    actor_mentions: int = 0
    stances: int = 0
    alerts_raised: list[dict[str, Any]] = field(default_factory=list)
    alerts_sent: int = 0
    deliveries_failed: int = 0
    alerts_pending: int = 0
    read_copy: str | None = None
    read_copy_stale: bool = False      # not refreshed this cycle (publish budget; see publish_due)
    stage_seconds: dict[str, float] = field(default_factory=dict)   # wall time per stage, in run order

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - start


def index_stage(conn: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Add the newly loaded articles to the full-text index (pipeline/search.py), atomically."""
    from pipeline.search import index_new

    def attempt() -> int:
        with store.transaction(conn):
            store.serialize(conn, "search")     # doc ids are dense: two indexers at once, the later retries
            store.label_commit(conn, "search index")
            return index_new(conn)

    with store.write_slot(settings):
        return store.retrying(attempt, "search index")


@contextmanager
def indexing_alongside(conn: duckdb.DuckDBPyConnection, settings: Settings, summary: CycleSummary) -> Iterator[None]:
    """Index the new articles (index_stage) while the body runs. On a DuckDB file the index is built
    on its own connection in a thread: models, alerts and delivery use a core that the index leaves
    idle (index + models + alerts after a 2,000-article load: 0.70 s one after the other, 0.51 s
    side by side). On a lake both would commit to the catalog at once and one would retry (measured
    slower), so the index is built first. `search_index` times the index alone on a lake, and the
    wait after the body on a file. The index is finished before this returns, even when the body
    fails: a cycle never leaves a writer behind it."""
    if settings.storage != "duckdb":
        with summary.timed("search_index"):
            index_stage(conn, settings)
        yield
        return
    from concurrent.futures import ThreadPoolExecutor

    cur = store.cursor(conn)
    pool = ThreadPoolExecutor(1, thread_name_prefix="search-index")
    future = pool.submit(index_stage, cur, settings)
    body_failed = True
    try:
        yield
        body_failed = False
    finally:
        try:
            with summary.timed("search_index"):
                error = future.exception()
            if error is not None:
                if not body_failed:
                    raise error
                log.error("search index failed as well: %s", error)   # the body's error is the one raised
        finally:
            pool.shutdown()
            cur.close()


def models_stage(conn: duckdb.DuckDBPyConnection, config: Config, now: datetime | None = None) -> list[str]:
    """Build the SQL models (sql/models) in dependency order."""
    return run_models(conn, config, now)


def alerts_stage(conn: duckdb.DuckDBPyConnection, config: Config, summary: CycleSummary, now: datetime) -> None:
    """Raise alerts (sql/alerts); the new ones land in the summary."""
    new_ids = run_alerts(conn, config, summary.cycle_id, now)
    if new_ids:
        cur = conn.execute("select * from alerts where list_contains(?, alert_id) order by occurred_at, alert_id",
                           [new_ids])
        cols = [d[0] for d in cur.description]
        summary.alerts_raised = [dict(zip(cols, r)) for r in cur.fetchall()]


def notify_stage(conn: duckdb.DuckDBPyConnection, config: Config, summary: CycleSummary, now: datetime,
                 send: Sender = apprise_send) -> None:
    """Deliver pending alerts (this cycle's and any earlier ones still pending), then close the cycle row."""
    report: DeliveryReport = deliver(conn, config.channels, now, send)
    summary.alerts_sent, summary.deliveries_failed, summary.alerts_pending = report.sent, report.failed, report.pending
    store.finish_cycle(conn, summary.cycle_id, utcnow(), feeds_polled=summary.feeds_polled,
                       feeds_failed=summary.feeds_failed, new_articles=summary.new_articles,
                       mentions=summary.actor_mentions, stances=summary.stances,
                       alerts_raised=len(summary.alerts_raised), alerts_sent=summary.alerts_sent)


def summarise_polls(summary: CycleSummary, polls: Sequence[PollResult]) -> None:
    summary.feeds_polled = len(polls)
    summary.feed_errors = [(p.feed, p.error or "") for p in polls if p.status == "error"]
    summary.feeds_failed = len(summary.feed_errors)


def run_cycle(config: Config, settings: Settings, annotator: Any, now: datetime | None = None,
              send: Sender = apprise_send, cycle_id: str | None = None, all_feeds: bool = False,
              one_shot: bool = False) -> CycleSummary:
    """A whole cycle in this process, holding the cycle lock throughout. `one_shot`: the process
    runs no other cycle, so worker processes are let go as soon as their stage is done."""
    now = now or utcnow()
    summary = CycleSummary(cycle_id or new_cycle_id(now))
    with cycle_lock(settings.db_path):
        conn = store.open_store(settings)
        stream = None
        try:
            if expect_big_batch(conn, config, settings):
                stream = start_stream(annotator, config, settings)
            with summary.timed("poll"):
                polls = poll_stage(conn, config, settings, now, all_feeds)
                summarise_polls(summary, polls)
                entries = select_new_entries(conn, polls)
            articles, annotations = fetch_and_annotate(entries, annotator, config, settings, now, summary, stream,
                                                       release_extractors=one_shot)
            stream = None
            with summary.timed("load"):
                counts = store.load_cycle(conn, summary.cycle_id, now, polls, articles, annotations, config.actors,
                                          settings)
            summary.new_articles = counts.new_articles
            summary.not_extracted = sum(1 for a in articles if not a.extracted)
            summary.topic_mentions, summary.actor_mentions, summary.stances = (
                counts.topic_mentions, counts.actor_mentions, counts.stances)
            with indexing_alongside(conn, settings, summary):
                with summary.timed("models"):
                    models_stage(conn, config, now)
                with summary.timed("alerts"):
                    alerts_stage(conn, config, summary, now)
                with summary.timed("notify"):
                    notify_stage(conn, config, summary, now, send)
            # analysts read the lake itself (every commit is a snapshot they can see); a DuckDB file
            # gets its read copy within the time budget. The file is checkpointed every cycle:
            # leaving the changes in the write-ahead log saved 0.3 s of a 100-new cycle at 1M
            # articles but cost every later open 0.06 s of replay (tried, see docs/decisions.md)
            due = settings.storage == "duckdb" and publish_due(settings.db_path, settings.read_copy_budget,
                                                               urgent=bool(summary.alerts_raised))
            if settings.storage == "duckdb":
                with summary.timed("publish"):
                    conn.execute("checkpoint")
        finally:
            if stream is not None:     # the cycle failed before handing the stream over
                stream.discard()
            conn.close()
        if due:
            with summary.timed("publish"):
                summary.read_copy = str(publish(settings.db_path))
        elif settings.storage == "duckdb":
            summary.read_copy, summary.read_copy_stale = str(read_copy_path(settings.db_path)), True
        log.info("cycle %s stages: %s", summary.cycle_id,
                 ", ".join(f"{k} {v:.2f} s" for k, v in summary.stage_seconds.items()))
        return summary
