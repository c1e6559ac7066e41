"""Deliver pending alerts through apprise (outbox: a delivery is recorded only after the channel accepted)."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import duckdb

from pipeline.config import Channel
from pipeline.schedule import RETRY_AFTER_CAP, parse_retry_after
from pipeline.store import upsert

log = logging.getLogger(__name__)

_ZWSP = "\u200b"
_PINGS = re.compile(r"(?i)([@!])(?=(channel|everyone|here|room|all)\b)")
_ANGLE = re.compile(r"<(?=[!@#]|(?:https?|mailto|ftp):)", re.IGNORECASE)   # Slack <!here>, <@U1>, <http://x|y>
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_AT_USER = re.compile(r"(?<![\w.])@(?=\w)")
_MD_MARK = re.compile(r"(?<![\s\u200b])(?=[*_~`])|(?<=\s)(?=[*_~`])|^(?=[*_~`])", re.MULTILINE)
_URL = re.compile(r"https?://[^\s<>\]()|]+")


def mask_url(url: str) -> str:
    """scheme://host/… : enough to tell channels apart, never the token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unparseable url>"
    return f"{parts.scheme}://{host}{'/…' if (parts.path or parts.query or parts.username) else ''}"


def neutralise(text: str) -> str:
    """Shown literally in Slack/Teams/Discord/Matrix/Mattermost: no pings, no links or formatting we
    did not make. A zero-width space goes between each trigger and what would make it active, so
    nothing is removed; bare URLs stay clickable."""
    text = _ANGLE.sub("<" + _ZWSP, text)
    text = _PINGS.sub(lambda m: m.group(1) + _ZWSP, text)
    text = _AT_USER.sub("@" + _ZWSP, text)
    text = _MD_LINK.sub(lambda m: f"[{m.group(1)}]{_ZWSP}({m.group(2)})", text)
    out, pos = [], 0
    for url in _URL.finditer(text):       # emphasis markers outside URLs: *bold* _it_ ~x~ `code`
        out.append(_MD_MARK.sub(_ZWSP, text[pos:url.start()]))
        out.append(url.group(0))
        pos = url.end()
    out.append(_MD_MARK.sub(_ZWSP, text[pos:]))
    return "".join(out)


_KINDS = {"new_actor": "New actor", "stance_change": "Stance change", "volume_spike": "Volume spike",
          "source_silent": "Source silent"}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
DONE = ("sent", "suppressed", "digested")       # a channel is finished with an alert in these states
_BACKOFF_BASE, _BACKOFF_CAP = 60.0, 3600.0       # seconds: failed sends wait 1, 2, 4 ... 60 min


def _evidence(alert: dict[str, Any]) -> list[dict[str, Any]]:
    evidence = alert.get("evidence")
    return json.loads(evidence) if isinstance(evidence, str) else (evidence or [])


def render(alert: dict[str, Any]) -> tuple[str, str]:
    """Title and plain-text body of one alert."""
    kind = _KINDS.get(alert["alert_type"], alert["alert_type"])
    subject = alert.get("actor_name") or alert.get("actor_id") or alert.get("feed") or alert.get("topic")
    severity = alert.get("severity") or "info"
    title = f"[newsmon] {kind}: {subject}" + (f" ({severity})" if severity != "warning" else "")
    lines = [alert["summary"], ""]
    for item in _evidence(alert)[:3]:
        side = f"[{item['side']}: {item.get('stance')}] " if item.get("side") else ""
        when = str(item.get("published_at") or "")[:10]
        lines.append(f"- {side}\"{item.get('sentence', '')}\"")
        lines.append(f"  {item.get('title') or ''} ({item.get('source_domain')}, {when}) {item.get('url')}")
    # the query is ours (ids are slugs, topics and feeds come from config): it goes out as written
    query = alert.get("evidence_query") or f"select * from alerts where alert_id = '{alert['alert_id']}'"
    return neutralise(title), neutralise("\n".join(lines)) + f"\n\nalert {alert['alert_id']}, full evidence: {query}"


def render_digest(alerts: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """One message for a burst: a line per alert, most severe first."""
    ordered = sorted(alerts, key=lambda a: (-SEVERITY_RANK.get(a.get("severity") or "info", 0), a["alert_id"]))
    lines = [f"{len(alerts)} alerts at once; one line each (newsmon alerts show ID for the evidence):", ""]
    lines += [f"- [{a.get('severity') or 'info'}] {a['summary']} (alert {a['alert_id']})" for a in ordered]
    return neutralise(f"[newsmon] {len(alerts)} alerts (digest)"), neutralise("\n".join(lines))


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None
    retry_after: float | None = None        # seconds the channel asked us to wait (HTTP 429)


Sender = Callable[[str, str, str], "SendResult | tuple[bool, str | None]"]


# apprise sends from its own worker threads but copies the caller's context into them, so a context
# variable (holding a list the threads append to) follows the send.
_HTTP_LOG: contextvars.ContextVar[list[tuple[int, str | None]] | None] = contextvars.ContextVar(
    "newsmon_http_log", default=None)
_PATCH_LOCK = threading.Lock()
_PATCHED = False


def _watch_http_responses() -> None:
    """Let apprise's HTTP responses be seen: apprise reports a 429 as a plain failure and drops its
    Retry-After, so the requests adapter records status and Retry-After for the send that asks."""
    global _PATCHED
    with _PATCH_LOCK:
        if _PATCHED:
            return
        from requests.adapters import HTTPAdapter

        original = HTTPAdapter.send

        def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
            response = original(self, request, *args, **kwargs)
            seen = _HTTP_LOG.get()
            if seen is not None:
                seen.append((response.status_code, response.headers.get("Retry-After")))
            return response

        HTTPAdapter.send = send
        _PATCHED = True


def apprise_send(url: str, title: str, body: str) -> SendResult:
    import apprise

    _watch_http_responses()
    app = apprise.Apprise()
    if not app.add(url):
        return SendResult(False, f"apprise does not understand the URL {mask_url(url)}")
    responses: list[tuple[int, str | None]] = []
    token = _HTTP_LOG.set(responses)
    try:
        ok = app.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
    finally:
        _HTTP_LOG.reset(token)
    if ok:
        return SendResult(True)
    limited = [ra for status, ra in responses if status == 429]
    if limited:
        wait = parse_retry_after(limited[-1], datetime.now(timezone.utc))   # seconds, capped at a day
        return SendResult(False, "HTTP 429 rate limited", wait if wait is not None else _BACKOFF_BASE)
    statuses = sorted({status for status, _ in responses if status >= 300})
    return SendResult(False, f"channel answered HTTP {statuses[-1]}" if statuses
                      else "channel did not accept the message")


def as_result(value: "SendResult | tuple[bool, str | None]") -> SendResult:
    return value if isinstance(value, SendResult) else SendResult(bool(value[0]), value[1])


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int
    pending: int
    suppressed: int = 0
    digests: int = 0


def routed(channel: Channel, alert: dict[str, Any]) -> bool:
    """Does this channel take this alert (type, topic, actor, minimum severity)?"""
    if channel.alert_types is not None and alert["alert_type"] not in channel.alert_types:
        return False
    if channel.topics is not None and alert.get("topic") not in channel.topics:
        return False
    if channel.actors is not None and alert.get("actor_id") not in channel.actors:
        return False
    return SEVERITY_RANK.get(alert.get("severity") or "info", 0) >= SEVERITY_RANK.get(channel.min_severity, 0)


def pending_alerts(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = conn.execute("select * from alerts where sent_at is null order by detected_at, occurred_at, alert_id")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def _cooldown_key(alert: dict[str, Any]) -> tuple[str, str, str, str]:
    return (alert["alert_type"], alert.get("actor_id") or "", alert.get("topic") or "", alert.get("feed") or "")


class _Throttle:
    """At most one message per `min_gap_seconds` to one webhook within a delivery run (start to start)."""

    def __init__(self, sleep: Callable[[float], None], clock: Callable[[], float]):
        self.sleep, self.clock = sleep, clock
        self.last: dict[str, float] = {}

    def wait(self, channel: Channel) -> None:
        last = self.last.get(channel.url)
        if last is not None:
            pause = channel.min_gap_seconds - (self.clock() - last)
            if pause > 0:
                self.sleep(pause)

    def sent(self, channel: Channel) -> None:
        self.last[channel.url] = self.clock()


def deliver(conn: duckdb.DuckDBPyConnection, channels: Sequence[Channel], now: datetime,
            send: Sender = apprise_send, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> DeliveryReport:
    """Send pending alerts to the channels routed to them.

    Per channel: alerts it already has (sent, suppressed by a cooldown, or in a digest) are skipped,
    failed ones wait out their backoff, a repeat of the same (type, actor, topic) within the cooldown
    is suppressed, more than `burst_limit` at once go out as one digest, messages to one webhook are
    at least `min_gap_seconds` apart, and a 429 blocks the channel for its Retry-After.
    """
    if not channels:      # nothing to send: count, do not load, what waits for a channel
        return DeliveryReport(0, 0, conn.execute("select count(*) from alerts where sent_at is null").fetchone()[0])
    alerts = pending_alerts(conn)
    counts = {"sent": 0, "failed": 0, "suppressed": 0, "digests": 0}
    throttle = _Throttle(sleep, clock)
    for channel in channels:
        _deliver_channel(conn, channel, [a for a in alerts if routed(channel, a)], now, send, throttle, counts)
    for alert in alerts:
        wanted = [c.name for c in channels if routed(c, alert)]
        done = {c for (c,) in conn.execute(
            "select channel from alert_deliveries where alert_id = ? and list_contains(?, status)",
            [alert["alert_id"], list(DONE)]).fetchall()}
        if set(wanted) <= done:
            conn.execute("update alerts set sent_at = ? where alert_id = ?", [now, alert["alert_id"]])
    pending = conn.execute("select count(*) from alerts where sent_at is null").fetchone()[0]
    return DeliveryReport(counts["sent"], counts["failed"], pending, counts["suppressed"], counts["digests"])


def _deliver_channel(conn: duckdb.DuckDBPyConnection, channel: Channel, alerts: list[dict[str, Any]],
                     now: datetime, send: Sender, throttle: _Throttle, counts: dict[str, int]) -> None:
    blocked = conn.execute("select blocked_until from channel_state where channel = ?", [channel.name]).fetchone()
    if blocked and blocked[0] and blocked[0] > now:
        log.info("channel %s is rate-limited until %s", channel.name, blocked[0])
        return
    state = {r[0]: (r[1], r[2]) for r in conn.execute(
        "select alert_id, status, next_attempt_at from alert_deliveries where channel = ?", [channel.name]).fetchall()}
    todo = [a for a in alerts if a["alert_id"] not in state or
            (state[a["alert_id"]][0] not in DONE and (state[a["alert_id"]][1] is None or state[a["alert_id"]][1] <= now))]
    if not todo:
        return
    # cooldown: the same (type, actor, topic) reached this channel recently, or comes twice now
    recent = {}
    if channel.cooldown_minutes > 0:
        for row in conn.execute(
                """select a.alert_type, coalesce(a.actor_id, ''), coalesce(a.topic, ''), coalesce(a.feed, ''),
                          max(d.sent_at)
                   from alert_deliveries d join alerts a using (alert_id)
                   where d.channel = ? and d.status in ('sent', 'digested') and d.sent_at is not null
                   group by all""", [channel.name]).fetchall():
            recent[tuple(row[:4])] = row[4]
    window = timedelta(minutes=channel.cooldown_minutes)
    to_send = []
    for alert in todo:
        key = _cooldown_key(alert)
        last = recent.get(key)
        if channel.cooldown_minutes > 0 and last is not None and now - last < window:
            _record(conn, alert["alert_id"], channel.name, "suppressed", f"cooldown: same alert sent {last}", now)
            counts["suppressed"] += 1
            continue
        recent[key] = now
        to_send.append(alert)
    if not to_send:
        return
    if len(to_send) > channel.burst_limit:
        title, body = render_digest(to_send)
        result = _send_one(conn, channel, title, body, now, send, throttle)
        for alert in to_send:
            _record(conn, alert["alert_id"], channel.name, "digested" if result.ok else "failed", result.error, now,
                    _next_attempt(conn, alert["alert_id"], channel.name, now, result))
        counts["digests" if result.ok else "failed"] += 1
        return
    for alert in to_send:
        title, body = render(alert)
        result = _send_one(conn, channel, title, body, now, send, throttle)
        _record(conn, alert["alert_id"], channel.name, "sent" if result.ok else "failed", result.error, now,
                _next_attempt(conn, alert["alert_id"], channel.name, now, result))
        counts["sent" if result.ok else "failed"] += 1
        if not result.ok:
            log.warning("alert %s not delivered to %s (%s): %s", alert["alert_id"], channel.name,
                        mask_url(channel.url), result.error)
        if result.retry_after is not None:
            break        # the channel asked us to wait: the rest stay pending


def _send_one(conn: duckdb.DuckDBPyConnection, channel: Channel, title: str, body: str, now: datetime,
              send: Sender, throttle: _Throttle) -> SendResult:
    throttle.wait(channel)
    throttle.sent(channel)          # start to start: one message per gap
    try:
        result = as_result(send(channel.url, title, body))
    except Exception as exc:  # a plugin bug must not lose the alert
        result = SendResult(False, type(exc).__name__)
    blocked = _resume_at(now, result)
    if blocked is not None:
        log.warning("channel %s (%s) is rate-limited for %.0f s", channel.name, mask_url(channel.url),
                    result.retry_after)
    upsert(conn, "channel_state", {"channel": channel.name, "last_sent_at": now, "blocked_until": blocked,
                                   "last_error": result.error})
    return result


def _resume_at(now: datetime, result: SendResult) -> datetime | None:
    """When a channel that answered 429 may be sent to again (Retry-After, capped at a day)."""
    if result.retry_after is None:
        return None
    return now + timedelta(seconds=min(result.retry_after, RETRY_AFTER_CAP))


def _next_attempt(conn: duckdb.DuckDBPyConnection, alert_id: str, channel: str, now: datetime,
                  result: SendResult) -> datetime | None:
    if result.ok:
        return None
    if result.retry_after is not None:
        return _resume_at(now, result)
    row = conn.execute("select attempts from alert_deliveries where alert_id = ? and channel = ?",
                       [alert_id, channel]).fetchone()
    attempts = (row[0] if row else 0) + 1
    return now + timedelta(seconds=min(_BACKOFF_BASE * 2 ** (attempts - 1), _BACKOFF_CAP))


def _record(conn: duckdb.DuckDBPyConnection, alert_id: str, channel: str, status: str, error: str | None,
            now: datetime, next_attempt: datetime | None = None) -> None:
    tried = status in ("sent", "failed", "digested")
    upsert(conn, "alert_deliveries",
           {"alert_id": alert_id, "channel": channel, "status": status, "attempts": 1 if tried else 0,
            "last_error": error, "sent_at": now if status in ("sent", "digested") else None,
            "next_attempt_at": next_attempt},
           {"status": "s.status", "attempts": "t.attempts + s.attempts", "last_error": "s.last_error",
            "sent_at": "s.sent_at", "next_attempt_at": "s.next_attempt_at"})


def report_failure(ops_url: str | None, task: str, run_id: str, error: str, send: Sender = apprise_send) -> bool:
    """Tell the ops channel a pipeline step failed; never raises (it runs inside failure handling)."""
    if not ops_url:
        log.warning("task %s failed in %s (no ops channel configured): %s", task, run_id, error)
        return False
    title = neutralise(f"[newsmon] task {task} failed")
    body = neutralise(f"run {run_id}\n{error[:1500]}")
    try:
        result = as_result(send(ops_url, title, body))
        ok, why = result.ok, result.error
    except Exception as exc:  # the report of a failure must not fail
        ok, why = False, type(exc).__name__
    if not ok:
        log.warning("could not report the failure of %s to %s: %s", task, mask_url(ops_url), why)
    return ok
