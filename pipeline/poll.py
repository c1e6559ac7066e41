"""Poll feeds: conditional GET, feedparser on bytes only, entries reduced to FeedEntry."""
from __future__ import annotations

import calendar
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Iterable

import feedparser

from pipeline.config import FeedConfig
from pipeline.fetch import Fetcher, FetchError, check_status
from pipeline.netguard import BlockedAddress, check_url
from pipeline.records import FeedEntry, FeedState, PollResult
from pipeline.settings import Settings
from pipeline.textclean import clean_text, html_to_text
from pipeline.urls import article_key, canonical_url

log = logging.getLogger(__name__)

_FEED_TYPES = ("xml", "rss", "atom", "rdf")


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def parse_feed(feed: str, body: bytes, content_type: str, settings: Settings) -> tuple[list[FeedEntry], int, str | None]:
    """Entries of a feed document, the number dropped, and an error when nothing usable was found."""
    parsed = feedparser.parse(body, response_headers={"content-type": content_type or "application/xml"})
    raw_entries = list(parsed.entries)
    if not raw_entries and not parsed.bozo and not parsed.version:
        return [], 0, f"not a feed (content-type {content_type or 'unknown'})"
    entries: list[FeedEntry] = []
    dropped = max(0, len(raw_entries) - settings.max_items_per_feed)
    seen: set[str] = set()
    for raw in raw_entries[: settings.max_items_per_feed]:
        link = clean_text(raw.get("link"))
        guid = clean_text(raw.get("id")) or None
        title = html_to_text(raw.get("title"))
        summary = html_to_text(raw.get("summary"))
        if link:
            try:
                check_url(link, allow_private=True)  # scheme and host only; addresses are checked at fetch
            except BlockedAddress:
                link = ""
        if link and len(link) > settings.max_url_length:
            link = ""
        if not link and not guid and not (title or summary):
            dropped += 1
            continue
        if not link:
            dropped += 1  # nothing to fetch; we keep only articles we can point analysts to
            continue
        canonical = canonical_url(link)
        key = article_key(canonical, guid, title + summary)
        if key in seen:
            continue
        seen.add(key)
        entries.append(FeedEntry(feed, key, link, canonical, guid, title, summary, _entry_time(raw)))
    if parsed.bozo and not entries:  # a broken feed that still has usable entries is ingested
        exc = parsed.bozo_exception
        return [], dropped, f"malformed feed: {type(exc).__name__}: {exc}"[:500]
    return entries, dropped, None


def poll_feed(fetcher: Fetcher, feed: FeedConfig, state: FeedState | None, now: datetime) -> PollResult:
    """Poll one feed; never raises: every failure becomes a PollResult with status 'error'."""
    headers: dict[str, str] = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if state and state.url == feed.url:
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
    try:
        resp = fetcher.get(feed.url, headers)
        if resp.status == 304:
            return PollResult(feed.name, feed.url, now, "not_modified", 304,
                              etag=state.etag if state else None,
                              last_modified=state.last_modified if state else None)
        check_status(resp)
        entries, dropped, error = parse_feed(feed.name, resp.body, resp.content_type, fetcher.settings)
    except FetchError as exc:
        return PollResult(feed.name, feed.url, now, "error", exc.status, error=exc.reason)
    except Exception as exc:  # a parser bug must not stop the other feeds
        log.exception("feed %s: unexpected error", feed.name)
        return PollResult(feed.name, feed.url, now, "error", None, error=f"{type(exc).__name__}: {exc}"[:500])
    if error:
        return PollResult(feed.name, feed.url, now, "error", resp.status, error=error)
    return PollResult(feed.name, feed.url, now, "ok", resp.status, None,
                      resp.headers.get("etag"), resp.headers.get("last-modified"),
                      tuple(entries), dropped)


def poll_feeds(fetcher: Fetcher, feeds: Iterable[FeedConfig], states: dict[str, FeedState],
               now: datetime) -> list[PollResult]:
    feeds = list(feeds)
    with ThreadPoolExecutor(max_workers=max(1, min(fetcher.settings.fetch_workers, len(feeds) or 1))) as pool:
        results = list(pool.map(lambda f: poll_feed(fetcher, f, states.get(f.name), now), feeds))
    for r in results:
        if r.status == "error":
            log.warning("feed %s failed: %s", r.feed, r.error)
    return results
