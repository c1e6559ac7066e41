"""Analysts' side of alerts: list, show with evidence, acknowledge, test a channel, and backtest rules."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import duckdb

from pipeline import store
from pipeline.config import Channel, Config
from pipeline.cycle import CycleBusy, cycle_lock
from pipeline.notify import SendResult, as_result, apprise_send, mask_url, neutralise
from pipeline.settings import Settings
from pipeline.sqlrun import build_models, raise_alerts, set_rule_variables


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def list_alerts(conn: duckdb.DuckDBPyConnection, since: datetime | None = None, alert_type: str | None = None,
                severity: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first, with delivery and acknowledgement state."""
    return _rows(conn.execute(
        """
        select a.*, k.acked_at, k.acked_by
        from alerts a left join alert_acks k using (alert_id)
        where ($since is null or a.detected_at >= $since)
          and ($type is null or a.alert_type = $type)
          and ($severity is null or a.severity = $severity)
        order by a.detected_at desc, a.occurred_at desc, a.alert_id
        limit $limit
        """, {"since": since, "type": alert_type, "severity": severity, "limit": limit}))


def get_alert(conn: duckdb.DuckDBPyConnection, alert_id: str) -> dict[str, Any] | None:
    rows = _rows(conn.execute("select a.*, k.acked_at, k.acked_by, k.note from alerts a "
                              "left join alert_acks k using (alert_id) where a.alert_id = ?", [alert_id]))
    return rows[0] if rows else None


def deliveries(conn: duckdb.DuckDBPyConnection, alert_id: str) -> list[dict[str, Any]]:
    return _rows(conn.execute("select channel, status, attempts, last_error, sent_at, next_attempt_at "
                              "from alert_deliveries where alert_id = ? order by channel", [alert_id]))


def evidence_rows(conn: duckdb.DuckDBPyConnection, alert: dict[str, Any], limit: int = 50) -> tuple[list[str], list[tuple]]:
    """Run the alert's evidence query (it reads the marts, so it shows the evidence as it stands now)."""
    query = alert.get("evidence_query")
    if not query:
        return [], []
    cur = conn.execute(f"select * from ({query}) limit {int(limit)}")
    return [d[0] for d in cur.description], cur.fetchall()


def ack_alert(settings: Settings, alert_id: str, by: str | None, note: str | None, now: datetime,
              wait_seconds: float = 60.0) -> bool:
    """Record an acknowledgement in the live database, waiting for a running cycle to finish first.
    Returns False when the alert does not exist."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with cycle_lock(settings.db_path):
                conn = store.open_store(settings)
                try:
                    if not conn.execute("select 1 from alerts where alert_id = ?", [alert_id]).fetchone():
                        return False
                    store.upsert(conn, "alert_acks", {"alert_id": alert_id, "acked_at": now, "acked_by": by, "note": note})
                finally:
                    conn.close()
                return True
        except CycleBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def test_channel(channel: Channel, host: str, send: Any = apprise_send) -> SendResult:
    title = neutralise("[newsmon] test message")
    body = neutralise(f"A test from newsmon on {host} to channel {channel.name}. If you can read this, "
                      "alerts will reach you here.")
    try:
        return as_result(send(channel.url, title, body))
    except Exception as exc:  # report, never crash the CLI
        return SendResult(False, f"{type(exc).__name__} sending to {mask_url(channel.url)}")


@dataclass(frozen=True)
class Fired:
    day: date
    alert: dict[str, Any]


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def backtest(settings: Settings, config: Config, start: date, end: date, live: bool = False) -> list[Fired]:
    """Replay stored history day by day through the models and alert rules of `config` and return
    what would have fired on which day. Works on a scratch copy (of the read copy, or of the live
    file when `live`, or of the lake): nothing is stored or sent."""
    from pipeline.migrate import scratch_copy
    from pipeline.publish import read_copy_path

    with tempfile.TemporaryDirectory(prefix="newsmon-backtest-") as tmp:
        scratch = Path(tmp) / "backtest.duckdb"
        if settings.storage == "duckdb":
            shutil.copyfile(settings.db_path if live else read_copy_path(settings.db_path), scratch)
        else:
            scratch_copy(settings, scratch)
        conn = store.connect(scratch)
        try:
            conn.execute("delete from alert_deliveries")
            conn.execute("delete from alerts")
            conn.execute("delete from model_state where model like 'alert:%'")
            fired: list[Fired] = []
            for day in _days(start, end):
                cutoff = datetime.combine(day, datetime.max.time()).replace(microsecond=0)
                set_rule_variables(conn, config, now=cutoff, as_of=cutoff)
                build_models(conn, full=True)
                new_ids = raise_alerts(conn, f"backtest-{day:%Y%m%d}", cutoff)
                if new_ids:
                    rows = _rows(conn.execute("select * from alerts where list_contains(?, alert_id) "
                                              "order by occurred_at, alert_id", [new_ids]))
                    fired.extend(Fired(day, row) for row in rows)
            return fired
        finally:
            conn.close()


def describe(alert: dict[str, Any]) -> dict[str, Any]:
    """The alert's JSON fields decoded, for printing."""
    out = dict(alert)
    for key in ("evidence", "details"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out
