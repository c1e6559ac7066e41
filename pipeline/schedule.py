"""When to poll a feed next: adaptive interval, feed hints, Retry-After, weighted failure backoff."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from pipeline.settings import Settings

RETRY_AFTER_CAP = 24 * 3600.0
HARD_FAILURE = 1.0     # DNS, refused connection, TLS, SSRF refusal, malformed feed, caps
SOFT_FAILURE = 0.5     # an HTTP status: 404, 429, 5xx
_SY_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}


@dataclass(frozen=True)
class Schedule:
    poll_interval: float          # seconds, the healthy rhythm of this feed
    next_poll_at: datetime
    failure_score: float
    unhealthy: bool


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped at one day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - now).total_seconds()
    return max(0.0, min(seconds, RETRY_AFTER_CAP))


def feed_hint_seconds(ttl: str | None, update_period: str | None, update_frequency: str | None) -> float | None:
    """The interval a feed asks for: RSS <ttl> (minutes) or sy:updatePeriod / sy:updateFrequency."""
    hints = []
    if ttl and str(ttl).strip().isdigit():
        hints.append(int(str(ttl).strip()) * 60.0)
    if update_period and update_period.strip().lower() in _SY_PERIOD:
        freq = update_frequency.strip() if update_frequency else "1"
        per = int(freq) if freq.isdigit() and int(freq) > 0 else 1
        hints.append(_SY_PERIOD[update_period.strip().lower()] / per)
    return max(hints) if hints else None


def next_schedule(previous_interval: float | None, previous_score: float, status: str, entries: int,
                  new_items: int, hint: float | None, retry_after: float | None, hard: bool, now: datetime,
                  s: Settings) -> Schedule:
    """The pure scheduling rule, applied after every poll of a feed."""
    interval = previous_interval if previous_interval is not None else s.poll_initial_interval
    if status in ("ok", "not_modified"):
        if new_items == 0:
            interval *= 1.5                       # nothing new: back off gently
        elif entries and new_items / entries >= 0.5:
            interval /= 2                         # mostly new: we may be missing items
        interval = min(max(interval, s.poll_min_interval), s.poll_max_interval)
        if hint is not None:                      # the feed's own ttl/updatePeriod is a floor
            interval = max(interval, min(hint, s.poll_max_interval))
        wait = max(interval, retry_after or 0.0)
        return Schedule(interval, now + timedelta(seconds=wait), 0.0, False)
    score = previous_score + (HARD_FAILURE if hard else SOFT_FAILURE)
    backoff = min(max(interval, s.poll_min_interval, 60.0) * (2 ** score), s.max_backoff)
    wait = max(backoff, retry_after or 0.0)
    return Schedule(interval, now + timedelta(seconds=wait), score, score >= s.unhealthy_after)
