"""Near-duplicate detection: 64-bit SimHash over word shingles; wire copies share one story_id."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Sequence

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.records import Article

MAX_DISTANCE = 3        # differing bits for two texts to count as the same story
_WORD = re.compile(r"\w+", re.UNICODE)
_MASK = (1 << 64) - 1


def simhash(text: str, shingle: int = 3) -> int | None:
    """SimHash of a text's word shingles, or None when the text is too short to judge."""
    words = _WORD.findall(text.lower())
    if len(words) < 30:
        return None
    grams = {" ".join(words[i:i + shingle]) for i in range(len(words) - shingle + 1)}
    digests = b"".join(hashlib.blake2b(g.encode(), digest_size=8).digest() for g in grams)
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8).reshape(-1, 8), axis=1)
    votes = bits.sum(axis=0, dtype=np.int64) * 2 - len(grams)
    value = 0
    for bit in (votes > 0):
        value = (value << 1) | int(bit)
    return value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & _MASK).bit_count()


def assign_stories(conn: duckdb.DuckDBPyConnection, articles: Sequence[Article]) -> list[Article]:
    """Give each article the story_id of the earliest stored (or earlier in this batch) near-duplicate.

    Candidates are found by banding: texts within 3 differing bits agree exactly on at least one of
    four 16-bit bands, so each band is an equality join, not a scan of all pairs.
    """
    hashed = [(a.article_id, a.simhash) for a in articles if a.simhash is not None]
    stored: dict[str, tuple[str, int]] = {}
    if hashed:
        conn.register("_new_hashes", pa.table({"article_id": [h[0] for h in hashed],
                                                "simhash": pa.array([h[1] for h in hashed], pa.uint64())}))
        try:
            rows = conn.execute("""
                with cand as (
                    select n.article_id as new_id, a.article_id, a.story_id, a.simhash, a.fetched_at
                    from _new_hashes n join articles a
                      on (a.simhash >> 48) = (n.simhash >> 48) or ((a.simhash >> 32) & 65535) = ((n.simhash >> 32) & 65535)
                      or ((a.simhash >> 16) & 65535) = ((n.simhash >> 16) & 65535) or (a.simhash & 65535) = (n.simhash & 65535)
                    where a.simhash is not null and a.article_id <> n.article_id
                      and bit_count(xor(a.simhash, n.simhash)) <= $d
                )
                select new_id, arg_min(coalesce(story_id, article_id), fetched_at) from cand group by new_id
            """, {"d": MAX_DISTANCE}).fetchall()
        finally:
            conn.unregister("_new_hashes")
        stored = {new_id: story for new_id, story in rows}
    out: list[Article] = []
    batch: list[tuple[int, str]] = []
    for a in articles:
        story = stored.get(a.article_id)
        if story is None and a.simhash is not None:
            story = next((sid for h, sid in batch if hamming(h, a.simhash) <= MAX_DISTANCE), None)
        story = story or a.article_id
        if a.simhash is not None:
            batch.append((a.simhash, story))
        out.append(replace(a, story_id=story))
    return out
