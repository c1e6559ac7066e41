"""Fetch article pages and extract text + metadata with trafilatura in worker processes.

Extraction runs in a small process pool (Settings.extraction_workers: up to 2 processes, and only
the cores the spaCy workers leave while they annotate alongside), and every page gets a hard time
limit (trafilatura's extract() has none). A page that times out, is too big, is not HTML or has no
article text keeps its feed summary and is flagged.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from pipeline.extract_worker import _warm, extract_batch_in_worker
from pipeline.fetch import Fetcher, FetchError, check_status
from pipeline.language import detect_language
from pipeline.records import Article, FeedEntry
from pipeline.settings import extraction_alone
from pipeline.spawn import kill_pool, spawn_pool
from pipeline.spawn import submit as spawn_submit
from pipeline.textclean import clean_text
from pipeline.urls import source_domain

log = logging.getLogger(__name__)

_HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
_PAYWALL = re.compile(
    r"subscribe to (continue|read)|subscribers only|to continue reading|already a subscriber|"
    r"this (article|content) is for (paying )?(subscribers|members)|sign in to (continue|read)|premium article",
    re.IGNORECASE,
)
MIN_TEXT = 200          # shorter extractions are navigation or paywall stubs


# ---------------------------------------------------------------- pool (caller side)

BATCH_PAGES = 4    # pages per task when pages queue up for busy workers
SLACK_S = 30.0     # added to a batch's time limits before its worker counts as stuck


@dataclass
class _Page:
    args: tuple[bytes, str, float, bool]
    future: Future
    retried: bool = False


@dataclass
class _Batch:
    pages: list[_Page]
    pool: ProcessPoolExecutor
    deadline: float
    timed_out: bool = False


class ExtractorPool:
    """A lazily started, reused pool of extraction processes (spawned: safe with threads around).

    Pages are submitted one at a time (from the fetch threads) and go to the workers in batches:
    a page goes at once while a worker is free, and pages that queue up while all are busy go
    BATCH_PAGES at a time. One task per page cost each page 0.4 ms of the workers' CPU and 0.4 ms
    of the caller's (hand-offs between 16 fetch threads, the executor's threads and the workers):
    a tenth of extracting it. At most one batch per worker waits behind the running ones, so a
    batch starts within one batch's time of being sent; a watchdog kills the workers when a batch
    overruns its pages' time limits (a worker stuck in C code ignores the per-page alarm) plus one
    queued batch's. Pages lost with a crashed or killed worker are tried again once, each alone in
    the pool, so a hostile page fails by itself and does not take its neighbours down.
    """

    def __init__(self, workers: int | None = None, batch: int = BATCH_PAGES, slack: float = SLACK_S,
                 work: Callable[[list[tuple[bytes, str, float, bool]]], list[dict[str, Any]]] = extract_batch_in_worker):
        self.workers = workers or extraction_alone()
        self.batch, self.slack, self.work = batch, slack, work
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.RLock()          # a finished task's callback may run inside submit
        self._pending: deque[_Page] = deque()
        self._running: dict[Future, _Batch] = {}
        self._watchdog: threading.Thread | None = None
        self._closed = False

    def submit(self, html: bytes, url: str, time_limit: float, need_metadata: bool = True) -> Future:
        """A future for the page's extraction result (a dict; see extract_worker.extract_in_worker)."""
        page = _Page((html, url, time_limit, need_metadata), Future())
        with self._lock:
            self._pending.append(page)
            self._dispatch()
        return page.future

    def _room(self) -> bool:
        """May the next queued page go now? A page tried again runs with nothing else in flight
        (so a crash or overrun is its own); otherwise up to one batch per worker waits."""
        if any(page.retried for b in self._running.values() for page in b.pages):
            return False
        return not self._running if self._pending[0].retried else len(self._running) < 2 * self.workers

    def _dispatch(self) -> None:
        """Send queued pages while there is room (lock held)."""
        while self._pending and self._room():
            if self._pool is None:
                self._pool, self._closed = spawn_pool(self.workers, _warm), False
                if self._watchdog is None:
                    self._watchdog = threading.Thread(target=self._watch, name="extract-watchdog", daemon=True)
                    self._watchdog.start()
            pages = [self._pending.popleft()]
            if not pages[0].retried:            # a page tried again goes on its own
                while self._pending and len(pages) < self.batch and not self._pending[0].retried:
                    pages.append(self._pending.popleft())
            # its own pages' limits, plus a batch ahead of it on its worker
            limit = sum(p.args[2] for p in pages) + self.batch * max(p.args[2] for p in pages)
            batch = _Batch(pages, self._pool, time.monotonic() + limit + self.slack)
            task = spawn_submit(self._pool, self.work, [p.args for p in pages])
            self._running[task] = batch
            task.add_done_callback(self._finished)

    def _finished(self, task: Future) -> None:
        with self._lock:
            batch = self._running.pop(task, None)
            if batch is None:
                return
            try:
                results = task.result()
            except BaseException:      # the worker died (crash, or killed), or the pool was closed
                if self._closed:
                    for page in batch.pages:
                        _settle(page.future, {"error": "extraction stopped (pool closed)"})
                    return
                for page in reversed(batch.pages):
                    if not page.retried:        # not known to be the culprit: once more, on its own
                        page.retried = True
                        self._pending.appendleft(page)
                    elif batch.timed_out:
                        _settle(page.future, {"error": f"extraction took longer than {page.args[2]:g}s (worker killed)"})
                    else:
                        _settle(page.future, {"error": "extraction worker crashed"})
                if batch.pool is self._pool:
                    self._replace_pool()
            else:
                for page, result in zip(batch.pages, results):
                    _settle(page.future, result)
            self._dispatch()

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                late = [b for b in self._running.values() if b.pool is self._pool and time.monotonic() > b.deadline]
                for b in late:
                    b.timed_out = True
                if late:
                    log.warning("extraction worker stuck (past its pages' time limits): killing the pool")
                    self._replace_pool()

    def _replace_pool(self) -> None:
        """Kill the current workers (lock held); queued pages go to fresh ones."""
        pool, self._pool = self._pool, None
        if pool is not None:
            kill_pool(pool)

    def resize(self, workers: int) -> None:
        """Run `workers` processes from now on: an idle pool's are let go at once, a busy pool keeps
        its own until it is next replaced."""
        with self._lock:
            if workers == self.workers:
                return
            self.workers = workers
            if self._pool is not None and not self._running:
                pool, self._pool = self._pool, None
                pool.shutdown(wait=False)

    def close(self, wait: bool = True) -> None:
        """Stop the workers; `wait=False` lets them exit on their own while the caller goes on.
        Pages still queued get an error result."""
        with self._lock:
            pool, self._pool = self._pool, None
            while self._pending:
                _settle(self._pending.popleft().future, {"error": "extraction stopped (pool closed)"})
            self._closed = True
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


def _settle(future: Future, result: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(result)


_SHARED = ExtractorPool()


def shared_pool(workers: int | None = None) -> ExtractorPool:
    """This process's extraction pool, reused by every cycle; `workers` sizes it."""
    if workers:
        _SHARED.resize(workers)
    return _SHARED


# ---------------------------------------------------------------- building articles

def completeness(text: str, summary: str, html: bytes | None) -> str:
    """full | teaser (hardly more than the feed summary) | paywalled (short text + paywall marker)."""
    if html is not None and len(text) < 1500 and _PAYWALL.search(html[-200_000:].decode("utf-8", "replace")):
        return "paywalled"
    if len(text) < 500 and summary and len(text) < 1.3 * len(summary):
        return "teaser"
    return "full"


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def article_from_extraction(entry: FeedEntry, result: dict[str, Any], html: bytes, fetched_at: datetime) -> Article:
    if "error" in result:
        return fallback_article(entry, fetched_at, result["error"])
    text = clean_text(result.get("text"))
    if len(text) < MIN_TEXT:
        return fallback_article(entry, fetched_at, "no article text found on page")
    return Article(
        article_id=entry.article_id,
        url=entry.url,
        canonical_url=entry.canonical_url,
        feed=entry.feed,
        source_domain=entry.source_domain or source_domain(entry.canonical_url),
        title=clean_text(result.get("title")) or entry.title or clean_text(result.get("page_title")),
        published_at=entry.published_at or _parse_date(result.get("date")),
        fetched_at=fetched_at,
        language=result["language"],
        text=text,
        guid=entry.guid,
        site_name=clean_text(result.get("sitename")) or None,
        extracted=True,
        content_hash=_hash(text),
        completeness=completeness(text, entry.summary, html),
        simhash=result["simhash"],
    )


def fallback_article(entry: FeedEntry, fetched_at: datetime, error: str) -> Article:
    text = entry.summary or entry.title
    return Article(
        article_id=entry.article_id, url=entry.url, canonical_url=entry.canonical_url, feed=entry.feed,
        source_domain=entry.source_domain or source_domain(entry.canonical_url), title=entry.title,
        published_at=entry.published_at,
        fetched_at=fetched_at, language=detect_language(text), text=text, guid=entry.guid, extracted=False,
        extraction_error=error, content_hash=_hash(text), completeness="summary_only",
    )


def fetch_page(fetcher: Fetcher, entry: FeedEntry) -> tuple[bytes, str] | str:
    """The page's HTML and final URL, or the reason there is none."""
    if not entry.url:
        return "feed entry has no link"
    try:
        resp = fetcher.get(entry.url, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"})
        check_status(resp)
    except FetchError as exc:
        return f"fetch failed: {exc.reason}"
    if resp.content_type not in _HTML_TYPES:
        return f"not HTML (content-type {resp.content_type})"
    if len(resp.body) > fetcher.settings.max_html_for_extraction:
        return f"page larger than {fetcher.settings.max_html_for_extraction} bytes, not extracted"
    return resp.body, resp.final_url


def fetch_articles(fetcher: Fetcher, entries: Iterable[FeedEntry], fetched_at: datetime,
                   pool: ExtractorPool | None = None, sink: Callable[[Article], None] | None = None) -> list[Article]:
    """Fetch pages in threads and extract them in the process pool as they arrive; order is kept.
    `sink` gets each article as soon as it is ready (from the fetch threads)."""
    entries = list(entries)
    if not entries:
        return []
    # a sink is the spaCy workers' stream: they annotate while we extract, on the same cores
    pool = pool or shared_pool(fetcher.settings.extraction_workers(beside_spacy=sink is not None))
    limit = fetcher.settings.extract_time_limit

    def one(entry: FeedEntry) -> Article:
        page = fetch_page(fetcher, entry)
        if isinstance(page, str):
            return fallback_article(entry, fetched_at, page)
        html, final_url = page
        # always settles: the pool's watchdog kills a stuck worker, a crashed one fails its pages
        result = pool.submit(html, final_url, limit, entry.published_at is None).result()
        return article_from_extraction(entry, result, html, fetched_at)

    def one_to_sink(entry: FeedEntry) -> Article:
        article = one(entry)
        if sink is not None:
            sink(article)
        return article

    with ThreadPoolExecutor(max_workers=min(fetcher.settings.fetch_workers, len(entries))) as threads:
        articles = list(threads.map(one_to_sink, entries))
    for a in articles:
        if not a.extracted:
            log.info("article %s kept with feed summary: %s", a.url, a.extraction_error)
    return articles
