"""DuckDB: open with migrations, read pipeline state, load one cycle in one idempotent transaction."""
from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import duckdb
import pyarrow as pa

from pipeline.config import ActorConfig
from pipeline.dedup import assign_stories
from pipeline.records import Annotation, Article, FeedState, PollResult, to_row
from pipeline.schedule import Schedule, next_schedule, parse_retry_after
from pipeline.settings import SQL_DIR, Settings

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^(\d+)_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """The database cannot be used (locked, read-only, not a DuckDB file); message is one clear line."""


def _explain(db_path: Path, exc: Exception) -> StoreError:
    msg = str(exc)
    if "Could not set lock" in msg or "Conflicting lock" in msg:
        pid = re.search(r"PID (\d+)", msg)
        return StoreError(f"database {db_path} is in use by another process"
                          f"{' (PID ' + pid.group(1) + ')' if pid else ''}; only one writer at a time")
    if "Permission denied" in msg or "read-only" in msg.lower():
        return StoreError(f"database {db_path} is not writable: {msg.splitlines()[0]}")
    if "not a valid DuckDB database" in msg or "Unsupported file" in msg or "invalid" in msg.lower():
        return StoreError(f"{db_path} is not a DuckDB database this version can open: {msg.splitlines()[0]}")
    return StoreError(f"cannot open database {db_path}: {msg.splitlines()[0]}")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK and re-raise the error that caused it.

    A failed COMMIT has already ended the transaction, so a failing ROLLBACK is ignored: the error
    the caller sees is always the real one.
    """
    conn.execute("begin")
    try:
        yield
        conn.execute("commit")
    except BaseException:
        try:
            conn.execute("rollback")
        except duckdb.Error:
            pass
        raise


def connect(db_path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) and migrate the database; raises StoreError with a clear message."""
    db_path = Path(db_path)
    if read_only and not db_path.exists():
        raise StoreError(f"database {db_path} does not exist")
    try:
        if not read_only:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(str(db_path), read_only=read_only, config={
            "autoinstall_known_extensions": "false", "autoload_known_extensions": "false",
            # a cap, not a reservation: a cycle needs ~200 MB; a first build of 1M articles ~3 GB
            "memory_limit": os.environ.get("NEWSMON_DUCKDB_MEMORY") or "4GB"})
    except (duckdb.Error, OSError) as exc:
        raise _explain(db_path, exc) from None
    conn.execute("set TimeZone = 'UTC'")
    if not read_only:
        try:
            migrate(conn)
        except duckdb.Error as exc:
            conn.close()
            raise _explain(db_path, exc) from None
    return conn


def migrate(conn: duckdb.DuckDBPyConnection, schema_dir: Path = SQL_DIR / "schema") -> list[int]:
    """Apply sql/schema/NNN_*.sql files not yet applied, each in its own transaction."""
    conn.execute("create table if not exists schema_migrations "
                 "(version integer primary key, name varchar, applied_at timestamp default current_timestamp)")
    done = {v for (v,) in conn.execute("select version from schema_migrations").fetchall()}
    applied = []
    for path in sorted(schema_dir.glob("*.sql")):
        m = _MIGRATION.match(path.name)
        if not m or int(m.group(1)) in done:
            continue
        try:
            with transaction(conn):
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute("insert into schema_migrations (version, name) values (?, ?)",
                             [int(m.group(1)), path.name])
        except duckdb.Error as exc:
            raise duckdb.Error(f"migration {path.name} failed: {str(exc).splitlines()[0]}") from exc
        applied.append(int(m.group(1)))
    if applied:
        log.info("database migrated to schema version %s", applied[-1])
    return applied


def feed_states(conn: duckdb.DuckDBPyConnection) -> dict[str, FeedState]:
    rows = conn.execute("""
        select feed, url, etag, last_modified, last_success_at, consecutive_failures, coalesce(failure_score, 0),
               poll_interval, next_poll_at, last_unconditional_at, coalesce(unhealthy, false)
        from feeds""").fetchall()
    return {r[0]: FeedState(*r) for r in rows}


def known_article_ids(conn: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> set[str]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return set()
    table = pa.table({"article_id": pa.array(ids, pa.string())})
    conn.register("_wanted_ids", table)
    try:
        return {r[0] for r in conn.execute(
            "select a.article_id from articles a join _wanted_ids w using (article_id)").fetchall()}
    finally:
        conn.unregister("_wanted_ids")


@dataclass(frozen=True)
class LoadCounts:
    new_articles: int
    topic_mentions: int
    actor_mentions: int
    stances: int


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict],
            types: dict[str, pa.DataType] | None = None) -> int:
    if not rows:
        return 0
    types = types or {}
    before = conn.execute(f"select count(*) from {table}").fetchone()[0]
    columns = {k: pa.array([r[k] for r in rows], type=types.get(k)) for k in rows[0]}
    conn.register("_batch", pa.table(columns))
    try:
        conn.execute(f"insert or ignore into {table} by name select * from _batch")
    finally:
        conn.unregister("_batch")
    return conn.execute(f"select count(*) from {table}").fetchone()[0] - before


def load_cycle(conn: duckdb.DuckDBPyConnection, cycle_id: str, started_at: datetime,
               polls: Sequence[PollResult], articles: Sequence[Article],
               annotations: Sequence[Annotation], actors: Sequence[ActorConfig], settings: Settings) -> LoadCounts:
    """Write one cycle in ONE transaction; rows already present (same natural key) are left alone."""
    new_per_feed: dict[str, int] = {}
    for a in articles:
        new_per_feed[a.feed] = new_per_feed.get(a.feed, 0) + 1
    with transaction(conn):
        conn.execute("insert or ignore into cycles (cycle_id, started_at) values (?, ?)", [cycle_id, started_at])
        schedules = _upsert_feeds(conn, polls, new_per_feed, settings)
        _insert(conn, "feed_polls", [{
            "cycle_id": cycle_id, "feed": p.feed, "polled_at": p.polled_at, "status": p.status,
            "http_status": p.http_status, "error": p.error, "entries": len(p.entries),
            "new_articles": new_per_feed.get(p.feed, 0), "dropped_entries": p.dropped_entries,
            "conditional": p.conditional, "retry_after": p.retry_after, "drop_reasons": p.drop_reasons,
            "next_poll_at": schedules[p.feed].next_poll_at} for p in polls])
        articles = assign_stories(conn, articles)
        seq = conn.execute("select coalesce(max(load_seq), 0) + 1 from articles").fetchone()[0]
        n_articles = _insert(conn, "articles", [{**to_row(a), "cycle_id": cycle_id, "load_seq": seq} for a in articles],
                             {"simhash": pa.uint64(), "load_seq": pa.int64()})
        seq_type = {"load_seq": pa.int64()}
        n_topics = _insert(conn, "topic_mentions", [{**to_row(t), "load_seq": seq} for ann in annotations
                                                    for t in ann.topics], seq_type)
        n_actors = _insert(conn, "actor_mentions", [{**to_row(m), "load_seq": seq} for ann in annotations
                                                    for m in ann.actors], seq_type)
        n_stances = _insert(conn, "stances", [{**to_row(s), "load_seq": seq} for ann in annotations
                                              for s in ann.stances], seq_type)
        sync_registry(conn, actors)
    return LoadCounts(n_articles, n_topics, n_actors, n_stances)


def _upsert_feeds(conn: duckdb.DuckDBPyConnection, polls: Sequence[PollResult], new_per_feed: dict[str, int],
                  settings: Settings) -> dict[str, Schedule]:
    states = feed_states(conn)
    out: dict[str, Schedule] = {}
    for p in polls:
        ok = p.status in ("ok", "not_modified")
        prev = states.get(p.feed)
        new_items = new_per_feed.get(p.feed, 0)
        sched = next_schedule(prev.poll_interval if prev else None, prev.failure_score if prev else 0.0, p.status,
                              len(p.entries), new_items, p.feed_hint, parse_retry_after(p.retry_after, p.polled_at),
                              p.hard, p.polled_at, settings)
        out[p.feed] = sched
        conn.execute(
            """
            insert into feeds as f (feed, url, etag, last_modified, last_polled_at, last_status, last_http_status,
                               last_error, last_success_at, consecutive_failures, articles_total, failure_score,
                               poll_interval, next_poll_at, last_unconditional_at, unhealthy, feed_hint_seconds)
            values ($feed, $url, $etag, $lm, $at, $status, $http, $error, case when $ok then $at end,
                    case when $ok then 0 else 1 end, $new, $score, $interval, $next,
                    case when not $conditional then $at end, $unhealthy, $hint)
            on conflict (feed) do update set
                url = excluded.url,
                etag = case when $ok then excluded.etag else f.etag end,
                last_modified = case when $ok then excluded.last_modified else f.last_modified end,
                last_polled_at = excluded.last_polled_at,
                last_status = excluded.last_status,
                last_http_status = excluded.last_http_status,
                last_error = excluded.last_error,
                last_success_at = coalesce(excluded.last_success_at, f.last_success_at),
                consecutive_failures = case when $ok then 0 else f.consecutive_failures + 1 end,
                articles_total = f.articles_total + excluded.articles_total,
                failure_score = excluded.failure_score,
                poll_interval = excluded.poll_interval,
                next_poll_at = excluded.next_poll_at,
                last_unconditional_at = case when $ok and not $conditional then excluded.last_polled_at
                                             else f.last_unconditional_at end,
                unhealthy = excluded.unhealthy,
                feed_hint_seconds = coalesce(excluded.feed_hint_seconds, f.feed_hint_seconds)
            """,
            {"feed": p.feed, "url": p.url, "etag": p.etag, "lm": p.last_modified, "at": p.polled_at,
             "status": p.status, "http": p.http_status, "error": p.error, "ok": ok, "new": new_items,
             "score": sched.failure_score, "interval": sched.poll_interval, "next": sched.next_poll_at,
             "conditional": p.conditional, "unhealthy": sched.unhealthy, "hint": p.feed_hint},
        )
    return out


def sync_registry(conn: duckdb.DuckDBPyConnection, actors: Sequence[ActorConfig]) -> None:
    """Mirror actors.yaml into the `actors` table so marts can tell registered actors by name."""
    conn.execute("delete from actors")
    _insert(conn, "actors", [{"actor_id": a.id, "name": a.name, "type": a.type, "country": a.country,
                              "wikidata": a.wikidata, "aliases": list(a.aliases)} for a in actors])


def finish_cycle(conn: duckdb.DuckDBPyConnection, cycle_id: str, finished_at: datetime, **counts: int) -> None:
    sets = ", ".join(f"{k} = ${k}" for k in counts)
    conn.execute(f"update cycles set finished_at = $finished_at{', ' + sets if sets else ''} where cycle_id = $cycle_id",
                 {"finished_at": finished_at, "cycle_id": cycle_id, **counts})
