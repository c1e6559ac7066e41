"""Publish a read copy of the database for analysts: the live file stays the pipeline's alone.

DuckDB lets no other process read a file while one writes it. After each cycle the live file is
checkpointed and copied to a temporary file beside the read copy, which is then renamed over it in
one atomic step. An analyst who has the old copy open keeps reading that snapshot, a new connection
sees the new one, and nobody ever sees a half-written cycle.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def read_copy_path(db_path: Path) -> Path:
    """`data/newsmon.duckdb` -> `data/newsmon.read.duckdb` (override with NEWSMON_READ_DB)."""
    override = os.environ.get("NEWSMON_READ_DB")
    return Path(override) if override else db_path.with_name(db_path.stem + ".read" + db_path.suffix)


def publish(db_path: Path, target: Path | None = None) -> Path:
    """Copy a closed, checkpointed database file to its read copy atomically; returns the path."""
    target = target or read_copy_path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(db_path, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    log.info("published read copy %s", target)
    return target
