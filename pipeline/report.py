"""The analyst report: one self-contained HTML page built from the published read copy.

Everything the page needs is inside it: the data as JSON, the charts drawn as SVG by a small script
(no library, no CDN), and a plain HTML table under every chart that works with scripts off. It opens
from disk, offline. Sections: stance timelines, topic volume, new actors, alerts, sources; a filter
by topic and date range redraws the charts and hides table rows outside it.
"""
from __future__ import annotations

import html
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from pipeline.settings import Settings

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("report_assets")
STANCE_PAIRS = 40      # (actor, topic) timelines shown: every pair with a change first, then most evidence
NEW_ACTORS = 60        # latest entrants into the story (candidates and registered actors together)
ALERTS = 50            # latest alerts
SAMPLES = 2            # sample sentences per new actor


MARTS = ("stance_ledger", "topic_volume_daily", "actor_first_seen", "int_actor_topic_context", "feed_health")


class ReportError(Exception):
    """The database cannot give a report (no models built yet)."""


@dataclass(frozen=True)
class Report:
    path: Path
    cycle_id: str | None
    counts: dict[str, int]


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def collect(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Everything the page shows, as plain rows (bounded: the page stays small whatever the history)."""
    present = {r[0] for r in conn.execute("select table_name from information_schema.tables").fetchall()}
    missing = [m for m in MARTS if m not in present]
    if missing:
        raise ReportError(f"no {', '.join(missing)} in this database yet: a cycle builds them (newsmon run)")
    cycle = _rows(conn, "select cycle_id, started_at, finished_at from cycles "
                        "where finished_at is not null order by finished_at desc limit 1")
    totals = _rows(conn, "select count(*) as articles, min(published_at) as first_at, max(published_at) as last_at "
                         "from articles")[0]
    stance = _rows(conn, f"""
        with pairs as (
            select actor_id, topic, count(*) as periods, sum(evidence_count) as evidence
            from stance_ledger group by all having sum(evidence_count) > 0
            order by periods > 1 desc, evidence desc, actor_id, topic
            limit {STANCE_PAIRS}
        )
        select l.actor_id, l.actor_name, l.topic, l.period, l.stance, l.started_at, l.ended_at, l.evidence_count,
               l.sources, l.stories, l.first_evidence_url, l.last_evidence_url, l.first_sentence, l.last_sentence,
               l.is_current
        from stance_ledger l join pairs p using (actor_id, topic)
        order by p.periods > 1 desc, p.evidence desc, l.actor_id, l.topic, l.period
    """)
    volume = _rows(conn, "select topic, day, stories, articles, sources from topic_volume_daily order by topic, day")
    spikes = _rows(conn, "select topic, cast(occurred_at as date) as day, severity, summary from alerts "
                         "where alert_type = 'volume_spike' order by occurred_at")
    actors = _rows(conn, f"""
        select actor_id, actor_name, is_known, first_topic_seen_at, first_topic, first_topic_url, first_topic_source,
               topic_sources, topic_stories, topic_sentences, topics, mentions
        from actor_first_seen where first_topic_seen_at is not null
        order by first_topic_seen_at desc, actor_id limit {NEW_ACTORS}
    """)
    samples = _rows(conn, f"""
        select actor_id, sentence, url, source_domain, event_at from (
            select *, row_number() over (partition by actor_id order by event_at, url, sentence_index) as n
            from int_actor_topic_context where list_contains(?, actor_id)
        ) where n <= {SAMPLES} order by actor_id, n
    """, [[a["actor_id"] for a in actors]])
    by_actor: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        by_actor.setdefault(s["actor_id"], []).append(s)
    for a in actors:
        a["samples"] = by_actor.get(a["actor_id"], [])
    alerts = _rows(conn, f"""
        select alert_id, alert_type, severity, actor_id, actor_name, topic, feed, occurred_at, detected_at, summary,
               evidence, sent_at, exists (select 1 from alert_acks k where k.alert_id = a.alert_id) as acked
        from alerts a order by detected_at desc, occurred_at desc, alert_id limit {ALERTS}
    """)
    for a in alerts:
        a["evidence"] = json.loads(a["evidence"]) if isinstance(a["evidence"], str) else (a["evidence"] or [])
    silent = {r["feed"] for r in _rows(conn, "select distinct feed from alerts where alert_type = 'source_silent' "
                                              "and feed is not null")}
    sources = _rows(conn, """
        select feed, url, status, last_success_at, last_error, consecutive_failures, items_per_day,
               cast(topic_articles_7d as bigint) as topic_articles_7d, last_topic_article_at, main_topic,
               articles_total
        from feed_health order by feed
    """)
    for s in sources:
        s["silent"] = s["feed"] in silent
    return _jsonable({
        "cycle": cycle[0] if cycle else None, "totals": totals, "stance": stance, "volume": volume,
        "spikes": spikes, "actors": actors, "alerts": alerts, "sources": sources,
        "topics": sorted({r["topic"] for r in volume} | {r["topic"] for r in stance if r["topic"]}),
    })


# --- rendering ---------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _link(url: str | None, text: Any) -> str:
    if not url or not str(url).startswith(("http://", "https://")):
        return _e(text)
    return f'<a href="{_e(url)}" rel="noreferrer">{_e(text)}</a>'


def _day(value: str | None) -> str:
    return (value or "")[:10]


def _table(head: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    return ("<div class='scroll'><table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _stance_table(rows: list[dict[str, Any]]) -> str:
    out = []
    for i, r in enumerate(rows):
        change = r["period"] > 1
        out.append(
            f'<tr id="ev-{i}" data-topic="{_e(r["topic"])}" data-from="{_day(r["started_at"])}" '
            f'data-to="{_day(r["ended_at"])}"><td>{_e(r["actor_name"] or r["actor_id"])}</td><td>{_e(r["topic"])}</td>'
            f'<td>{r["period"]}{" (change)" if change else ""}</td>'
            f'<td><span class="stance s-{_e(r["stance"])}">{_e(r["stance"])}</span></td>'
            f'<td>{_day(r["started_at"])}</td><td>{_day(r["ended_at"])}{" (current)" if r["is_current"] else ""}</td>'
            f'<td class="num">{r["evidence_count"]}</td><td class="num">{r["sources"]}</td>'
            f'<td>{_link(r["first_evidence_url"], r["first_sentence"])}'
            + (f'<br>{_link(r["last_evidence_url"], r["last_sentence"])}'
               if r["last_sentence"] and r["last_sentence"] != r["first_sentence"] else "") + "</td></tr>")
    return _table(["Actor", "Topic", "Period", "Stance", "From", "To", "Evidence", "Sources", "Evidence sentences"],
                  out, "No stance evidence yet.")


def _volume_table(rows: list[dict[str, Any]], spikes: list[dict[str, Any]]) -> str:
    spiked = {(s["topic"], s["day"]) for s in spikes}
    out = [f'<tr data-topic="{_e(r["topic"])}" data-from="{r["day"]}" data-to="{r["day"]}"><td>{_e(r["topic"])}</td>'
           f'<td>{r["day"]}</td><td class="num">{r["stories"]}</td><td class="num">{r["articles"]}</td>'
           f'<td class="num">{r["sources"]}</td><td>{"spike" if (r["topic"], r["day"]) in spiked else ""}</td></tr>'
           for r in reversed(rows)]
    return _table(["Topic", "Day", "Stories", "Articles", "Sources", "Alert"], out, "No topic articles yet.")


def _actor_rows(actors: list[dict[str, Any]]) -> list[str]:
    out = []
    for a in actors:
        samples = "".join(f'<li>{_link(s["url"], s["sentence"])} <span class="muted">{_e(s["source_domain"])}, '
                          f'{_day(s["event_at"])}</span></li>' for s in a["samples"])
        topics = a["topics"] or [a["first_topic"]]
        out.append(f'<tr data-topic="{_e(" ".join(t for t in topics if t))}" data-from="{_day(a["first_topic_seen_at"])}" '
                   f'data-to="{_day(a["first_topic_seen_at"])}"><td>{_e(a["actor_name"])}</td>'
                   f'<td>{_day(a["first_topic_seen_at"])}</td><td>{_e(", ".join(t for t in topics if t))}</td>'
                   f'<td>{_link(a["first_topic_url"], a["first_topic_source"])}</td>'
                   f'<td class="num">{a["topic_sources"]}</td><td class="num">{a["topic_stories"]}</td>'
                   f'<td class="num">{a["topic_sentences"]}</td><td><ul class="samples">{samples}</ul></td></tr>')
    return out


def _actors_tables(actors: list[dict[str, Any]]) -> str:
    head = ["Actor", "Entered", "Topics", "First source", "Sources", "Stories", "Sentences", "Sample sentences"]
    candidates = [a for a in actors if not a["is_known"]]
    known = [a for a in actors if a["is_known"]]
    return ("<h3>Candidates awaiting review <span class='muted'>(not in the registry: "
            "<code>newsmon actors candidates</code>, <code>newsmon actors promote ID</code>)</span></h3>"
            + _table(head, _actor_rows(candidates), "No candidate actors.")
            + "<h3>Registered actors entering the story</h3>"
            + _table(head, _actor_rows(known), "No registered actor in topic context yet."))


def _alerts_table(alerts: list[dict[str, Any]]) -> str:
    out = []
    for a in alerts:
        evidence = "".join(
            f'<li>{_e((ev.get("side") or "") + (" / " if ev.get("side") else ""))}{_link(ev.get("url"), ev.get("sentence"))} '
            f'<span class="muted">{_e(ev.get("source_domain"))} {_day(ev.get("published_at"))}</span></li>'
            for ev in a["evidence"][:3])
        state = "acknowledged" if a["acked"] else ("sent" if a["sent_at"] else "pending")
        out.append(f'<tr data-topic="{_e(a["topic"] or "")}" data-from="{_day(a["occurred_at"])}" '
                   f'data-to="{_day(a["occurred_at"])}"><td>{_day(a["occurred_at"])}</td>'
                   f'<td><span class="sev sev-{_e(a["severity"])}">{_e(a["severity"])}</span></td>'
                   f'<td>{_e(a["alert_type"])}</td><td>{_e(a["summary"])}<ul class="samples">{evidence}</ul></td>'
                   f'<td>{state}</td><td><code>{_e(a["alert_id"])}</code></td></tr>')
    return _table(["Occurred", "Severity", "Type", "Alert and evidence", "Delivery", "ID"], out, "No alerts yet.")


def _sources_table(sources: list[dict[str, Any]]) -> str:
    out = [f'<tr data-topic="{_e(s["main_topic"] or "")}"><td>{_link(s["url"], s["feed"])}</td>'
           f'<td><span class="status st-{"silent" if s["silent"] else _e(s["status"]).replace(" ", "-")}">'
           f'{"silent" if s["silent"] else _e(s["status"])}</span></td><td>{_day(s["last_success_at"])} '
           f'{(s["last_success_at"] or "")[11:16]}</td><td>{_e(s["last_error"])}</td>'
           f'<td class="num">{s["items_per_day"]}</td><td class="num">{s["topic_articles_7d"]}</td>'
           f'<td>{_day(s["last_topic_article_at"])}</td><td class="num">{s["articles_total"] or 0}</td></tr>'
           for s in sources]
    return _table(["Feed", "Status", "Last success (UTC)", "Last error", "Items/day (7 d)", "Topic articles (7 d)",
                   "Last topic article", "Articles"], out, "No feeds polled yet.")


def render(data: dict[str, Any], built_at: datetime, source: str) -> str:
    css = (ASSETS / "report.css").read_text()
    js = (ASSETS / "report.js").read_text()
    # no "<" or "&" inside the script element: data can never close it or open a comment
    payload = (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
               .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    cycle = data["cycle"]
    totals = data["totals"]
    built = built_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    topics = "".join(f'<option value="{_e(t)}">{_e(t)}</option>' for t in data["topics"])
    section = ("<section id='{id}'><h2>{title}</h2><p class='lead'>{lead}</p>"
               "<div class='chart' data-chart='{id}'><svg class='chart-svg' role='img' aria-label='{title}'></svg>"
               "</div><details{open}><summary>Table</summary>{table}</details></section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsmon report: {_e(built)}</title><style>{css}</style></head>
<body data-js-errors="0" data-charts-drawn="0">
<header><h1>newsmon: the story at a glance</h1>
<p class="meta">Built {_e(built)} from cycle <code>{_e(cycle["cycle_id"] if cycle else "none")}</code>
(finished {_e((cycle or {}).get("finished_at", "")[:16].replace("T", " "))} UTC) of <code>{_e(source)}</code>.
{totals["articles"]:,} articles stored, published {_day(totals["first_at"])} to {_day(totals["last_at"])}.</p>
<form id="filter" class="filter" onsubmit="return false"><label>Topic <select id="f-topic"><option value="">all topics</option>{topics}</select></label>
<label>From <input type="date" id="f-from" value="{_day(totals["first_at"])}"></label>
<label>To <input type="date" id="f-to" value="{_day(totals["last_at"])}"></label>
<button type="button" id="f-reset">Reset</button></form>
<nav><a href="#stance">Stances</a> · <a href="#volume">Volume</a> · <a href="#actors">New actors</a> ·
<a href="#alerts">Alerts</a> · <a href="#sources">Sources</a></nav></header>
<main>
{section.format(id="stance", title="Stance timelines", open=" open", table=_stance_table(data["stance"]),
                lead="Each row is an actor on a topic; bands are stance periods (consecutive days with the same net "
                     "stance). A diamond marks a change and links to its evidence below.")}
{section.format(id="volume", title="Topic volume", open="", table=_volume_table(data["volume"], data["spikes"]),
                lead="Stories per day per topic (a story counts once however many outlets ran it); "
                     "circled days raised a volume-spike alert.")}
{section.format(id="actors", title="New actors", open=" open", table=_actors_tables(data["actors"]),
                lead="When each actor first appeared in topic context; candidates are names the registry does "
                     "not know yet.")}
<section id="alerts"><h2>Alerts</h2><p class="lead">The latest {ALERTS} alerts, newest first.</p>
{_alerts_table(data["alerts"])}</section>
{section.format(id="sources", title="Sources", open=" open", table=_sources_table(data["sources"]),
                lead="Items per day over the last 7 days per feed, coloured by health; silent sources had "
                     "topic articles every day and then stopped.")}
</main>
<footer>newsmon report · data as JSON in this page (<code>#report-data</code>) · charts drawn as SVG by the
script below, no network access.</footer>
<script type="application/json" id="report-data">{payload}</script>
<script>{js}</script>
</body></html>
"""


def write_report(conn: duckdb.DuckDBPyConnection, out_dir: Path, source: str,
                 built_at: datetime | None = None) -> Report:
    """Render the report from an open (read-only) connection into `out_dir/report.html`, atomically."""
    built_at = built_at or datetime.now(timezone.utc)
    data = collect(conn)
    page = render(data, built_at, source)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "report.html"
    tmp = out_dir / f".report.html.{os.getpid()}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    counts = {k: len(data[k]) for k in ("stance", "volume", "actors", "alerts", "sources")}
    log.info("report %s: %s", target, counts)
    return Report(target, (data["cycle"] or {}).get("cycle_id"), counts)


def build_report(settings: Settings, out_dir: Path, live: bool = False, built_at: datetime | None = None) -> Report:
    """The report from the store opened read-only: the published read copy (the live file only when
    `live`), or the lake."""
    from pipeline.publish import read_copy_path
    from pipeline.store import open_reader

    conn = open_reader(settings, live)
    source = (settings.db_path if live else read_copy_path(settings.db_path)).name \
        if settings.storage == "duckdb" else settings.store_name
    try:
        return write_report(conn, out_dir, source, built_at)
    finally:
        conn.close()
