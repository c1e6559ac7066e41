"""Plain-text rendering of a cycle summary and of alerts for the terminal."""
from __future__ import annotations

import json
from typing import Any

from pipeline.cycle import CycleSummary


def format_alert(alert: dict[str, Any]) -> str:
    severity = alert.get("severity")
    lines = [f"  [{alert['alert_type']}{'/' + severity if severity else ''}] {alert['summary']}"]
    evidence = alert.get("evidence")
    for item in (json.loads(evidence) if isinstance(evidence, str) else evidence or [])[:3]:
        side = f"{item['side']}/{item.get('stance')}: " if item.get("side") else ""
        lines.append(f"      {side}\"{item.get('sentence')}\"")
        lines.append(f"        {item.get('source_domain')} {str(item.get('published_at'))[:10]} {item.get('url')}")
    return "\n".join(lines)


def format_summary(s: CycleSummary) -> str:
    lines = [
        f"cycle {s.cycle_id}",
        f"  feeds polled {s.feeds_polled}, failed {s.feeds_failed}",
    ]
    lines += [f"    ! {feed}: {error}" for feed, error in s.feed_errors]
    lines += [
        f"  new articles {s.new_articles} ({s.not_extracted} kept with feed summary only)",
        f"  topic mentions {s.topic_mentions}, actor mentions {s.actor_mentions}, stances {s.stances}",
        f"  alerts raised {len(s.alerts_raised)}, messages sent {s.alerts_sent}, "
        f"failed deliveries {s.deliveries_failed}, alerts pending {s.alerts_pending}",
    ]
    if s.read_copy:
        lines.append(f"  analysts' read copy: {s.read_copy}"
                     + (" (not refreshed this cycle: within its time budget, NEWSMON_READ_COPY_BUDGET)"
                        if s.read_copy_stale else ""))
    if s.stage_seconds:
        lines.append(f"  stages ({sum(s.stage_seconds.values()):.1f} s): "
                     + ", ".join(f"{k} {v:.2f}" for k, v in s.stage_seconds.items()))
    lines += [format_alert(a) for a in s.alerts_raised]
    return "\n".join(lines)
