"""Deliver pending alerts through apprise (outbox: a delivery is recorded only after the channel accepted)."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import duckdb

from pipeline.config import Channel

log = logging.getLogger(__name__)

_ZWSP = "\u200b"
_PINGS = re.compile(r"(?i)([@!])(?=(channel|everyone|here|room|all)\b)")
_SLACK_TOKENS = re.compile(r"<([!@#])")
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_AT_USER = re.compile(r"(?<![\w.])@(?=\w)")


def mask_url(url: str) -> str:
    """scheme://host/… : enough to tell channels apart, never the token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unparseable url>"
    return f"{parts.scheme}://{host}{'/…' if (parts.path or parts.query or parts.username) else ''}"


def neutralise(text: str) -> str:
    """Shown literally in Slack/Teams/Discord/Matrix/Mattermost: no pings, no links we did not make."""
    text = _SLACK_TOKENS.sub(lambda m: "<" + _ZWSP + m.group(1), text)
    text = _PINGS.sub(lambda m: m.group(1) + _ZWSP, text)
    text = _AT_USER.sub("@" + _ZWSP, text)
    return _MD_LINK.sub(lambda m: f"[{m.group(1)}]{_ZWSP}({m.group(2)})", text)


def render(alert: dict[str, Any]) -> tuple[str, str]:
    """Title and plain-text body of one alert."""
    kind = {"new_actor": "New actor", "stance_change": "Stance change"}.get(alert["alert_type"], alert["alert_type"])
    title = f"[newsmon] {kind}: {alert.get('actor_name') or alert.get('actor_id')}"
    lines = [alert["summary"], ""]
    evidence = alert.get("evidence")
    items = json.loads(evidence) if isinstance(evidence, str) else (evidence or [])
    for item in items[:3]:
        side = f"[{item['side']}: {item.get('stance')}] " if item.get("side") else ""
        when = str(item.get("published_at") or "")[:10]
        lines.append(f"- {side}\"{item.get('sentence', '')}\"")
        lines.append(f"  {item.get('title') or ''} ({item.get('source_domain')}, {when}) {item.get('url')}")
    lines.append("")
    lines.append(f"alert_id {alert['alert_id']}: select * from alerts where alert_id = '{alert['alert_id']}'")
    return neutralise(title), neutralise("\n".join(lines))


def apprise_send(url: str, title: str, body: str) -> tuple[bool, str | None]:
    import apprise

    app = apprise.Apprise()
    if not app.add(url):
        return False, f"apprise does not understand the URL {mask_url(url)}"
    ok = app.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    return bool(ok), None if ok else "channel did not accept the message"


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int
    pending: int


def _routed(channel: Channel, alert_type: str) -> bool:
    return channel.alert_types is None or alert_type in channel.alert_types


def pending_alerts(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = conn.execute("select * from alerts where sent_at is null order by detected_at, occurred_at, alert_id")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def deliver(conn: duckdb.DuckDBPyConnection, channels: Sequence[Channel], now: datetime,
            send: Callable[[str, str, str], tuple[bool, str | None]] = apprise_send) -> DeliveryReport:
    """Send every pending alert to every channel it is routed to and not yet sent to."""
    if not channels:
        return DeliveryReport(0, 0, len(pending_alerts(conn)))
    sent = failed = 0
    for alert in pending_alerts(conn):
        done = {c for (c,) in conn.execute(
            "select channel from alert_deliveries where alert_id = ? and status = 'sent'", [alert["alert_id"]]).fetchall()}
        title, body = render(alert)
        all_ok = True
        for channel in channels:
            if not _routed(channel, alert["alert_type"]) or channel.name in done:
                continue
            try:
                ok, error = send(channel.url, title, body)
            except Exception as exc:  # a plugin bug must not lose the alert
                ok, error = False, f"{type(exc).__name__}"
            _record(conn, alert["alert_id"], channel.name, ok, error, now)
            if ok:
                sent += 1
            else:
                failed += 1
                all_ok = False
                log.warning("alert %s not delivered to %s (%s): %s", alert["alert_id"], channel.name,
                            mask_url(channel.url), error)
        if all_ok:
            conn.execute("update alerts set sent_at = ? where alert_id = ?", [now, alert["alert_id"]])
    pending = conn.execute("select count(*) from alerts where sent_at is null").fetchone()[0]
    return DeliveryReport(sent, failed, pending)


def _record(conn: duckdb.DuckDBPyConnection, alert_id: str, channel: str, ok: bool, error: str | None,
            now: datetime) -> None:
    conn.execute(
        """
        insert into alert_deliveries as d (alert_id, channel, status, attempts, last_error, sent_at)
        values ($a, $c, $s, 1, $e, $t)
        on conflict (alert_id, channel) do update set
            status = excluded.status, attempts = d.attempts + 1,
            last_error = excluded.last_error, sent_at = excluded.sent_at
        """,
        {"a": alert_id, "c": channel, "s": "sent" if ok else "failed", "e": error, "t": now if ok else None},
    )


def report_failure(ops_url: str | None, task: str, run_id: str, error: str,
                   send: Callable[[str, str, str], tuple[bool, str | None]] = apprise_send) -> bool:
    """Tell the ops channel a pipeline step failed; never raises (it runs inside failure handling)."""
    if not ops_url:
        log.warning("task %s failed in %s (no ops channel configured): %s", task, run_id, error)
        return False
    title = neutralise(f"[newsmon] task {task} failed")
    body = neutralise(f"run {run_id}\n{error[:1500]}")
    try:
        ok, why = send(ops_url, title, body)
    except Exception as exc:  # the report of a failure must not fail
        ok, why = False, type(exc).__name__
    if not ok:
        log.warning("could not report the failure of %s to %s: %s", task, mask_url(ops_url), why)
    return ok
