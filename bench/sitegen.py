"""A synthetic news site for benchmarks: many feeds, real-size article pages (~30 KB HTML, ~900 words).

One sentence slot in ten holds a paragraph of the demo's articles (on the tracked topics); the rest
are ordinary news sentences (bench/nlpcorpus.py), as in a general news feed.
"""
from __future__ import annotations

import hashlib
import socket
import random
import threading
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.demo.site import load_content, send_response

from bench.nlpcorpus import FILLER

_TOPIC = [p for a in load_content()[1] for p in a.paragraphs]
TOPIC_SHARE = 0.1
_BOILER = ("<div class='cookie'>We use cookies. <button>Accept</button></div><header><nav><ul>"
           + "".join(f"<li class='n'><div><a href='/s{i}'><span>Section {i}</span></a><ul>"
                     + "".join(f"<li><a href='/s{i}/{j}'>Sub {j}</a></li>" for j in range(6)) + "</ul></div></li>"
                     for i in range(25)) + "</ul></nav></header>")
_FOOTER = "<footer>" + "".join(f"<p><a href='/f{i}'>Footer link {i}</a> | About | Contact</p>" for i in range(30)) + "</footer>"
_RELATED = "<aside><h2>Related</h2><ul>" + "".join(
    f"<li><div class='card'><img src='/i{i}.jpg' alt='photo {i}'><div><a href='/r{i}'>Related story number {i} "
    f"about the region and its politics</a><p><span>World</span> <time>2 hours ago</time></p></div></div></li>"
    for i in range(40)) + "</ul></aside>"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def article_html(n: int, words: int = 900) -> bytes:
    rnd = random.Random(n)
    paras, count = [], 0
    while count < words:
        para = " ".join(rnd.choice(_TOPIC if rnd.random() < TOPIC_SHARE else FILLER)
                        for _ in range(rnd.randint(2, 4)))
        words_ = para.split()
        k = rnd.randrange(len(words_))
        words_[k] = f"<a href='/topic/{k}'><em>{words_[k]}</em></a>"
        paras.append(f"<div class='para'><p>{' '.join(words_)}</p></div>")
        count += len(para.split())
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story {n}</title>"
            f"<meta property='og:site_name' content='Bench Times'><meta property='article:published_time' "
            f"content='{(START + timedelta(minutes=n)).isoformat()}'>"
            + "<style>" + "body{margin:0} " * 200 + "</style></head><body>" + _BOILER
            + f"<main><article><h1>Story {n}: diplomacy and the ceasefire</h1><p class='byline'>By Staff {n % 50}</p>"
            + "".join(paras) + "</article>" + _RELATED + "</main>" + _FOOTER + "</body></html>").encode()


def feed_xml(base: str, feed: int, items: int, first: int = 0) -> bytes:
    """Items `first` .. `first + items - 1` of a feed (raise `first` to publish new ones: dated now)."""
    rows = []
    now = datetime.now(timezone.utc)
    for i in range(items):
        n = feed * items + i if not first else feed * 1_000_000 + first + i
        when = START + timedelta(minutes=n) if not first else now - timedelta(seconds=i)
        rows.append(f"<item><title>Story {n}</title><link>{base}/a/{n}.html</link><guid>{base}/a/{n}.html</guid>"
                    f"<pubDate>{format_datetime(when)}</pubDate>"
                    f"<description>Summary of story {n} about the ceasefire talks.</description></item>")
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Feed {feed}</title>"
            f"<link>{base}/</link><description>bench</description>{''.join(rows)}</channel></rss>").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        path = self.path
        if path.startswith("/feed/"):
            n = int(path.split("/")[2].split(".")[0])
            body = srv.feeds.get(n)
            if body is None:
                body = srv.feeds[n] = feed_xml(srv.base, n, srv.items, srv.first)
            etag = '"' + hashlib.md5(body).hexdigest() + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(body, "application/rss+xml", {"ETag": etag})
        elif path.startswith("/a/"):
            n = int(path.split("/")[2].split(".")[0])
            self._send(srv.page(n), "text/html; charset=utf-8")
        else:
            self._send(b"not found", "text/plain", status=404)

    def _send(self, body: bytes, ctype: str, headers: dict | None = None, status: int = 200) -> None:
        send_response(self, status, body, ctype, headers)


class BenchSite(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, host: str, items: int, distinct_pages: int = 400):
        super().__init__((host, 0), _Handler)
        self.base = f"http://{host}:{self.server_address[1]}"
        self.items = items
        self.feeds: dict[int, bytes] = {}
        self.first = 0
        self._body: dict[int, int] = {}
        self._lock = threading.Lock()
        self._pages = [article_html(i) for i in range(distinct_pages)]

    def advance(self, items: int) -> None:
        """Every feed moves on by `items` new items."""
        self.first += items
        self.feeds = {}

    def page(self, n: int) -> bytes:
        # distinct text per URL (the number), a fixed pool of rendered bodies for speed; URLs get
        # bodies in the order they are first asked for, so up to `distinct_pages` URLs never share one
        with self._lock:
            body = self._pages[self._body.setdefault(n, len(self._body)) % len(self._pages)]
        return body.replace(b"Story ", f"Story {n} ".encode(), 1)


def serve(host: str, items: int, ready: "object", port_out: "object", distinct_pages: int = 400) -> None:
    site = BenchSite(host, items, distinct_pages)
    port_out.value = site.server_address[1]
    ready.set()
    site.serve_forever()


def start_in_process(host: str, items: int, distinct_pages: int = 400) -> BenchSite:
    site = BenchSite(host, items, distinct_pages)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site
