"""Hand stage outputs between processes (Airflow tasks) as Parquet files under a run's staging folder."""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.records import ActorMention, Annotation, Article, FeedEntry, PollResult, Stance, TopicMention

# Columns whose type cannot be inferred from Python values (or from an all-empty batch).
_TYPES = {"simhash": pa.uint64()}


def dump(path: Path, records: Sequence[Any]) -> Path:
    """Write atomically (temp file + rename) so a retried task never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(r) for r in records]
    if rows:
        table = pa.table({k: pa.array([r[k] for r in rows], type=_TYPES.get(k)) for k in rows[0]})
    else:
        table = pa.table({"_empty": pa.array([], pa.bool_())})
    tmp = path.with_suffix(path.suffix + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def _read(path: Path) -> list[dict]:
    table = pq.read_table(path)
    return [] if table.column_names == ["_empty"] else table.to_pylist()


def load_polls(path: Path) -> list[PollResult]:
    return [PollResult(**{**d, "entries": tuple(FeedEntry(**e) for e in d["entries"] or ())}) for d in _read(path)]


def load_entries(path: Path) -> list[FeedEntry]:
    return [FeedEntry(**d) for d in _read(path)]


def load_articles(path: Path) -> list[Article]:
    return [Article(**d) for d in _read(path)]


def load_annotations(path: Path) -> list[Annotation]:
    return [Annotation(d["article_id"], [TopicMention(**t) for t in d["topics"] or []],
                       [ActorMention(**a) for a in d["actors"] or []], [Stance(**s) for s in d["stances"] or []])
            for d in _read(path)]
