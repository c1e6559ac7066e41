"""The analyst report: built by the demo, its numbers match SQL, it is self-contained, and a real
browser (Debian's chromium, headless) draws every chart without a JavaScript error."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from pipeline.settings import Settings
from tests.conftest import ROOT

ARTIFACTS = Path(os.environ.get("NEWSMON_TEST_ARTIFACTS") or ROOT / "test-artifacts")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`newsmon demo`'s two cycles; the demo writes the report itself and prints its path."""
    import contextlib
    import io

    from pipeline.demo.run import run_demo

    tmp = tmp_path_factory.mktemp("report")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_demo(tmp)
    printed = re.search(r"analyst report \(open in a browser, works offline\): (\S+)", out.getvalue())
    assert printed, out.getvalue()
    return {"report": Path(printed.group(1)), "read_copy": tmp / "demo" / "newsmon-demo.read.duckdb"}


def page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
                      .group(1))


def test_the_demo_report_shows_the_stance_change_and_the_new_actor(demo):
    page = demo["report"].read_text(encoding="utf-8")
    data = page_data(demo["report"])
    duma = [(r["period"], r["stance"], r["started_at"][:10]) for r in data["stance"]
            if r["actor_id"] == "russian-state-duma" and r["topic"] == "peacekeeping"]
    assert duma == [(1, "oppose", "2026-02-03"), (2, "support", "2026-02-18")]
    assert data["stance"][0]["actor_id"] == "russian-state-duma"       # pairs with a change come first
    stubb = next(a for a in data["actors"] if a["actor_id"] == "alexander-stubb")
    assert not stubb["is_known"] and stubb["first_topic"] == "coalition" and len(stubb["samples"]) == 2
    candidates = page.split("Candidates awaiting review")[1].split("Registered actors entering the story")[0]
    assert ">Alexander Stubb<" in candidates and ">Finland<" not in candidates
    assert "Stance change: Russian State Duma on peacekeeping: oppose -&gt; support" in page
    assert "New actor in the story: Alexander Stubb" in page
    assert 'href="#ev-0"' not in page                                 # period 1 is no change ...
    assert '<tr id="ev-1" data-topic="peacekeeping" data-from="2026-02-18"' in page  # ... period 2 is


def test_report_numbers_match_sql(demo):
    data = page_data(demo["report"])
    with duckdb.connect(str(demo["read_copy"]), read_only=True) as c:
        cycle = c.execute("select cycle_id from cycles order by finished_at desc limit 1").fetchone()[0]
        stories = dict(c.execute("select topic, sum(stories) from topic_volume_daily group by 1").fetchall())
        ledger = c.execute("select actor_id, topic, period, stance, evidence_count, sources from stance_ledger "
                           "order by all").fetchall()
        stubb = c.execute("select topic_sources, topic_stories, topic_sentences from actor_first_seen "
                          "where actor_id = 'alexander-stubb'").fetchone()
        feeds = c.execute("select feed, status, items_per_day from feed_health order by feed").fetchall()
        alerts = c.execute("select alert_id from alerts order by detected_at desc, occurred_at desc, alert_id").fetchall()
    assert data["cycle"]["cycle_id"] == cycle
    assert f"from cycle <code>{cycle}</code>" in demo["report"].read_text()
    assert {t: sum(r["stories"] for r in data["volume"] if r["topic"] == t) for t in stories} == stories
    assert sorted((r["actor_id"], r["topic"], r["period"], r["stance"], r["evidence_count"], r["sources"])
                  for r in data["stance"]) == ledger                  # the demo has fewer pairs than the cap
    a = next(a for a in data["actors"] if a["actor_id"] == "alexander-stubb")
    assert (a["topic_sources"], a["topic_stories"], a["topic_sentences"]) == stubb
    assert [(s["feed"], s["status"], s["items_per_day"]) for s in data["sources"]] == feeds
    assert [(x["alert_id"],) for x in data["alerts"]] == alerts


def test_the_page_is_self_contained(demo):
    page = demo["report"].read_text(encoding="utf-8")

    class Refs(HTMLParser):
        loads: list[str] = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag in ("script", "img", "iframe", "link", "source", "video", "audio", "embed", "object"):
                ref = attrs.get("src") or attrs.get("href") or attrs.get("data")
                if ref:
                    self.loads.append(f"{tag} {ref}")

    parser = Refs()
    parser.feed(page)
    assert parser.loads == []                              # nothing fetched: the page works from disk, offline
    assert "@import" not in page and "url(" not in page
    assert page.count("<script") == 2                      # the data and the drawing script, both inline


def test_markup_in_the_data_cannot_break_the_page(demo):
    from datetime import datetime, timezone

    from pipeline.report import render

    data = page_data(demo["report"])
    evil = "</script><script>document.title='pwned'</script><b>bold</b>"
    data["stance"][0]["first_sentence"] = evil
    data["alerts"][0]["summary"] = evil
    data["actors"][0]["actor_name"] = evil
    page = render(data, datetime(2026, 3, 1, tzinfo=timezone.utc), "x.duckdb")
    assert page.count("<script") == 2 and "<b>bold</b>" not in page
    assert json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))["alerts"][0]["summary"] == evil


def test_report_command(demo, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", "--db", str(demo["read_copy"]), "--out", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    assert page_data(out / "report.html")["totals"]["articles"] == 22
    os.environ.pop("NEWSMON_READ_DB", None)
    code = main(["report", "--db", str(tmp_path / "missing.duckdb")])
    assert code == 2 and "no database at" in capsys.readouterr().err


def test_a_database_without_marts_is_a_clear_error_and_empty_marts_a_page_that_says_so(tmp_path, capsys):
    from pipeline import store
    from pipeline.config import load_config
    from pipeline.report import build_report
    from pipeline.sqlrun import run_models

    db = tmp_path / "empty.duckdb"
    store.connect(db).close()
    assert main(["report", "--db", str(db), "--out", str(tmp_path)]) == 2
    assert "no stance_ledger, topic_volume_daily" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()
    conn = store.connect(db)
    run_models(conn, load_config(ROOT / "config"))
    conn.close()
    page = build_report(Settings.from_env(None, db), tmp_path, live=True).path.read_text()
    assert "No stance evidence yet." in page and "No alerts yet." in page and "from cycle <code>none</code>" in page


# --- in a real browser ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("NEWSMON_REQUIRE_BROWSER"),
    reason="Debian's chromium is not installed (.ci/run installs it and sets NEWSMON_REQUIRE_BROWSER=1)")


def chromium(profile: Path, *args: str) -> str:
    assert CHROMIUM, "NEWSMON_REQUIRE_BROWSER is set but chromium is not installed"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    done = subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Dom(HTMLParser):
    """What the browser drew: body flags, shapes per chart, hidden table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.chart: str | None = None
        self.shapes: dict[str, dict[str, int]] = {}
        self.rows: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "data-chart" in a:
            self.chart = a["data-chart"]
            self.shapes[self.chart] = {}
        elif tag == "section":
            self.chart = None
        if self.chart and tag in ("rect", "circle", "polyline", "path", "text"):
            self.shapes[self.chart][tag] = self.shapes[self.chart].get(tag, 0) + 1
        if tag == "tr" and "data-topic" in a:
            self.rows.append((a["data-topic"], "hidden" in (a.get("class") or "")))


@needs_browser
def test_chromium_draws_every_chart_without_errors(demo, tmp_path):
    url = demo["report"].resolve().as_uri()
    dom = Dom()
    dom.feed(chromium(tmp_path / "profile", "--dump-dom", url))
    assert dom.body.get("data-ready") == "1" and dom.body.get("data-js-errors") == "0"
    assert dom.body.get("data-charts-drawn") == "4"
    data = page_data(demo["report"])
    stance, volume, actors, sources = (dom.shapes[k] for k in ("stance", "volume", "actors", "sources"))
    assert stance["rect"] == len(data["stance"])                              # one band per stance period
    assert stance["path"] == sum(r["period"] > 1 for r in data["stance"]) == 1   # the Duma's change, marked
    assert volume["polyline"] == 3 and volume["circle"] == len(data["volume"])
    assert actors["circle"] == len(data["actors"])
    assert sources["rect"] == len(data["sources"])
    assert not any(hidden for _, hidden in dom.rows)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    chromium(tmp_path / "profile", "--window-size=1280,2400", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_browser
def test_chromium_applies_a_filter_from_the_address(demo, tmp_path):
    url = demo["report"].resolve().as_uri() + "#topic=peacekeeping&from=2026-02-15"
    dom = Dom()
    dom.feed(chromium(tmp_path / "profile", "--dump-dom", url))
    assert dom.body.get("data-js-errors") == "0" and dom.body.get("data-charts-drawn") == "4"
    data = page_data(demo["report"])
    kept = [r for r in data["stance"] if r["topic"] == "peacekeeping" and r["ended_at"][:10] >= "2026-02-15"]
    assert dom.shapes["stance"]["rect"] == len(kept) < len(data["stance"])
    assert dom.shapes["volume"]["polyline"] == 1
    visible = {topic for topic, hidden in dom.rows if not hidden and topic}
    assert visible and all("peacekeeping" in t.split() for t in visible)
