"""Fetch article pages and extract text + metadata with trafilatura in worker processes.

Extraction runs in a small process pool: both cores are used, and every page gets a hard time
limit (trafilatura's extract() has none). A page that times out, is too big, is not HTML or has no
article text keeps its feed summary and is flagged.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import re
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from pipeline.dedup import simhash
from pipeline.fetch import Fetcher, FetchError, check_status
from pipeline.records import Article, FeedEntry
from pipeline.spawn import kill_pool, spawn_pool
from pipeline.spawn import submit as spawn_submit
from pipeline.textclean import clean_text
from pipeline.urls import source_domain

log = logging.getLogger(__name__)

_HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
_LANG_ATTR = re.compile(rb"<html[^>]*\slang=[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_PAYWALL = re.compile(
    r"subscribe to (continue|read)|subscribers only|to continue reading|already a subscriber|"
    r"this (article|content) is for (paying )?(subscribers|members)|sign in to (continue|read)|premium article",
    re.IGNORECASE,
)
MIN_TEXT = 200          # shorter extractions are navigation or paywall stubs
MAX_TREE_SIZE = 50_000  # trafilatura gives up on deeper/larger trees


# ---------------------------------------------------------------- worker side (separate process)

class _TimeUp(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _TimeUp()


_CONFIG: Any = None


def _config() -> Any:
    """trafilatura's settings with our tree-size cap (its keyword for that is deprecated)."""
    global _CONFIG
    if _CONFIG is None:
        from trafilatura.settings import use_config

        _CONFIG = use_config()
        _CONFIG.set("DEFAULT", "MAX_TREE_SIZE", str(MAX_TREE_SIZE))
    return _CONFIG


def _warm() -> None:
    """Pay the one-time imports (trafilatura, htmldate's dateparser) once per worker."""
    extract_in_worker(b"<html><body><article><p>" + b"Warm up text. " * 40 + b"</p></article></body></html>",
                      "http://localhost/", 30.0)


_OG_SITE = re.compile(rb"<meta[^>]+property=[\"']og:site_name[\"'][^>]*content=[\"']([^\"'<>]{1,200})", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>([^<]{1,500})</title>", re.IGNORECASE)


def extract_in_worker(html: bytes, url: str, time_limit: float, need_metadata: bool = True) -> dict[str, Any]:
    """trafilatura on one page under a time limit, plus language and SimHash; returns plain data only.

    Full metadata extraction (htmldate and friends) halves the throughput, so it runs only when the
    feed did not give a date; title and site name come from the feed and the page head otherwise.
    """
    import html as htmllib

    import trafilatura

    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, fast=True, include_comments=False, include_tables=False, with_metadata=need_metadata,
            config=_config(),
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except _TimeUp:
        return {"error": f"extraction took longer than {time_limit:g}s"}
    except Exception as exc:  # trafilatura raises assorted errors on hostile input
        return {"error": f"extraction failed: {type(exc).__name__}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if doc is None:
        return {"text": ""}
    text = doc.text or ""
    head = html[:65536]
    site = _OG_SITE.search(head)
    title = _TITLE.search(head)
    return {
        "text": text,
        "title": doc.title if need_metadata else None,
        "page_title": htmllib.unescape(title.group(1).decode("utf-8", "replace")).strip() if title else None,
        "date": doc.date if need_metadata else None,
        "sitename": (doc.sitename if need_metadata else None)
        or (htmllib.unescape(site.group(1).decode("utf-8", "replace")) if site else None),
        "language": detect_language(text, html),
        "simhash": simhash(text),
    }


# ---------------------------------------------------------------- pool (caller side)

class ExtractorPool:
    """A lazily started, reused pool of extraction processes (spawned: safe with threads around)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or max(1, min(2, multiprocessing.cpu_count()))
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, html: bytes, url: str, time_limit: float, need_metadata: bool = True) -> Future:
        with self._lock:
            if self._pool is None:
                self._pool = spawn_pool(self.workers, _warm)
            return spawn_submit(self._pool, extract_in_worker, html, url, time_limit, need_metadata)

    def reset(self) -> None:
        """Drop a broken or stuck pool; the next submit starts a fresh one."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            kill_pool(pool)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_SHARED = ExtractorPool()


def shared_pool() -> ExtractorPool:
    return _SHARED


# ---------------------------------------------------------------- building articles

def detect_language(text: str, html: bytes | None = None) -> str | None:
    if len(text) >= 50:
        import py3langid

        # 500 characters decide the language as well as 1,000 on news prose, at 40% of the cost
        return py3langid.classify(text[:500])[0]
    match = _LANG_ATTR.search(html[:4096]) if html else None
    return match.group(1).decode().lower() if match else None


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
    pool = pool or shared_pool()
    limit = fetcher.settings.extract_time_limit

    def one(entry: FeedEntry) -> Article:
        page = fetch_page(fetcher, entry)
        if isinstance(page, str):
            return fallback_article(entry, fetched_at, page)
        html, final_url = page
        try:
            result = pool.submit(html, final_url, limit, entry.published_at is None).result(timeout=limit * 3 + 30)
        except BrokenProcessPool:
            pool.reset()
            result = {"error": "extraction worker crashed"}
        except TimeoutError:
            pool.reset()
            result = {"error": f"extraction took longer than {limit:g}s (worker killed)"}
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
