"""Typed records passed between pipeline stages (no third-party objects past their module)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class FeedState:
    """What we remember about a feed between polls (row of the `feeds` table)."""

    feed: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    failure_score: float = 0.0
    poll_interval: float | None = None
    next_poll_at: datetime | None = None
    last_unconditional_at: datetime | None = None
    unhealthy: bool = False

    def due(self, now: datetime) -> bool:
        return self.next_poll_at is None or as_utc(self.next_poll_at) <= now


def as_utc(value: datetime) -> datetime:
    """DuckDB hands timestamps back naive; every one we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, already reduced to what we use."""

    feed: str
    article_id: str
    url: str
    canonical_url: str
    guid: str | None
    title: str
    summary: str
    published_at: datetime | None
    source_domain: str = ""          # host of the link, else of the feed (entries without a link)


@dataclass(frozen=True)
class PollResult:
    """Outcome of polling one feed once."""

    feed: str
    url: str
    polled_at: datetime
    status: str                      # ok | not_modified | error
    http_status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    entries: tuple[FeedEntry, ...] = ()
    dropped_entries: int = 0         # entries refused (bad or over-long URL, over the per-poll cap)
    drop_reasons: str | None = None  # "3 over the per-poll cap, 1 over-long URL"
    conditional: bool = False        # validators (ETag / Last-Modified) were sent
    retry_after: str | None = None   # the server's Retry-After header
    hard: bool = False               # a network/refusal error rather than an HTTP status
    feed_hint: float | None = None   # seconds the feed asks between polls (<ttl>, sy:updatePeriod)
    new_entries: int = 0             # entries not stored before (set after dedup)


@dataclass(frozen=True)
class Article:
    """A distinct article: extracted text plus metadata, or the feed summary when extraction failed."""

    article_id: str
    url: str
    canonical_url: str
    feed: str
    source_domain: str
    title: str
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    text: str
    guid: str | None = None
    site_name: str | None = None
    extracted: bool = True
    extraction_error: str | None = None
    content_hash: str = ""
    completeness: str = "full"       # full | teaser | paywalled | summary_only
    story_id: str | None = None      # near-duplicate group (wire copies share one)
    simhash: int | None = None       # 64-bit SimHash of the text


@dataclass(frozen=True)
class TopicMention:
    article_id: str
    topic: str
    sentence_index: int
    term: str
    sentence: str


@dataclass(frozen=True)
class ActorMention:
    article_id: str
    actor_id: str
    actor_name: str
    is_known: bool
    entity_label: str
    sentence_index: int
    start_char: int
    surface: str


@dataclass(frozen=True)
class Stance:
    article_id: str
    actor_id: str
    topic: str
    sentence_index: int
    stance: str                      # support | oppose | neutral
    score: float
    cue: str
    via: str                         # subject | speaker
    sentence: str
    published_at: datetime | None


@dataclass
class Annotation:
    """Everything the NLP stage found in one article."""

    article_id: str
    topics: list[TopicMention] = field(default_factory=list)
    actors: list[ActorMention] = field(default_factory=list)
    stances: list[Stance] = field(default_factory=list)


def to_row(record: Any) -> dict[str, Any]:
    """A flat dict of a record's fields (for bulk loading)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}
