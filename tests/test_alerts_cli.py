"""Analyst tools on a real demo run: alerts list/show/ack/test and backtest."""
from __future__ import annotations

import duckdb
import pytest

from pipeline.cli import main
from pipeline.demo.site import TIMELINE_END
from tests.conftest import write_config


@pytest.fixture
def demo_db(tmp_path, demo_site, webhook, monkeypatch):
    monkeypatch.setenv("HOOK", webhook.apprise_url)
    config = write_config(tmp_path / "config", demo_site.feeds_yaml(), "channels:\n  - name: desk\n    url: ${HOOK}\n")
    db = tmp_path / "newsmon.duckdb"
    demo_site.cutoff = TIMELINE_END
    assert main(["run", "--config", str(config), "--db", str(db)]) == 0
    return config, db


def alert_id(db, kind: str) -> str:
    with duckdb.connect(str(db), read_only=True) as c:
        return c.execute("select alert_id from alerts where alert_type = ?", [kind]).fetchone()[0]


def test_list_filters_show_and_ack(demo_db, capsys):
    config, db = demo_db
    capsys.readouterr()
    assert main(["alerts", "--db", str(db), "list", "--type", "stance_change"]) == 0
    out = capsys.readouterr().out
    assert "Russian State Duma" in out and "Alexander Stubb" not in out and "warning" in out
    assert main(["alerts", "--db", str(db), "list", "--since", "2099-01-01"]) == 0
    assert capsys.readouterr().out.strip() == "no alerts"

    stubb = alert_id(db, "new_actor")
    assert main(["alerts", "--db", str(db), "show", stubb]) == 0
    out = capsys.readouterr().out
    assert "backed by 2 independent sources" in out and "delivery desk: sent after 1 attempt(s)" in out
    assert "full evidence: select * from int_actor_topic_context where actor_id = 'alexander-stubb'" in out
    assert out.count("127.0.0.") >= 4          # evidence lines and the evidence query's rows

    assert main(["alerts", "--db", str(db), "ack", stubb, "--by", "ana", "--note", "checked"]) == 0
    assert main(["alerts", "--db", str(db), "show", stubb]) == 0
    assert "by ana: checked" in capsys.readouterr().out
    assert main(["alerts", "--db", str(db), "ack", "0000000000000000"]) == 1
    assert main(["alerts", "--db", str(db), "show", "0000000000000000"]) == 1


def test_alerts_test_sends_to_a_channel(demo_db, webhook, capsys):
    config, _db = demo_db
    before = len(webhook.received)
    assert main(["alerts", "--config", str(config), "test", "desk"]) == 0
    assert "test message sent to desk (json://127.0.0.1/…)" in capsys.readouterr().out
    assert webhook.received[-1]["payload"]["title"] == "[newsmon] test message" and len(webhook.received) == before + 1
    assert main(["alerts", "--config", str(config), "test", "nope"]) == 2
    webhook.status = 500
    assert main(["alerts", "--config", str(config), "test", "desk"]) == 1
    assert "HTTP 500" in capsys.readouterr().err


def test_backtest_replays_day_by_day_without_sending(demo_db, webhook, capsys, tmp_path):
    config, db = demo_db
    sent = len(webhook.received)
    with duckdb.connect(str(db), read_only=True) as c:
        before = c.execute("select count(*) from alerts").fetchone()
    capsys.readouterr()
    assert main(["backtest", "--db", str(db), "--config", str(config), "--from", "2026-02-01", "--to", "2026-02-27"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2026-02-17  [new_actor/warning] New actor in the story: Alexander Stubb")
    assert lines[1].startswith("2026-02-18  [stance_change/warning] Stance change: Russian State Duma")
    assert lines[-1].endswith("1 new_actor, 1 stance_change would have fired (nothing was sent)")
    assert len(webhook.received) == sent
    with duckdb.connect(str(db), read_only=True) as c:
        assert c.execute("select count(*) from alerts").fetchone() == before
    # stricter thresholds, in a config folder of their own: the new actor no longer qualifies
    strict = write_config(tmp_path / "strict", (config / "feeds.yaml").read_text(),
                          "channels: []\nrules:\n  new_actor:\n    min_sources: 3\n")
    assert main(["backtest", "--db", str(db), "--config", str(strict), "--from", "2026-02-01", "--to", "2026-02-27"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("1 stance_change would have fired (nothing was sent)")
