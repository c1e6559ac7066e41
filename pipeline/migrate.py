"""Move a store between backends: a DuckDB file into a DuckLake, or back.

`newsmon migrate --to ducklake` copies every table of the DuckDB file (raw tables, marts, alert
history, the search index) into the configured lake in one transaction, re-creates the analysts'
views and macros, and checks each table's row count against the source before it commits. The
source is only read. A target that already holds articles is refused: a copy never merges two
histories.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import duckdb

from pipeline import store
from pipeline.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "newsmon_source"


class MigrateError(Exception):
    """The copy cannot start or did not match; nothing was committed."""


def _attach_source(conn: duckdb.DuckDBPyConnection, source: Settings) -> None:
    if source.storage == "duckdb":
        conn.execute(f"attach {store.sql_string(str(source.db_path))} as {SOURCE} (read_only)")
        return
    for name in store.lake_extensions(source):
        store.load_extension(conn, name)
    conn.execute(store.attach_lake_sql(source, SOURCE, read_only=True))


def _tables(conn: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = 'main' "
        "order by table_name", [database]).fetchall()]


def _views(conn: duckdb.DuckDBPyConnection, database: str) -> dict[str, str]:
    return dict(conn.execute(
        "select view_name, sql from duckdb_views() where database_name = ? and schema_name = 'main' "
        "and not internal", [database]).fetchall())


def _create_views(conn: duckdb.DuckDBPyConnection, views: dict[str, str]) -> None:
    """Views in any order: one that reads a view not made yet is retried after the others."""
    pending = dict(views)
    while pending:
        failed: dict[str, str] = {}
        errors = []
        for name, sql in pending.items():
            try:
                conn.execute(sql)
            except duckdb.CatalogException as exc:
                failed[name] = sql
                errors.append(f"{name}: {str(exc).splitlines()[0]}")
        if len(failed) == len(pending):
            raise MigrateError("views could not be re-created: " + "; ".join(errors))
        pending = failed


def _check_source(source: Settings) -> None:
    if source.storage == "duckdb":
        if not source.db_path.is_file():
            raise MigrateError(f"no DuckDB file at {source.db_path}")
        return
    kind, _, target = source.lake_catalog_url.partition(":")
    if kind == "sqlite" and not Path(target).is_file():
        raise MigrateError(f"no ducklake catalog at {target}")


def copy_store(source: Settings, target: Settings) -> dict[str, int]:
    """Copy every table from `source` to `target` (two backends); returns rows per table."""
    if source.storage == target.storage:
        raise MigrateError(f"source and target are both {source.storage}")
    _check_source(source)
    store.open_store(source).close()          # bring the source's schema up to date first
    conn = store.open_store(target)
    try:
        held = conn.execute("select count(*) from articles").fetchone()[0]
        if held:
            raise MigrateError(f"{target.store_name} already holds {held:,} articles; "
                               "move it aside (or point the target elsewhere) and run again")
        _attach_source(conn, source)
        target_db = conn.execute("select current_database()").fetchone()[0]
        existing = set(_tables(conn, target_db))
        counts: dict[str, int] = {}
        with store.transaction(conn):
            for table in _tables(conn, SOURCE):
                if table in existing:      # made by the migrations: same columns; drop their seed rows
                    conn.execute(f"delete from {table}")
                    conn.execute(f"insert into {table} by name select * from {SOURCE}.{table}")
                else:                      # a mart: a plain copy
                    conn.execute(f"create table {table} as select * from {SOURCE}.{table}")
                want = conn.execute(f"select count(*) from {SOURCE}.{table}").fetchone()[0]
                got = conn.execute(f"select count(*) from {table}").fetchone()[0]
                if want != got:
                    raise MigrateError(f"table {table}: {got:,} rows copied, the source has {want:,}")
                counts[table] = got
            _create_views(conn, _views(conn, SOURCE))
            if "search_docs" in counts:
                from pipeline.search import define_macros

                define_macros(conn)
        conn.execute(f"detach {SOURCE}")
    except duckdb.Error as exc:
        raise MigrateError(f"copy to {target.store_name} failed, nothing committed: "
                           f"{str(exc).splitlines()[0]}") from None
    finally:
        conn.close()
    log.info("copied %d tables from %s to %s", len(counts), source.store_name, target.store_name)
    return counts


def scratch_copy(settings: Settings, path: Path) -> Settings:
    """A DuckDB file at `path` holding a copy of the store (for work that must not touch it)."""
    scratch = replace(settings, storage="duckdb", db_path=path)
    copy_store(settings, scratch)
    return scratch
