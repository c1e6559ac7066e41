"""Adaptive polling: intervals, feed hints, Retry-After, weighted backoff, health, due feeds."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.schedule import feed_hint_seconds, next_schedule, parse_retry_after
from pipeline.settings import Settings

NOW = datetime(2026, 2, 10, 12, tzinfo=timezone.utc)
S = Settings(config_dir=None, db_path=None, data_dir=None)  # type: ignore[arg-type]  # defaults only


def sched(prev=600.0, score=0.0, status="ok", entries=20, new=0, hint=None, retry=None, hard=False):
    return next_schedule(prev, score, status, entries, new, hint, retry, hard, NOW, S)


def test_intervals_adapt_to_what_a_poll_brings():
    assert sched(new=0).poll_interval == 900          # nothing new: 1.5x
    assert sched(new=15).poll_interval == 300         # mostly new: halve
    assert sched(new=3).poll_interval == 600          # some new: keep
    assert sched(prev=100, new=20).poll_interval == S.poll_min_interval
    assert sched(prev=4 * 3600, new=0).poll_interval == S.poll_max_interval
    assert sched(new=0).next_poll_at == NOW + timedelta(seconds=900)


def test_feed_hint_is_a_floor():
    assert sched(new=20, hint=3600).poll_interval == 3600
    assert feed_hint_seconds("60", None, None) == 3600
    assert feed_hint_seconds(None, "hourly", "2") == 1800
    assert feed_hint_seconds(None, "daily", None) == 86400
    assert feed_hint_seconds("soon", "whenever", None) is None


@pytest.mark.parametrize("value, seconds", [
    ("120", 120.0), ("0", 0.0), ("999999", 86400.0), ("Tue, 10 Feb 2026 12:05:00 GMT", 300.0),
    ("Mon, 09 Feb 2026 12:00:00 GMT", 0.0), ("garbage", None), (None, None),
])
def test_retry_after(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_delays_the_next_poll():
    s = sched(status="error", retry=3600.0, hard=False)
    assert s.next_poll_at == NOW + timedelta(seconds=3600)


def test_failures_back_off_weighted_capped_and_flag_unhealthy_then_reset():
    hard = sched(status="error", hard=True)
    soft = sched(status="error", hard=False)
    assert (hard.failure_score, soft.failure_score) == (1.0, 0.5)
    assert hard.next_poll_at - NOW > soft.next_poll_at - NOW
    score, waits = 0.0, []
    for _ in range(12):
        s = sched(score=score, status="error", hard=True)
        score = s.failure_score
        waits.append((s.next_poll_at - NOW).total_seconds())
    assert waits == sorted(waits) and waits[-1] == S.max_backoff
    assert s.unhealthy and not sched(score=4.0, status="error", hard=False).unhealthy
    back = sched(score=score, status="ok", new=1)
    assert (back.failure_score, back.unhealthy) == (0.0, False)


def test_only_due_feeds_are_polled():
    from pipeline.config import FeedConfig
    from pipeline.poll import due_feeds
    from pipeline.records import FeedState

    feeds = [FeedConfig(name=n, url=f"https://x.org/{n}") for n in ("new", "due", "later", "moved")]
    states = {
        "due": FeedState("due", "https://x.org/due", next_poll_at=NOW - timedelta(seconds=1)),
        "later": FeedState("later", "https://x.org/later", next_poll_at=NOW + timedelta(minutes=5)),
        "moved": FeedState("moved", "https://x.org/old", next_poll_at=NOW + timedelta(minutes=5)),
    }
    assert [f.name for f in due_feeds(feeds, states, NOW)] == ["new", "due", "moved"]
