"""Fetch article pages and extract text + metadata with trafilatura; fall back to the feed summary."""
from __future__ import annotations

import hashlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Iterable

import trafilatura

from pipeline.fetch import Fetcher, FetchError, check_status
from pipeline.records import Article, FeedEntry
from pipeline.textclean import clean_text
from pipeline.urls import source_domain

log = logging.getLogger(__name__)

_HTML_TYPES = {"text/html", "application/xhtml+xml", ""}
_LANG = re.compile(rb"<html[^>]*\slang=[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_MIN_TEXT = 200  # shorter extractions are navigation or paywall stubs


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def extract_html(entry: FeedEntry, html: bytes, final_url: str, fetched_at: datetime,
                 max_bytes: int) -> Article:
    """Turn one page into an Article; extraction problems leave the summary and a flag."""
    if len(html) > max_bytes:
        return fallback_article(entry, fetched_at, f"page larger than {max_bytes} bytes, not extracted")
    try:
        doc = trafilatura.bare_extraction(
            html, url=final_url, fast=True, include_comments=False, include_tables=False,
            with_metadata=True, date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as exc:  # trafilatura raises assorted errors on hostile input
        return fallback_article(entry, fetched_at, f"extraction failed: {type(exc).__name__}")
    text = clean_text(doc.text) if doc is not None else ""
    if len(text) < _MIN_TEXT:
        return fallback_article(entry, fetched_at, "no article text found on page")
    match = _LANG.search(html[:4096])
    title = clean_text(doc.title) or entry.title
    return Article(
        article_id=entry.article_id,
        url=entry.url,
        canonical_url=entry.canonical_url,
        feed=entry.feed,
        source_domain=source_domain(entry.canonical_url),
        title=title,
        published_at=entry.published_at or _parse_date(doc.date),
        fetched_at=fetched_at,
        language=match.group(1).decode().lower() if match else None,
        text=text,
        guid=entry.guid,
        site_name=clean_text(doc.sitename) or None,
        extracted=True,
        content_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
    )


def fallback_article(entry: FeedEntry, fetched_at: datetime, error: str) -> Article:
    text = entry.summary or entry.title
    return Article(
        article_id=entry.article_id, url=entry.url, canonical_url=entry.canonical_url, feed=entry.feed,
        source_domain=source_domain(entry.canonical_url), title=entry.title, published_at=entry.published_at,
        fetched_at=fetched_at, language=None, text=text, guid=entry.guid, extracted=False,
        extraction_error=error, content_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
    )


def fetch_and_extract(fetcher: Fetcher, entry: FeedEntry, fetched_at: datetime) -> Article:
    try:
        resp = fetcher.get(entry.url, {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"})
        check_status(resp)
    except FetchError as exc:
        return fallback_article(entry, fetched_at, f"fetch failed: {exc.reason}")
    if resp.content_type not in _HTML_TYPES:
        return fallback_article(entry, fetched_at, f"not HTML (content-type {resp.content_type})")
    return extract_html(entry, resp.body, resp.final_url, fetched_at, fetcher.settings.max_html_for_extraction)


def fetch_articles(fetcher: Fetcher, entries: Iterable[FeedEntry], fetched_at: datetime) -> list[Article]:
    entries = list(entries)
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(fetcher.settings.fetch_workers, len(entries))) as pool:
        articles = list(pool.map(lambda e: fetch_and_extract(fetcher, e, fetched_at), entries))
    for a in articles:
        if not a.extracted:
            log.info("article %s kept with feed summary: %s", a.url, a.extraction_error)
    return articles
