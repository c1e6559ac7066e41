"""Delivery: plain text without pings, outbox semantics, routing, failing channels."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from pipeline import store
from pipeline.config import Channel
from pipeline.notify import deliver, mask_url, neutralise, render

NOW = datetime(2026, 2, 27, 12)


@pytest.mark.parametrize("raw", ["<!channel> now", "<!everyone>", "hey @here", "@everyone look", "@room",
                                 "<@U123> hi", "[click](http://evil.example)", "ping @alice"])
def test_neutralise_breaks_every_ping_and_link(raw):
    out = neutralise(raw)
    for token in ("<!channel>", "<!everyone>", "@here", "@everyone", "@room", "<@U123>", "](http", "@alice"):
        assert token not in out
    assert out.replace("\u200b", "") == raw  # shown literally, nothing removed


def test_mask_url_hides_tokens():
    assert mask_url("slack://T000/B000/XXXXSECRET") == "slack://t000/…"
    assert "SECRET" not in mask_url("https://hooks.slack.com/services/T0/B0/SECRET")


@pytest.fixture
def conn(tmp_path):
    c = store.connect(tmp_path / "n.duckdb")
    for aid, kind in [("a1", "new_actor"), ("a2", "stance_change")]:
        c.execute("insert into alerts (alert_id, alert_type, actor_id, actor_name, topic, detected_at, summary, evidence)"
                  " values (?, ?, 'x', 'X <!channel>', 'ceasefire', ?, ?, ?)",
                  [aid, kind, NOW, f"summary {aid} @everyone",
                   json.dumps([{"url": "http://a/1", "title": "T", "sentence": "S @here", "source_domain": "a"}])])
    yield c
    c.close()


def test_render_is_plain_and_has_the_query(conn):
    row = dict(zip([d[0] for d in conn.execute("select * from alerts").description],
                   conn.execute("select * from alerts where alert_id = 'a1'").fetchone()))
    title, body = render(row)
    assert "<!channel>" not in title and "@everyone" not in body and "@here" not in body
    assert "select * from alerts where alert_id = 'a1'" in body and "http://a/1" in body


def test_outbox_failed_channel_stays_pending_then_retries(conn):
    calls: list[tuple[str, str]] = []
    healthy = {"good": True, "bad": False}

    def send(url, title, body):
        calls.append((url, title))
        return healthy[url], None if healthy[url] else "HTTP 500"

    channels = [Channel("good", "good", None), Channel("bad", "bad", ("stance_change",))]
    report = deliver(conn, channels, NOW, send)
    assert (report.sent, report.failed, report.pending) == (2, 1, 1)
    assert conn.execute("select alert_id from alerts where sent_at is null").fetchall() == [("a2",)]
    status = conn.execute("select alert_id, channel, status, attempts, last_error from alert_deliveries order by all").fetchall()
    assert status == [("a1", "good", "sent", 1, None), ("a2", "bad", "failed", 1, "HTTP 500"),
                      ("a2", "good", "sent", 1, None)]
    healthy["bad"] = True
    calls.clear()
    report = deliver(conn, channels, NOW, send)
    assert calls == [("bad", calls[0][1])]       # only the failed delivery is retried
    assert (report.sent, report.failed, report.pending) == (1, 0, 0)
    calls.clear()
    assert deliver(conn, channels, NOW, send).sent == 0 and calls == []


def test_apprise_posts_plain_text_to_a_real_webhook(conn, webhook):
    report = deliver(conn, [Channel("hook", webhook.apprise_url, None)], NOW)
    assert report.sent == 2
    messages = [r["payload"]["message"] for r in webhook.received]
    assert len(messages) == 2 and all("@\u200beveryone" in m for m in messages)
    assert all("@everyone" not in m for m in messages)


def test_dead_channel_is_a_failure_not_an_exception(conn):
    report = deliver(conn, [Channel("dead", "json://127.0.0.1:9/x", None)], NOW)
    assert (report.sent, report.failed, report.pending) == (0, 2, 2)


def test_failed_task_is_reported_to_the_ops_channel(tmp_path, webhook, monkeypatch):
    from pipeline.tasks import task_failed
    from tests.conftest import write_config

    folder = write_config(tmp_path / "c", "feeds:\n  - name: a\n    url: https://x.org/f\n",
                          "ops:\n  url: ${OPS_HOOK}\n")
    monkeypatch.setenv("NEWSMON_CONFIG", str(folder))
    monkeypatch.setenv("OPS_HOOK", webhook.apprise_url)
    assert task_failed("load", "manual__1", "StoreError('database is in use') @everyone")
    [msg] = webhook.received
    assert msg["payload"]["title"] == "[newsmon] task load failed"
    assert "database is in use" in msg["payload"]["message"] and "@everyone" not in msg["payload"]["message"]

