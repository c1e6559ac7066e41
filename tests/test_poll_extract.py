"""Poll and extract stages on their own: exact records out of real feed bytes and demo pages."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.config import FeedConfig
from pipeline.extract import article_from_extraction, fetch_articles, shared_pool
from pipeline.extract_worker import extract_in_worker
from pipeline.fetch import Fetcher
from pipeline.poll import parse_feed, poll_feed
from pipeline.records import FeedEntry
from pipeline.urls import article_key, canonical_url

NOW = datetime(2026, 2, 27, 12, tzinfo=timezone.utc)

RSS = b"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title>
<item><title>Truce &amp; talks</title><link>https://News.Example.org/a/1?utm_source=rss&amp;id=7#top</link>
<guid>g-1</guid><pubDate>Tue, 03 Feb 2026 14:30:00 GMT</pubDate><description>&lt;p&gt;The &lt;b&gt;Duma&lt;/b&gt; voted.&lt;/p&gt;</description></item>
<item><title>Same story again</title><link>https://news.example.org/a/1?id=7</link><guid>g-2</guid></item>
<item><title>No link at all</title><guid>g-3</guid></item>
<item><title>Local file</title><link>file:///etc/passwd</link></item>
</channel></rss>"""


def test_parse_feed_exact_entries(settings):
    parsed = parse_feed("f", RSS, "application/rss+xml", settings)
    entries = parsed.entries
    assert parsed.error is None and parsed.dropped == 2
    assert parsed.drop_reasons == "2 not an http(s) link"   # feedparser turns the bare GUID "g-3" into a link
    canonical = "https://news.example.org/a/1?id=7"
    assert entries == [FeedEntry("f", article_key(canonical, "g-1", ""), "https://News.Example.org/a/1?utm_source=rss&id=7#top",
                                 canonical, "g-1", "Truce & talks", "The Duma voted.",
                                 datetime(2026, 2, 3, 14, 30, tzinfo=timezone.utc), "news.example.org")]


def test_canonical_url_strips_tracking():
    assert canonical_url("HTTPS://Example.com:443/a/?utm_campaign=x&fbclid=y&page=2#frag") == "https://example.com/a/?page=2"


def test_feed_bytes_that_are_not_a_feed(settings):
    parsed = parse_feed("f", b"<html><body>hello</body></html>", "text/html", settings)
    assert parsed.entries == [] and parsed.error.startswith(("not a feed", "malformed feed"))


def test_poll_sends_validators_and_304_adds_nothing(settings, demo_site):
    feed = FeedConfig(name="demo-ledger", url=demo_site.base_url("ledger") + "/feed.xml")
    with Fetcher(settings) as f:
        first = poll_feed(f, feed, None, NOW)
        assert first.status == "ok" and len(first.entries) == 3 and first.etag
        from pipeline.records import FeedState
        state = FeedState(feed.name, feed.url, first.etag, first.last_modified, last_unconditional_at=NOW)
        second = poll_feed(f, feed, state, NOW)
        # validators older than 12 h are not trusted: an unconditional fetch
        stale = poll_feed(f, feed, state, NOW + timedelta(hours=13))
    assert (second.status, second.http_status, second.entries, second.conditional) == ("not_modified", 304, (), True)
    assert (stale.status, stale.conditional, len(stale.entries)) == ("ok", False, 3)


def test_extract_demo_page_drops_boilerplate(settings, demo_site):
    site = demo_site
    art = next(a for a in site.articles if a.slug == "duma-rejects-foreign-peacekeepers")
    url = site.base_url("ledger") + art.path
    entry = FeedEntry("demo-ledger", "k1", url, url, url, art.title, "summary", art.date)
    with Fetcher(settings) as f:
        [article] = fetch_articles(f, [entry], NOW)
    assert article.extracted and article.extraction_error is None
    assert article.title == "Russian State Duma rejects any foreign peacekeepers in Ukraine"
    assert article.site_name == "Atlantic Ledger" and article.language == "en"
    assert article.source_domain == "127.0.0.2"
    lines = article.text.split("\n")
    assert lines[0] == article.title and len(lines) == 5    # headline + the four paragraphs, nothing else
    assert lines[1].startswith("The Russian State Duma rejected any deployment of foreign peacekeepers")
    for boilerplate in ("cookies", "Related stories", "All rights reserved", "Subscribe", "morning briefing"):
        assert boilerplate not in article.text


def test_extract_without_article_text_keeps_summary():
    entry = FeedEntry("f", "k", "http://x/1", "http://x/1", None, "Title", "Feed summary.", None)
    html = b"<html><body><nav>Home</nav></body></html>"
    article = article_from_extraction(entry, extract_in_worker(html, "http://x/1", 5.0), html, NOW)
    assert (article.extracted, article.extraction_error, article.text, article.completeness) == (
        False, "no article text found on page", "Feed summary.", "summary_only")


# the extraction pool: batches, crashes, stuck workers ----------------------------------------

def _submit_all(pool, urls, limit=30.0):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as threads:
        return list(threads.map(lambda u: pool.submit(b"<html/>", u, limit, False).result(timeout=120), urls))


def test_extraction_pool_batches_pages_and_answers_each_its_own():
    from extract_faults import echo_or_fail

    from pipeline.extract import ExtractorPool

    pool = ExtractorPool(2, batch=4, work=echo_or_fail)
    try:
        urls = [f"http://x/{i}" for i in range(60)]
        assert [r["text"] for r in _submit_all(pool, urls)] == urls
    finally:
        pool.close()


def test_a_page_that_crashes_its_worker_fails_alone():
    from extract_faults import echo_or_fail

    from pipeline.extract import ExtractorPool

    pool = ExtractorPool(2, batch=4, work=echo_or_fail)
    try:
        urls = [f"http://x/{i}" for i in range(12)] + ["crash"] + [f"http://y/{i}" for i in range(12)]
        results = dict(zip(urls, _submit_all(pool, urls)))
        assert results.pop("crash") == {"error": "extraction worker crashed"}
        assert all(r == {"text": u} for u, r in results.items())
        assert pool.submit(b"<html/>", "after", 30.0).result(timeout=60) == {"text": "after"}   # fresh workers
    finally:
        pool.close()


def test_a_worker_stuck_past_the_time_limits_is_killed_and_its_batch_retried():
    from extract_faults import echo_or_fail

    from pipeline.extract import ExtractorPool

    pool = ExtractorPool(1, batch=4, slack=1.0, work=echo_or_fail)
    try:
        urls = ["a", "b", "hang", "c", "d", "e"]
        results = dict(zip(urls, _submit_all(pool, urls, limit=0.2)))
        assert results.pop("hang") == {"error": "extraction took longer than 0.2s (worker killed)"}
        assert results == {u: {"text": u} for u in results}
    finally:
        pool.close()


@pytest.mark.parametrize("cores, annotate, explicit, beside, workers", [
    (2, 2, None, True, 1),      # two spaCy workers take the two cores: one extraction process beside them
    (4, 2, None, True, 1),      # a third of the spaCy workers, rounded up
    (16, 12, None, True, 4),
    (16, 14, None, True, 2),    # the cores spaCy leaves
    (1, 2, None, True, 1),
    (2, 2, None, False, 2),     # extraction alone (annotation after it, or elsewhere): two cores
    (8, 2, None, False, 2),
    (1, 2, None, False, 1),
    (2, 2, 3, True, 3),         # NEWSMON_EXTRACT_PROCESSES wins
    (2, 2, 3, False, 3),
])
def test_extraction_processes_leave_the_cores_to_spacy(monkeypatch, settings, cores, annotate, explicit, beside,
                                                        workers):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    chosen = replace(settings, annotate_processes=annotate, extract_processes=explicit)
    assert chosen.extraction_workers(beside_spacy=beside) == workers


def test_extraction_processes_from_the_environment(monkeypatch, tmp_path):
    from pipeline.settings import Settings

    monkeypatch.setenv("NEWSMON_EXTRACT_PROCESSES", "3")
    assert Settings.from_env(tmp_path).extract_processes == 3
    monkeypatch.setenv("NEWSMON_EXTRACT_PROCESSES", "")
    assert Settings.from_env(tmp_path).extract_processes is None


def test_fetch_sizes_the_shared_pool_from_the_settings(monkeypatch, settings, demo_site):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    site = demo_site
    art = next(a for a in site.articles if a.slug == "duma-rejects-foreign-peacekeepers")
    url = site.base_url("ledger") + art.path
    entry = FeedEntry("demo-ledger", "k1", url, url, url, art.title, "summary", art.date)
    pool = shared_pool()
    sunk = []
    try:
        for sink, workers in ((None, 2), (sunk.append, 1), (None, 2)):    # a sink: spaCy works alongside
            with Fetcher(settings) as f:
                [article] = fetch_articles(f, [entry], NOW, sink=sink)
            assert article.extracted and pool.workers == workers
            assert pool._pool is not None and len(pool._pool._processes) == 1   # spawned as pages need them
        assert sunk == [article]
        with Fetcher(replace(settings, extract_processes=3)) as f:
            fetch_articles(f, [entry], NOW)
        assert pool.workers == 3
        pool.resize(1)            # the idle pool's processes go at once
        assert pool._pool is None
    finally:
        pool.close()
