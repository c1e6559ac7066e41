"""Hand stage outputs between processes (Airflow tasks) as JSON files under a run's staging folder."""
from __future__ import annotations

import json
import os
from dataclasses import fields, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from pipeline.records import ActorMention, Annotation, Article, FeedEntry, PollResult, Stance, TopicMention


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    if is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    raise TypeError(f"cannot stage {type(value).__name__}")


def _hook(obj: dict) -> Any:
    if set(obj) == {"__dt__"}:
        return datetime.fromisoformat(obj["__dt__"])
    return obj


def dump(path: Path, records: Sequence[Any]) -> Path:
    """Write atomically (temp file + rename) so a retried task never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(list(records), default=_default, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _read(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"), object_hook=_hook)


def load_polls(path: Path) -> list[PollResult]:
    out = []
    for d in _read(path):
        d["entries"] = tuple(FeedEntry(**e) for e in d["entries"])
        out.append(PollResult(**d))
    return out


def load_entries(path: Path) -> list[FeedEntry]:
    return [FeedEntry(**d) for d in _read(path)]


def load_articles(path: Path) -> list[Article]:
    return [Article(**d) for d in _read(path)]


def load_annotations(path: Path) -> list[Annotation]:
    return [Annotation(d["article_id"], [TopicMention(**t) for t in d["topics"]],
                       [ActorMention(**a) for a in d["actors"]], [Stance(**s) for s in d["stances"]])
            for d in _read(path)]
