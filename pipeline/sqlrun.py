"""Run the SQL models (sql/models) in dependency order and raise alerts from sql/alerts."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipeline.config import Config
from pipeline.store import SQL_DIR, transaction

log = logging.getLogger(__name__)

_MATERIALIZED = re.compile(r"^--\s*materialized:\s*(view|table)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Model:
    name: str
    sql: str
    materialized: str
    path: Path


def load_models(folder: Path = SQL_DIR / "models") -> list[Model]:
    """Models of a folder, sorted so each comes after the models it reads."""
    models = {}
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        m = _MATERIALIZED.search(sql)
        models[path.stem] = Model(path.stem, sql.strip().rstrip(";"), m.group(1) if m else "view", path)
    deps = {
        name: {other for other in models if other != name and re.search(rf"\b{re.escape(other)}\b", _strip_comments(m.sql))}
        for name, m in models.items()
    }
    ordered: list[Model] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(m.name == name for m in ordered):
            return
        if name in visiting:
            raise ValueError(f"SQL models form a cycle through {name}")
        visiting.add(name)
        for dep in sorted(deps[name]):
            visit(dep)
        visiting.discard(name)
        ordered.append(models[name])

    for name in sorted(models):
        visit(name)
    return ordered


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def set_rule_variables(conn: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Thresholds from config reach the SQL as DuckDB variables (getvariable('...'))."""
    values = {
        "stance_threshold": float(config.stance.label_threshold),
        "new_actor_min_sources": int(config.rules.new_actor.min_sources),
        "stance_min_evidence": int(config.rules.stance_change.min_evidence),
    }
    for name, value in values.items():
        conn.execute(f"set variable {name} = {value!r}")


def build_models(conn: duckdb.DuckDBPyConnection, models: list[Model] | None = None) -> list[str]:
    built = []
    for model in models if models is not None else load_models():
        kind = "table" if model.materialized == "table" else "view"
        existing = conn.execute(
            "select 'table' from duckdb_tables() where table_name = $n and schema_name = 'main' "
            "union all select 'view' from duckdb_views() where view_name = $n and schema_name = 'main'",
            {"n": model.name}).fetchone()
        if existing and existing[0] != kind:
            conn.execute(f"drop {existing[0]} {model.name}")
        conn.execute(f"create or replace {kind} {model.name} as {model.sql}")
        built.append(model.name)
    return built


def alert_queries(folder: Path = SQL_DIR / "alerts") -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8").strip().rstrip(";") for p in sorted(folder.glob("alert_*.sql"))}


def raise_alerts(conn: duckdb.DuckDBPyConnection, cycle_id: str, now: datetime) -> list[str]:
    """Insert new alert candidates; an alert_id already present is never raised again."""
    new_ids: list[str] = []
    for name, sql in alert_queries().items():
        rows = conn.execute(
            f"""
            insert or ignore into alerts by name
            select c.*, $cycle_id as cycle_id, $now as detected_at
            from ({sql}) c
            where c.alert_id not in (select alert_id from alerts)
            returning alert_id
            """,
            {"cycle_id": cycle_id, "now": now},
        ).fetchall()
        new_ids.extend(r[0] for r in rows)
        log.info("%s: %d new alert(s)", name, len(rows))
    return new_ids


def run_models(conn: duckdb.DuckDBPyConnection, config: Config) -> list[str]:
    """Build every model in one transaction (readers never see half of them)."""
    set_rule_variables(conn, config)
    with transaction(conn):
        return build_models(conn)


def run_alerts(conn: duckdb.DuckDBPyConnection, config: Config, cycle_id: str, now: datetime) -> list[str]:
    """Raise alerts from the built models in one transaction; returns the new alert ids."""
    set_rule_variables(conn, config)
    with transaction(conn):
        return raise_alerts(conn, cycle_id, now)
