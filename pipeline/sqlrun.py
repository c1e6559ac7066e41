"""Run the SQL models (sql/models) in dependency order and raise alerts from sql/alerts."""
from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.config import Config
from pipeline.store import (SQL_DIR, insert_new, label_commit, retrying, serialize, snapshot_id, sql_string,
                            transaction, upsert)

log = logging.getLogger(__name__)

_MATERIALIZED = re.compile(r"^--\s*materialized:\s*(view|table|incremental|merge)\s*$", re.MULTILINE)
_MERGE = re.compile(r"^--\s*merge:\s*([a-z_][a-z0-9_]*)\s*=\s*(.+?)\s*$", re.MULTILINE)
_UNIQUE_KEY = re.compile(r"^--\s*unique_key:\s*(.+?)\s*$", re.MULTILINE)
_CHANGED = re.compile(r"^--\s*changed:\s*(.+?)\s*$", re.MULTILINE)
_DELETE_WHERE = re.compile(r"^--\s*delete_where:\s*(.+?)\s*$", re.MULTILINE)
_CLUSTER_BY = re.compile(r"^--\s*cluster_by:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_VARIABLE = re.compile(r"getvariable\('([a-z_]+)'\)")
FAR_FUTURE = "9999-12-31 00:00:00"
_EVERY_CYCLE = re.compile(r"^--\s*every cycle\b", re.MULTILINE)
# set per run by the runner: they change every time, so they never count as "the rules changed"
_RUN_VARIABLES = {"cycle_now", "since_seq", "build_generation", "alert_since"}
_GENERATION = "__generation__"


@dataclass(frozen=True)
class Model:
    """One file of sql/models.

    `incremental` models keep a table and, each run, rebuild only the rows whose `unique_key` the
    `changed` query names. That query reads `new_articles` (the articles loaded since the model's
    watermark); the model's SQL reads `changed_keys` to restrict itself to those keys. A full build
    is the same with every article counted as new.

    `merge` models aggregate only what is new (rows with `load_seq > getvariable('since_seq')`) and
    fold it into the stored row of the same key with their `merge:` expressions (`m.` is the stored
    row, `d.` the new one; a column without an expression takes the new value). Counts add up,
    minima stay minima: the cost follows the new data, not the history. A merge model may name a
    key column as `cluster_by` (a day, say): the full build stores its rows in that order, folded
    rows are appended in it as time goes on, and a fold reads only the stored rows within the new
    rows' range of that column, so its scan skips the other row groups by their min/max.
    """

    name: str
    sql: str
    materialized: str
    path: Path
    unique_key: tuple[str, ...] = ()
    changed_sql: str | None = None
    deps: frozenset[str] = field(default_factory=frozenset)
    merge: tuple[tuple[str, str], ...] = ()
    delete_where: str | None = None     # incremental: which stored rows (t) a changed key (k) replaces
    cluster_by: str | None = None       # merge: a key column the stored rows are ordered by


def load_models(folder: Path = SQL_DIR / "models") -> list[Model]:
    """Models of a folder, sorted so each comes after the models it reads."""
    models = {}
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        m = _MATERIALIZED.search(sql)
        kind = m.group(1) if m else "view"
        key = _UNIQUE_KEY.search(sql)
        changed = _CHANGED.search(sql)
        if kind == "incremental" and not (key and changed):
            raise ValueError(f"{path.name}: an incremental model needs '-- unique_key:' and '-- changed:' lines")
        if kind == "merge" and not key:
            raise ValueError(f"{path.name}: a merge model needs a '-- unique_key:' line")
        cluster = _CLUSTER_BY.search(sql)
        if cluster and (kind != "merge" or cluster.group(1) not in [k.strip() for k in key.group(1).split(",")]):
            raise ValueError(f"{path.name}: '-- cluster_by:' names one of a merge model's unique_key columns")
        models[path.stem] = Model(path.stem, sql.strip().rstrip(";"), kind, path,
                                  tuple(k.strip() for k in key.group(1).split(",")) if key else (),
                                  changed.group(1).rstrip(";") if changed else None,
                                  merge=tuple(_MERGE.findall(sql)),
                                  delete_where=(_DELETE_WHERE.search(sql).group(1) if _DELETE_WHERE.search(sql) else None),
                                  cluster_by=cluster.group(1) if cluster else None)
    deps = {
        name: {other for other in models if other != name
               and re.search(rf"\b{re.escape(other)}\b", _strip_comments(m.sql) + " " + (m.changed_sql or ""))}
        for name, m in models.items()
    }
    for name, m in models.items():      # new_articles, which they all read, is a view over stg_articles
        if m.materialized in ("incremental", "merge") and "stg_articles" in models and name != "stg_articles":
            deps[name].add("stg_articles")
    models = {name: replace(m, deps=frozenset(deps[name])) for name, m in models.items()}
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


def rule_variables(config: Config) -> dict[str, object]:
    """Thresholds and severities from config, as the SQL reads them (getvariable('...'))."""
    r = config.rules
    return {
        "stance_threshold": float(config.stance.label_threshold),
        "new_actor_min_sources": int(r.new_actor.min_sources),
        "new_actor_min_evidence": int(r.new_actor.min_evidence),
        "new_actor_severity": r.new_actor.severity,
        "new_actor_critical_sources": int(r.new_actor.critical_min_sources),
        "stance_min_evidence": int(r.stance_change.min_evidence),
        "stance_min_sources": int(r.stance_change.min_sources),
        "stance_severity": r.stance_change.severity,
        "stance_critical_sources": int(r.stance_change.critical_min_sources),
        "spike_k": float(r.volume_spike.k),
        "spike_critical_k": float(r.volume_spike.critical_k),
        "spike_baseline_days": int(r.volume_spike.baseline_days),
        "spike_min_stories": int(r.volume_spike.min_stories),
        "spike_cooldown_hours": float(r.volume_spike.cooldown_hours),
        "spike_severity": r.volume_spike.severity,
        "silent_hours": float(r.source_silent.silent_hours),
        "silent_active_days": int(r.source_silent.active_days),
        "silent_lookback_days": int(r.source_silent.lookback_days),
        "silent_severity": r.source_silent.severity,
    }


def _literal(value: object) -> str:
    if isinstance(value, str):
        return sql_string(value)
    return repr(value)


def set_variables(conn: duckdb.DuckDBPyConnection, values: dict[str, object]) -> None:
    for name, value in values.items():
        if isinstance(value, datetime):
            conn.execute(f"set variable {name} = timestamp '{value:%Y-%m-%d %H:%M:%S}'")
        else:
            conn.execute(f"set variable {name} = {_literal(value)}")


def set_rule_variables(conn: duckdb.DuckDBPyConnection, config: Config, now: datetime | None = None,
                       as_of: datetime | None = None) -> None:
    """Rule variables, plus `now` (the cycle's clock) and `as_of` (history cut-off, for backtests)."""
    set_variables(conn, rule_variables(config))
    set_variables(conn, {"cycle_now": now or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)})
    if as_of is None:
        conn.execute(f"set variable as_of = timestamp '{FAR_FUTURE}'")
    else:
        set_variables(conn, {"as_of": as_of})


def _rule_variables_read(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[str]]:
    """The rule variables a SQL text reads, and their current values (run variables left out)."""
    names = sorted(set(_VARIABLE.findall(sql)) - _RUN_VARIABLES)
    return names, [str(conn.execute(f"select getvariable('{n}')").fetchone()[0]) for n in names]


def _fingerprint(conn: duckdb.DuckDBPyConnection, model: Model, by_name: dict[str, Model], registry: str) -> str:
    """What a model's rows depend on besides data: its SQL and its upstream's, the variables they
    read, and the registry. A change of any of them means a full rebuild."""
    seen: set[str] = set()
    stack, texts = [model.name], []
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        texts.append(by_name[name].sql)
        stack.extend(by_name[name].deps)
    names, values = _rule_variables_read(conn, " ".join(texts))
    return hashlib.sha256("\x1f".join([*sorted(texts), *names, *values, registry]).encode()).hexdigest()[:16]


def _exists(conn: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = conn.execute(
        "select 'table' from duckdb_tables() where table_name = $n and schema_name = 'main' "
        "and database_name = current_database() "
        "union all select 'view' from duckdb_views() where view_name = $n and schema_name = 'main' "
        "and database_name = current_database()",
        {"n": name}).fetchone()
    return row[0] if row else None


def _build_incremental(conn: duckdb.DuckDBPyConnection, model: Model, by_name: dict[str, Model], top: int,
                       full: bool, registry: str) -> str:
    """Rebuild the rows of changed keys (or all rows); returns 'full', 'incremental' or 'unchanged'."""
    fingerprint = _fingerprint(conn, model, by_name, registry)
    state = conn.execute("select watermark, fingerprint from model_state where model = ?", [model.name]).fetchone()
    existing = _exists(conn, model.name)
    rebuild = full or existing != "table" or state is None or state[1] != fingerprint
    if not rebuild and state[0] >= top:
        return "unchanged"
    # is_new(load_seq) (see build_models) is true for every row in a full build, else for rows newer
    # than the watermark
    conn.execute("set variable since_seq = " + ("null" if rebuild else str(int(state[0]))))
    conn.execute("create or replace temp view new_articles as select * from stg_articles where is_new(load_seq)")
    if rebuild and existing == "view":
        conn.execute(f"drop view {model.name}")
    if model.materialized == "merge":
        _merge(conn, model, rebuild)
    elif rebuild:
        conn.execute(f"create or replace temp table changed_keys as {model.changed_sql}")
        conn.execute(f"create or replace table {model.name} as {model.sql}")
    else:
        conn.execute(f"create or replace temp table changed_keys as {model.changed_sql}")
        match = model.delete_where or " and ".join(f"t.{k} = k.{k}" for k in model.unique_key)
        conn.execute(f"delete from {model.name} t using changed_keys k where {match}")
        conn.execute(f"insert into {model.name} by name {model.sql}")
    _set_state(conn, model.name, top, fingerprint)
    return "full" if rebuild else "incremental"


def _set_state(conn: duckdb.DuckDBPyConnection, model: str, watermark: int, fingerprint: str) -> None:
    upsert(conn, "model_state", {"model": model, "watermark": watermark, "fingerprint": fingerprint,
                                 "built_at": datetime.now(timezone.utc).replace(tzinfo=None)})


def _merge(conn: duckdb.DuckDBPyConnection, model: Model, rebuild: bool) -> None:
    """Fold the aggregate of new rows (`since_seq` is set) into the stored rows of the same keys.

    Stored rows carry `_key`, a 64-bit hash of the unique key: matching on one integer column is
    several times cheaper than on the key's strings over millions of rows. `_check`, a second hash
    of the key, catches a clash of `_key` (which sends the fold down the exact, slower path).
    """
    key = f"hash({', '.join(model.unique_key)}) as _key, hash('check', {', '.join(model.unique_key)}) as _check"
    if rebuild:
        order = f" order by {model.cluster_by}" if model.cluster_by else ""
        conn.execute(f"create or replace table {model.name} as select *, {key} from ({model.sql}){order}")
        return
    conn.execute(f"create or replace temp table _delta as select *, {key} from ({model.sql})")
    columns = [d[0] for d in conn.execute("select * from _delta limit 0").description
               if d[0] not in ("_key", "_check")]
    exprs = dict(model.merge)
    value = {c: exprs.get(c, f"d.{c}") for c in columns}
    select = ", ".join(f"{value[c]} as {c}" for c in columns)

    in_range = ""           # implied by a key match; lets the scans skip row groups out of range
    if model.cluster_by:
        c = model.cluster_by
        in_range = f"m.{c} >= (select min({c}) from _delta) and m.{c} <= (select max({c}) from _delta)"
    elif "touched_gen" in columns:
        in_range = _touched_in(conn, model.name)
    stored = f"(select * from {model.name} m where {in_range})" if in_range else model.name

    def fold(match: str) -> None:     # the stored row's _check comes along: one pass over the table
        conn.execute(f"create or replace temp table _merged as select {select}, d._key, d._check, "
                     f"m._check as _stored_check from _delta d left join {stored} m on {match}")

    match = "m._key = d._key"
    fold(match)
    clash = conn.execute("select count(*) from _merged where _stored_check <> _check").fetchone()[0]
    if clash:
        log.warning("model %s: %d hash clash(es) on _key; folding on the full key", model.name, clash)
        match = " and ".join(f"m.{k} = d.{k}" for k in model.unique_key)
        fold(match)
    conn.execute(f"delete from {model.name} m using _delta d where {match}" + (f" and {in_range}" if in_range else ""))
    conn.execute(f"insert into {model.name} by name select * exclude (_stored_check) from _merged"
                 + (f" order by {model.cluster_by}" if model.cluster_by else ""))


MAX_GEN_RANGES = 16


def _touched_in(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    """A filter on `touched_gen` that every stored row with a key in `_delta` passes, so the fold
    reads only the row groups that can hold them.

    A fold deletes the rows it changes and appends them, with the build's generation, at the
    table's end: the table is in generation order except for its first build, and the keys a cycle
    touches again are mostly ones touched lately. One pass over the narrow `_key` and `touched_gen`
    columns finds the generations of this fold's stored keys; the fold then reads the other columns
    only where those generations sit (zone maps skip the rest). At 1M articles (4M rows) a fold of
    1,000 keys, hot ones, read 10 + 5 ms instead of 100; when an old key comes back, its
    generation's row groups are read as before."""
    gens = conn.execute(f"select list(distinct m.touched_gen order by m.touched_gen) from {table} m "
                        "semi join _delta d on m._key = d._key").fetchone()[0] or []
    if not gens:
        return "false"                 # no stored row to fold into
    if None in gens:
        return ""                      # not written by a fold: read everything
    ranges = [[g, g] for g in gens]
    while len(ranges) > MAX_GEN_RANGES:          # close the smallest gap
        i = min(range(len(ranges) - 1), key=lambda k: ranges[k + 1][0] - ranges[k][1])
        ranges[i:i + 2] = [[ranges[i][0], ranges[i + 1][1]]]
    return "(" + " or ".join(f"m.touched_gen between {a} and {b}" for a, b in ranges) + ")"


def build_models(conn: duckdb.DuckDBPyConnection, models: list[Model] | None = None, full: bool = False,
                 timings: dict[str, float] | None = None) -> list[str]:
    """Build models in order; incremental ones take in only what was loaded since they last ran.
    `timings`, when given, receives the seconds each model took."""
    models = models if models is not None else load_models()
    by_name = {m.name: m for m in models}
    top = conn.execute("select coalesce(max(load_seq), 0) from articles").fetchone()[0]
    generation = _generation(conn) + 1          # rows a build rewrites carry it (built_generation)
    conn.execute(f"set variable build_generation = {generation}")
    registry = conn.execute("select coalesce(string_agg(actor_id, ',' order by actor_id), '') from actors").fetchone()[0]
    # the variable folds to a constant, so the filter skips old row groups by their min/max
    conn.execute("create or replace temp macro is_new(seq) as "
                 "getvariable('since_seq') is null or seq > getvariable('since_seq')")
    changed = False
    built = []
    for model in models:
        started = time.perf_counter()
        if model.materialized in ("incremental", "merge"):
            how = _build_incremental(conn, model, by_name, top, full, registry)
            changed |= how != "unchanged"
            log.debug("model %s: %s", model.name, how)
        else:
            kind = "table" if model.materialized == "table" else "view"
            existing = _exists(conn, model.name)
            if existing and existing != kind:
                conn.execute(f"drop {existing} {model.name}")
            conn.execute(f"create or replace {kind} {model.name} as {model.sql}")
        built.append(model.name)
        if timings is not None:
            timings[model.name] = time.perf_counter() - started
    if changed:
        _set_state(conn, _GENERATION, generation, "")
    return built


def _generation(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute("select watermark from model_state where model = ?", [_GENERATION]).fetchone()
    return int(row[0]) if row else 0


def alert_queries(folder: Path = SQL_DIR / "alerts") -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8").strip().rstrip(";") for p in sorted(folder.glob("alert_*.sql"))}


def raise_alerts(conn: duckdb.DuckDBPyConnection, cycle_id: str, now: datetime,
                 timings: dict[str, float] | None = None) -> list[str]:
    """Insert new alert candidates; an alert_id already present is never raised again.

    An alert query runs only when a model build changed something since it last ran (or its rules
    changed, or it is marked `-- every cycle`), and it may restrict itself to mart rows rewritten
    since then: `getvariable('alert_since')` is that build generation, or null for "look at all".
    Raised ids are dropped with an anti join: `not in (select alert_id from alerts)` hashed every
    stored alert id for each query, 2-5 ms a query with 110,000 alerts (1M articles).
    """
    new_ids: list[str] = []
    generation = _generation(conn)
    snapshot = snapshot_id(conn)        # what the rules read: `alerts show --as-of` reopens it
    for name, sql in alert_queries().items():
        started = time.perf_counter()
        names, values = _rule_variables_read(conn, sql)
        fingerprint = hashlib.sha256("\x1f".join([sql, *names, *values]).encode()).hexdigest()[:16]
        state = conn.execute("select watermark, fingerprint from model_state where model = ?",
                             ["alert:" + name]).fetchone()
        same_rules = state is not None and state[1] == fingerprint
        if same_rules and state[0] >= generation and not _EVERY_CYCLE.search(sql):
            continue
        conn.execute("set variable alert_since = " + (str(int(state[0])) if same_rules else "null"))
        conn.execute(
            f"""
            create or replace temp table _raised as
            select c.*, $cycle_id as cycle_id, $now as detected_at, $snapshot::bigint as snapshot_id
            from ({sql}) c
            anti join alerts a on a.alert_id = c.alert_id
            where c.alert_id is not null
            """,
            {"cycle_id": cycle_id, "now": now, "snapshot": snapshot},
        )
        insert_new(conn, "alerts", "select * from _raised")
        rows = conn.execute("select distinct alert_id from _raised order by alert_id").fetchall()
        _set_state(conn, "alert:" + name, generation, fingerprint)
        new_ids.extend(r[0] for r in rows)
        log.info("%s: %d new alert(s)", name, len(rows))
        if timings is not None:
            timings[name] = time.perf_counter() - started
    return new_ids


def run_models(conn: duckdb.DuckDBPyConnection, config: Config, now: datetime | None = None) -> list[str]:
    """Build every model in one transaction (readers never see half of them)."""
    set_rule_variables(conn, config, now)

    def attempt() -> list[str]:
        with transaction(conn):
            serialize(conn, "models")         # two builders at once: the later one retries
            label_commit(conn, "models")
            return build_models(conn)

    return retrying(attempt, "build models")


def run_alerts(conn: duckdb.DuckDBPyConnection, config: Config, cycle_id: str, now: datetime) -> list[str]:
    """Raise alerts from the built models in one transaction; returns the new alert ids."""
    set_rule_variables(conn, config, now)

    def attempt() -> list[str]:
        with transaction(conn):
            serialize(conn, "models")
            label_commit(conn, f"alerts {cycle_id}")
            return raise_alerts(conn, cycle_id, now)

    return retrying(attempt, "raise alerts")
