"""Delivery: plain text without pings, outbox semantics, routing, failing channels."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

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
    assert deliver(conn, channels, NOW + timedelta(seconds=30), send).sent == 0 and calls == []   # backing off
    report = deliver(conn, channels, NOW + timedelta(seconds=61), send)
    assert calls == [("bad", calls[0][1])]       # only the failed delivery is retried
    assert (report.sent, report.failed, report.pending) == (1, 0, 0)
    calls.clear()
    assert deliver(conn, channels, NOW + timedelta(hours=1), send).sent == 0 and calls == []


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



def add_alert(c, aid, kind="new_actor", actor="x", topic="ceasefire", severity="warning", feed=None):
    c.execute("insert into alerts (alert_id, alert_type, severity, actor_id, actor_name, topic, feed, detected_at, "
              "summary) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
              [aid, kind, severity, actor, actor.title() if actor else None, topic, feed, NOW, f"summary {aid}"])


@pytest.fixture
def empty(tmp_path):
    c = store.connect(tmp_path / "e.duckdb")
    yield c
    c.close()


class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, url, title, body):
        self.calls.append((url, title, body))
        return True, None


def test_routing_by_type_topic_actor_and_severity(empty):
    add_alert(empty, "n1", "new_actor", "stubb", "coalition", "warning")
    add_alert(empty, "s1", "stance_change", "duma", "peacekeeping", "critical")
    add_alert(empty, "v1", "volume_spike", None, "ceasefire", "info")
    channels = [Channel("all", "all"),
                Channel("duma-desk", "duma", actors=("duma",)),
                Channel("ceasefire", "cf", topics=("ceasefire",)),
                Channel("urgent", "urgent", min_severity="critical"),
                Channel("spikes", "spikes", alert_types=("volume_spike",), min_severity="warning")]
    send = Recorder()
    report = deliver(empty, channels, NOW, send, sleep=lambda s: None)
    got = sorted((url, title.split(":")[0]) for url, title, _ in send.calls)
    assert got == [("all", "[newsmon] New actor"), ("all", "[newsmon] Stance change"),
                   ("all", "[newsmon] Volume spike"), ("cf", "[newsmon] Volume spike"),
                   ("duma", "[newsmon] Stance change"), ("urgent", "[newsmon] Stance change")]
    assert report.pending == 0    # every alert reached every channel routed to it (none took the info spike)


def test_cooldown_suppresses_repeats_per_type_actor_topic(empty):
    channel = Channel("hook", "hook", cooldown_minutes=60)
    send = Recorder()
    add_alert(empty, "a1", "stance_change", "duma", "peacekeeping")
    add_alert(empty, "a2", "stance_change", "duma", "peacekeeping")      # same key in the same round
    add_alert(empty, "a3", "stance_change", "duma", "ceasefire")         # other topic: its own key
    report = deliver(empty, [channel], NOW, send, sleep=lambda s: None)
    assert (report.sent, report.suppressed, report.pending) == (2, 1, 0)
    add_alert(empty, "a4", "stance_change", "duma", "peacekeeping")
    assert deliver(empty, [channel], NOW + timedelta(minutes=30), send, sleep=lambda s: None).suppressed == 1
    add_alert(empty, "a5", "stance_change", "duma", "peacekeeping")
    assert deliver(empty, [channel], NOW + timedelta(minutes=61), send, sleep=lambda s: None).sent == 1
    rows = empty.execute("select alert_id, status from alert_deliveries order by alert_id").fetchall()
    assert rows == [("a1", "sent"), ("a2", "suppressed"), ("a3", "sent"), ("a4", "suppressed"), ("a5", "sent")]


def test_a_burst_becomes_one_digest(empty, webhook):
    for i in range(7):
        add_alert(empty, f"b{i}", "new_actor", f"actor{i}", "coalition", "critical" if i == 3 else "warning")
    report = deliver(empty, [Channel("hook", webhook.apprise_url, burst_limit=5)], NOW)
    assert (report.sent, report.digests, report.pending) == (0, 1, 0)
    [message] = webhook.received
    assert message["payload"]["title"] == "[newsmon] 7 alerts (digest)"
    lines = [ln for ln in message["payload"]["message"].splitlines() if ln.startswith("- ")]
    assert len(lines) == 7 and lines[0].startswith("- [critical] summary b3")
    statuses = empty.execute("select distinct status from alert_deliveries").fetchall()
    assert statuses == [("digested",)]


def test_never_more_than_one_message_per_second_per_webhook(empty):
    for i in range(3):
        add_alert(empty, f"r{i}", "new_actor", f"actor{i}")
    clock = [100.0]
    pauses: list[float] = []

    def sleep(seconds):
        pauses.append(seconds)
        clock[0] += seconds

    def send(url, title, body):
        clock[0] += 0.05          # the post itself
        return True, None

    deliver(empty, [Channel("a", "same-hook", min_gap_seconds=1.0), Channel("b", "other-hook")], NOW, send,
            sleep=sleep, clock=lambda: clock[0])
    assert len(pauses) == 4 and all(abs(p - 0.95) < 1e-9 for p in pauses)   # 2 waits per webhook, none across


def test_429_retry_after_is_obeyed(empty, webhook):
    add_alert(empty, "q1", "new_actor", "a1")
    add_alert(empty, "q2", "new_actor", "a2")
    webhook.status, webhook.retry_after = 429, "120"
    channel = Channel("hook", webhook.apprise_url)
    report = deliver(empty, [channel], NOW)
    assert (report.sent, report.failed, report.pending) == (0, 1, 2) and webhook.attempts == 1   # stopped at once
    blocked = empty.execute("select blocked_until, last_error from channel_state").fetchone()
    assert blocked == (NOW + timedelta(seconds=120), "HTTP 429 rate limited")
    webhook.status = 200
    assert deliver(empty, [channel], NOW + timedelta(seconds=60)).sent == 0 and webhook.attempts == 1
    report = deliver(empty, [channel], NOW + timedelta(seconds=121))
    assert (report.sent, report.pending) == (2, 0) and len(webhook.received) == 2


def test_crash_between_post_and_record_sends_at_most_one_duplicate(empty, webhook):
    from pipeline.notify import apprise_send

    add_alert(empty, "c1", "new_actor", "a1")
    channel = Channel("hook", webhook.apprise_url)

    class Crash(BaseException):
        pass

    def post_then_crash(url, title, body):
        apprise_send(url, title, body)
        raise Crash()

    with pytest.raises(Crash):
        deliver(empty, [channel], NOW, post_then_crash)
    assert len(webhook.received) == 1 and empty.execute("select count(*) from alert_deliveries").fetchone() == (0,)
    deliver(empty, [channel], NOW)       # the rerun posts once more: the one duplicate
    deliver(empty, [channel], NOW)       # and never again
    assert len(webhook.received) == 2


HOSTILE = ("<!channel> <!everyone> <!here> @here @everyone @room <@U123ABC> [click](http://evil.example) "
           "<http://evil.example|click> *bold* @alice")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize("scheme", ["json", "slack", "discord", "mattermost"])
def test_untrusted_text_reaches_each_chat_scheme_as_literal_text(empty, webhook, monkeypatch, scheme):
    """Real apprise plugins post to a local receiver: Slack and Discord have fixed hosts, so their
    requests are pointed at the receiver; Mattermost and JSON take its address directly."""
    import html

    import requests

    from pipeline.notify import _watch_http_responses

    host, port = webhook.server_address[:2]
    urls = {"json": webhook.apprise_url, "slack": "slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx/",
            "discord": "discord://123456789012345678/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
            "mattermost": f"mmost://{host}:{port}/abcdefghijklmnopqrstuvwxyz"}
    _watch_http_responses()
    original = requests.adapters.HTTPAdapter.send

    def to_receiver(self, request, *args, **kwargs):
        if "hooks.slack.com" in request.url or "discord.com" in request.url:
            request.url = f"http://{host}:{port}/{scheme}"
        kwargs["verify"] = False
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", to_receiver)
    empty.execute("insert into alerts (alert_id, alert_type, severity, actor_id, actor_name, topic, detected_at, "
                  "summary, evidence) values ('h1', 'new_actor', 'warning', 'x', ?, 'ceasefire', ?, ?, ?)",
                  ["Mallory " + HOSTILE, NOW, "Summary " + HOSTILE,
                   json.dumps([{"url": "http://a/1", "title": "T " + HOSTILE, "sentence": HOSTILE,
                                "source_domain": "a"}])])
    report = deliver(empty, [Channel(scheme, urls[scheme])], NOW)
    assert report.sent == 1, scheme
    [message] = webhook.received
    text = html.unescape(" ".join(_strings(message["payload"])))
    for active in ("<!channel>", "<!everyone>", "<!here>", "@here", "@everyone", "@room", "<@U123ABC>",
                   "](http://evil", "<http://evil.example|", "@alice"):
        assert active not in text, (scheme, active)
    assert HOSTILE in text.replace("\u200b", ""), scheme       # every character still there, literally
