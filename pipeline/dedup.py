"""Near-duplicate detection: 64-bit SimHash over word shingles; wire copies share one story_id."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from typing import Sequence

import duckdb
import pyarrow as pa

from pipeline.records import Article
from pipeline.simhash import hamming

MAX_DISTANCE = 3        # differing bits for two texts to count as the same story
# a copy joins a story whose articles were fetched within this many days before it: wire copies and
# rewrites of one event land within days, and the look-up then reads recent row groups only (its
# cost follows the recent volume, not the whole history)
STORY_WINDOW_DAYS = 30
# four 16-bit bands of a SimHash (right shifts): within MAX_DISTANCE bits, two hashes agree on one
_BAND_SHIFTS = (48, 32, 16, 0)


def assign_stories(conn: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> list[Article]:
    """Give each article the story_id of the earliest stored (or earlier in this batch) near-duplicate.

    Stored candidates are the articles fetched within STORY_WINDOW_DAYS before the batch, found by
    banding: texts within 3 differing bits agree exactly on at least one of four 16-bit bands, so
    each band is an equality join, not a scan of all pairs.
    """
    hashed = [(a.article_id, a.simhash) for a in articles if a.simhash is not None]
    stored: dict[str, tuple[str, int]] = {}
    if hashed:
        since = min(a.fetched_at for a in articles if a.simhash is not None) - timedelta(days=STORY_WINDOW_DAYS)
        if since.tzinfo is not None:     # compared with the stored (naive UTC) column as it is: prunable
            since = since.astimezone(timezone.utc).replace(tzinfo=None)
        from pipeline.store import registered      # (store imports this module)

        with registered(conn, "_new_hashes", [{"article_id": i, "simhash": h} for i, h in hashed],
                        {"simhash": pa.uint64()}):
            # one equality join per band, not one join on "band 1 = or band 2 = ...": DuckDB can only
            # run the OR as a nested loop (0.53 s against 1M stored articles, 0.025 s this way)
            cand = " union all ".join(f"""
                select n.article_id as new_id, a.article_id, a.story_id, a.fetched_at
                from _new_hashes n join articles a on (a.simhash >> {shift}) & 65535 = (n.simhash >> {shift}) & 65535
                where a.simhash is not null and a.article_id <> n.article_id and a.fetched_at >= $since
                  and bit_count(xor(a.simhash, n.simhash)) <= $d""" for shift in _BAND_SHIFTS)
            rows = conn.execute(f"""
                with cand as ({cand})
                select new_id, arg_min(coalesce(story_id, article_id), fetched_at) from cand group by new_id
            """, {"d": MAX_DISTANCE, "since": since}).fetchall()
        stored = {new_id: story for new_id, story in rows}
    out: list[Article] = []
    batch: dict[tuple[int, int], list[tuple[int, int, str]]] = {}   # (band shift, value) -> (order, simhash, story)
    for order, a in enumerate(articles):
        story = stored.get(a.article_id)
        if a.simhash is not None:
            keys = [(shift, (a.simhash >> shift) & 0xFFFF) for shift in _BAND_SHIFTS]
            if story is None:       # the earliest earlier article of the batch within the distance
                near = [(o, sid) for k in keys for o, h, sid in batch.get(k, ())
                        if hamming(h, a.simhash) <= MAX_DISTANCE]
                story = min(near)[1] if near else None
            for k in keys:
                batch.setdefault(k, []).append((order, a.simhash, story or a.article_id))
        out.append(replace(a, story_id=story or a.article_id))
    return out
