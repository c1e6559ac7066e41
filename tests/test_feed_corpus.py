"""feedparser's own test corpus (2,106 feeds) served over HTTP to the poll stage, plus fuzzed bytes."""
from __future__ import annotations

import dataclasses
import functools
import os
import threading
from datetime import datetime, timezone
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from pipeline.config import FeedConfig
from pipeline.fetch import Fetcher
from pipeline.poll import parse_feed, poll_feeds
from pipeline.textclean import html_to_text

_CANDIDATES = [os.environ.get("NEWSMON_FEEDPARSER_CORPUS", ""),
               str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "feedparser-tests"),
               "/work/shared/corpora/feedparser-tests"]
CORPUS = next((Path(c) for c in _CANDIDATES if c and Path(c).is_dir()), Path(_CANDIDATES[1]))
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def corpus_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(CORPUS)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _has_usable_entry(body: bytes) -> bool:
    """An entry with an http(s) link, or with no link but a title or summary (feedparser alone)."""
    for e in feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False).entries:
        link = str(e.get("link", ""))
        has_text = html_to_text(e.get("title")) or html_to_text(e.get("summary"))
        if link.startswith(("http://", "https://")) or (not link and has_text):
            return True
    return False


@pytest.mark.slow
def test_every_corpus_feed_polls_without_an_uncaught_exception(settings, corpus_server, capsys):
    files = sorted(p for p in CORPUS.rglob("*.xml"))
    assert len(files) == 2106
    feeds = [FeedConfig(name=f"f{i}", url=f"{corpus_server}/{p.relative_to(CORPUS).as_posix()}")
             for i, p in enumerate(files)]
    fast = dataclasses.replace(settings, fetch_workers=16, per_host_limit=16)
    with Fetcher(fast) as f:
        results = poll_feeds(f, feeds, {}, NOW)
    internal = [r for r in results if r.error and r.error.startswith("internal error")]
    assert internal == []
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    missing = [p.name for p, r in zip(files, results) if not r.entries and _has_usable_entry(p.read_bytes())]
    assert missing == []   # every feed whose entries have a usable link yields them
    with capsys.disabled():
        print(f"\ncorpus: {len(results)} feeds, {by_status}, "
              f"{sum(len(r.entries) for r in results)} entries, {sum(r.dropped_entries for r in results)} dropped")


_SAMPLES = [p.read_bytes() for p in sorted(CORPUS.rglob("*.xml"))[::40]] if CORPUS.is_dir() else [b""]


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(_SAMPLES), data=st.data())
def test_mutated_real_feeds_never_raise(sample, data):
    from pipeline.settings import Settings

    body = bytearray(sample)
    for _ in range(data.draw(st.integers(0, 8))):
        if not body:
            break
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        i = data.draw(st.integers(0, len(body) - 1))
        if op == "flip":
            body[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del body[i:i + data.draw(st.integers(1, 200))]
        elif op == "insert":
            body[i:i] = data.draw(st.binary(max_size=40))
        else:
            body[i:i] = body[i:i + data.draw(st.integers(1, 300))]
    parsed = parse_feed("fuzz", bytes(body), data.draw(st.sampled_from(["", "text/xml", "text/html; charset=latin-1"])),
                        Settings(config_dir=None, db_path=None, data_dir=None))  # type: ignore[arg-type]
    for e in parsed.entries:
        assert (e.url == "" or e.url.startswith(("http://", "https://"))) and "\x00" not in e.title


_BIG5 = (b'<?xml version="1.0" encoding="big5"?>\n<!--\nSkipUnless:   __import__(\'codecs\').lookup(\'big5\')\n'
         b"Description:  big5\nExpect:       not bozo and encoding == 'big5'\n-->\n<rss>\n</rss>")


@pytest.mark.parametrize("body", [
    _BIG5[:30] + b"\x80" + _BIG5[30:],     # a byte feedparser cannot decode inside the encoding name
    _BIG5[:30] + b"\x00" + _BIG5[31:],     # a NUL there instead of a letter
])
def test_feeds_that_trip_feedparsers_decoder_are_an_error_not_a_crash(body):
    """Found by the fuzz test above (feedparser's corpus file big5.xml, mutated): feedparser raised."""
    from pipeline.settings import Settings

    with pytest.raises((ValueError, LookupError)):
        feedparser.parse(body)
    parsed = parse_feed("bad", body, "", Settings(config_dir=None, db_path=None, data_dir=None))  # type: ignore[arg-type]
    assert parsed.entries == [] and parsed.error and parsed.error.startswith("unreadable feed")
