"""Poll feeds: conditional GET, feedparser on bytes only, entries reduced to FeedEntry."""
from __future__ import annotations

import calendar
import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import feedparser

from pipeline.config import FeedConfig
from pipeline.fetch import Fetcher, FetchError, check_status
from pipeline.netguard import BlockedAddress, check_scheme
from pipeline.records import FeedEntry, FeedState, PollResult, as_utc
from pipeline.schedule import feed_hint_seconds
from pipeline.settings import Settings
from pipeline.textclean import clean_text, html_to_text
from pipeline.urls import article_key, canonical_url, source_domain

log = logging.getLogger(__name__)


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry]
    dropped: int
    drop_reasons: str | None
    error: str | None
    hint: float | None


_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)
_PROLOG_NOISE = re.compile(rb"<\?.*?\?>|<!--.*?-->", re.DOTALL)


def strip_doctype(body: bytes) -> bytes:
    """Drop a DOCTYPE and its internal subset: no entity expansion (billion laughs), no external entities."""
    head = body[:65536]
    m = _DOCTYPE.search(head)
    if m is None:
        return body
    prolog = _PROLOG_NOISE.sub(b"", head[: m.start()])
    if b"<" in prolog:  # not in the prolog (e.g. inside CDATA): text, not a declaration
        return body
    return head[: m.start()] + head[m.end():] + body[65536:]


def _link_of(raw: Any) -> str:
    link = clean_text(raw.get("link"))
    if not link and raw.get("guidislink") and str(raw.get("id", "")).startswith(("http://", "https://")):
        link = clean_text(raw.get("id"))  # a permalink GUID is the article's URL
    return link


def parse_feed(feed: str, body: bytes, content_type: str, settings: Settings, feed_url: str = "") -> ParsedFeed:
    """Entries of a feed document (bytes only: feedparser opens files and URLs when given a string)."""
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError("feed documents are parsed from bytes only")
    if not body.strip():
        return ParsedFeed([], 0, None, "empty response", None)
    try:
        parsed = feedparser.parse(strip_doctype(bytes(body)),
                                  response_headers={"content-type": content_type or "application/xml"},
                                  sanitize_html=False, resolve_relative_uris=False)
    except (ValueError, LookupError) as exc:   # feedparser's own decoding can trip on a mangled declaration
        return ParsedFeed([], 0, None, f"unreadable feed ({type(exc).__name__}: {str(exc)[:120]})", None)
    meta = parsed.get("feed", {})
    hint = feed_hint_seconds(meta.get("ttl"), meta.get("sy_updateperiod"), meta.get("sy_updatefrequency"))
    raw_entries = list(parsed.entries)
    if not raw_entries and not parsed.get("bozo") and not parsed.get("version"):
        return ParsedFeed([], 0, None, f"not a feed (content-type {content_type or 'unknown'})", hint)
    reasons: Counter[str] = Counter()
    if len(raw_entries) > settings.max_items_per_feed:
        reasons["over the per-poll cap"] = len(raw_entries) - settings.max_items_per_feed
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for raw in raw_entries[: settings.max_items_per_feed]:
        link = _link_of(raw)
        guid = clean_text(raw.get("id")) or None
        title = html_to_text(raw.get("title"))
        summary = html_to_text(raw.get("summary"))
        if not link and not (title or summary):
            reasons["empty (no link, title or summary)"] += 1
            continue
        if len(link) > settings.max_url_length:
            reasons["over-long URL"] += 1
            continue
        if link:
            try:
                check_scheme(link)  # addresses are checked when the page is fetched
            except BlockedAddress:
                reasons["not an http(s) link"] += 1
                continue
        # no link: kept with the feed's own text, keyed by GUID or content (nothing to fetch)
        canonical = canonical_url(link) if link else ""
        key = article_key(canonical, guid, title + summary)
        if key in seen:
            continue
        seen.add(key)
        entries.append(FeedEntry(feed, key, link, canonical, guid, title, summary, _entry_time(raw),
                                 source_domain(canonical or feed_url)))
    dropped = sum(reasons.values())
    why = ", ".join(f"{n} {r}" for r, n in reasons.most_common()) or None
    if parsed.get("bozo") and not entries:  # a broken feed that still has usable entries is ingested
        exc = parsed.get("bozo_exception")
        return ParsedFeed([], dropped, why, f"malformed feed: {type(exc).__name__}: {exc}"[:500], hint)
    return ParsedFeed(entries, dropped, why, None, hint)


def poll_feed(fetcher: Fetcher, feed: FeedConfig, state: FeedState | None, now: datetime) -> PollResult:
    """Poll one feed; never raises: every failure becomes a PollResult with status 'error'."""
    headers: dict[str, str] = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    s = fetcher.settings
    conditional = bool(
        state and state.url == feed.url and (state.etag or state.last_modified)
        and state.last_unconditional_at is not None
        and (now - as_utc(state.last_unconditional_at)).total_seconds() < s.unconditional_every
    )
    if conditional and state:
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
    base = {"feed": feed.name, "url": feed.url, "polled_at": now, "conditional": conditional}
    try:
        resp = fetcher.get(feed.url, headers)
        if resp.status == 304:
            return PollResult(**base, status="not_modified", http_status=304,
                              etag=state.etag if state else None, last_modified=state.last_modified if state else None,
                              retry_after=resp.headers.get("retry-after"))
        check_status(resp)
        parsed = parse_feed(feed.name, resp.body, resp.content_type, s, feed.url)
    except FetchError as exc:
        return PollResult(**base, status="error", http_status=exc.status, error=exc.reason,
                          retry_after=exc.retry_after, hard=exc.hard)
    except Exception as exc:  # a parser bug must not stop the other feeds
        log.exception("feed %s: unexpected error", feed.name)
        return PollResult(**base, status="error", error=f"internal error: {type(exc).__name__}: {exc}"[:500], hard=True)
    if parsed.error:
        return PollResult(**base, status="error", http_status=resp.status, error=parsed.error, hard=True,
                          dropped_entries=parsed.dropped, drop_reasons=parsed.drop_reasons, feed_hint=parsed.hint)
    return PollResult(**base, status="ok", http_status=resp.status, etag=resp.headers.get("etag"),
                      last_modified=resp.headers.get("last-modified"), entries=tuple(parsed.entries),
                      dropped_entries=parsed.dropped, drop_reasons=parsed.drop_reasons,
                      retry_after=resp.headers.get("retry-after"), feed_hint=parsed.hint)


def due_feeds(feeds: Iterable[FeedConfig], states: dict[str, FeedState], now: datetime) -> list[FeedConfig]:
    """Feeds to poll in this cycle: new ones, ones whose URL changed, and ones whose time has come."""
    out = []
    for feed in feeds:
        state = states.get(feed.name)
        if state is None or state.url != feed.url or state.due(now):
            out.append(feed)
    return out


def poll_feeds(fetcher: Fetcher, feeds: Iterable[FeedConfig], states: dict[str, FeedState],
               now: datetime) -> list[PollResult]:
    feeds = list(feeds)
    if not feeds:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(fetcher.settings.fetch_workers, len(feeds)))) as pool:
        results = list(pool.map(lambda f: poll_feed(fetcher, f, states.get(f.name), now), feeds))
    for r in results:
        if r.status == "error":
            log.warning("feed %s failed: %s", r.feed, r.error)
    return results
