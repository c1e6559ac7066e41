"""A plain-text digest of the latest alerts, read from what analysts read: the published read copy
(never the live file), or the lake."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from pipeline import store
from pipeline.settings import Settings


def write_digest(settings: Settings, out_dir: Path, now: datetime, hours: int = 24) -> Path:
    """Alerts raised in the last `hours`, with evidence links, and topic volumes, from what analysts
    read (the read copy, or the lake); returns the file."""
    conn = store.open_reader(settings)
    try:
        since = now.replace(tzinfo=None) - timedelta(hours=hours)
        alerts = conn.execute("""select alert_type, summary, evidence from alerts
                                 where detected_at >= ? order by occurred_at""", [since]).fetchall()
        volume = conn.execute("""select topic, count(distinct article_id) from stg_topic_mentions
                                 group by topic order by topic""").fetchall()
    finally:
        conn.close()
    lines = [f"newsmon digest, {now:%Y-%m-%d %H:%M} UTC: alerts of the last {hours} h", ""]
    for kind, summary, evidence in alerts:
        lines.append(f"- [{kind}] {summary}")
        for item in json.loads(evidence or "[]")[:2]:
            lines.append(f"    {item.get('url')}")
    if not alerts:
        lines.append("- no new alerts")
    lines += ["", "articles per topic (all time): " + ", ".join(f"{t} {n}" for t, n in volume)]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"digest-{now:%Y%m%dT%H%M}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
