"""Publish a read copy of the database for analysts: the live file stays the pipeline's alone.

DuckDB lets no other process read a file while one writes it. After each cycle the live file is
checkpointed and copied to a temporary file beside the read copy, which is then renamed over it in
one atomic step. An analyst who has the old copy open keeps reading that snapshot, a new connection
sees the new one, and nobody ever sees a half-written cycle.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)


def read_copy_path(db_path: Path) -> Path:
    """`data/newsmon.duckdb` -> `data/newsmon.read.duckdb` (override with NEWSMON_READ_DB)."""
    override = os.environ.get("NEWSMON_READ_DB")
    return Path(override) if override else db_path.with_name(db_path.stem + ".read" + db_path.suffix)


def _record_path(target: Path) -> Path:
    return target.with_name(target.name + ".published")


def publish_due(db_path: Path, budget: float, urgent: bool = False, target: Path | None = None,
                clock=time.time) -> bool:
    """Whether to copy now. The copy costs time in proportion to the file (about 2 s per GB here), so
    it may take at most `budget` of the wall time: after a copy that took s seconds, the next one is
    due s / budget seconds later. A cycle that raised alerts (`urgent`), a missing copy or a budget
    of 0 always publish. With a small file that is every cycle; with a 1 GB file every ~20 s."""
    target = target or read_copy_path(db_path)
    if urgent or budget <= 0 or not target.exists():
        return True
    try:
        last = json.loads(_record_path(target).read_text())
        return clock() - float(last["at"]) >= float(last["seconds"]) / budget
    except (OSError, ValueError, KeyError, TypeError):
        return True


def publish(db_path: Path, target: Path | None = None) -> Path:
    """Copy a closed database file to its read copy atomically (checkpointed first when it has a
    write-ahead log); returns the path."""
    target = target or read_copy_path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    start = time.perf_counter()
    if Path(str(db_path) + ".wal").exists():       # cycles that skipped the copy left their changes there
        import duckdb

        with duckdb.connect(str(db_path)) as conn:
            conn.execute("checkpoint")
    try:
        shutil.copyfile(db_path, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    _record_path(target).write_text(json.dumps({"at": time.time(), "seconds": time.perf_counter() - start}))
    log.info("published read copy %s", target)
    return target
