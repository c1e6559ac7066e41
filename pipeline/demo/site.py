"""Serve the demo outlets (RSS + article pages) on loopback, up to a movable cutoff date."""
from __future__ import annotations

import hashlib
import socket
import html
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import yaml

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PHASE_ONE_END = datetime(2026, 2, 14, 12, 0, tzinfo=timezone.utc)
TIMELINE_END = datetime(2026, 2, 27, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Outlet:
    key: str
    name: str
    host: str


@dataclass(frozen=True)
class DemoArticle:
    outlet: str
    slug: str
    date: datetime
    section: str
    title: str
    byline: str
    paragraphs: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/{self.section}/{self.date:%Y/%m/%d}/{self.slug}.html"


def load_content() -> tuple[list[Outlet], list[DemoArticle]]:
    outlets = [Outlet(**o) for o in yaml.safe_load((HERE / "outlets.yaml").read_text())["outlets"]]
    articles = []
    for a in yaml.safe_load((HERE / "articles.yaml").read_text())["articles"]:
        date = a["date"] if isinstance(a["date"], datetime) else datetime.fromisoformat(a["date"])
        articles.append(DemoArticle(a["outlet"], a["slug"], date.astimezone(timezone.utc), a["section"],
                                    a["title"], a["byline"], tuple(a["paragraphs"])))
    return outlets, sorted(articles, key=lambda a: a.date)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {outlet}</title>
<meta property="og:site_name" content="{outlet}"><meta property="og:title" content="{title}">
<meta property="article:published_time" content="{iso}"><meta name="author" content="{byline}">
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all</button> <a href="/privacy">Manage settings</a></div>
<header><a class="logo" href="/">{outlet}</a>
<nav><ul><li><a href="/world/">World</a></li><li><a href="/business/">Business</a></li><li><a href="/sports/">Sport</a></li><li><a href="/opinion/">Opinion</a></li><li><a href="/subscribe">Subscribe</a></li></ul></nav></header>
<main><article>
<h1>{title}</h1>
<p class="byline">By {byline} &middot; <time datetime="{iso}">{human}</time></p>
{body}
</article>
<aside class="related"><h2>Related stories</h2><ul>{related}</ul></aside>
<div class="newsletter">Sign up for our morning briefing: the day's top stories in your inbox.</div>
</main>
<footer><p>&copy; 2026 {outlet}. All rights reserved.</p><p><a href="/about">About us</a> | <a href="/contact">Contact</a> | <a href="/terms">Terms</a> | <a href="/privacy">Privacy policy</a></p></footer>
</body></html>
"""


def render_page(outlet: Outlet, article: DemoArticle, related: list[DemoArticle]) -> bytes:
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    rel = "".join(f'<li><a href="{r.path}">{html.escape(r.title)}</a></li>' for r in related)
    return _PAGE.format(title=html.escape(article.title), outlet=html.escape(outlet.name), iso=article.date.isoformat(),
                        human=f"{article.date:%d %B %Y, %H:%M} UTC", byline=html.escape(article.byline),
                        body=body, related=rel).encode("utf-8")


def render_feed(outlet: Outlet, base: str, articles: list[DemoArticle]) -> bytes:
    items = []
    for a in sorted(articles, key=lambda a: a.date, reverse=True):
        items.append(
            f"<item><title>{html.escape(a.title)}</title><link>{base}{a.path}</link>"
            f"<guid isPermaLink=\"true\">{base}{a.path}</guid><pubDate>{format_datetime(a.date)}</pubDate>"
            f"<category>{a.section}</category><description>{html.escape(a.paragraphs[0])}</description></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>{html.escape(outlet.name)}</title>'
            f"<link>{base}/</link><description>Latest news from {html.escape(outlet.name)}</description>"
            f"<language>en</language>{''.join(items)}</channel></rss>").encode("utf-8")


def send_response(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
                  headers: dict[str, str] | None = None) -> None:
    """One complete HTTP response (used by the demo site, the test faults and the bench site)."""
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    server: "_OutletServer"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug("%s %s", self.server.outlet.key, fmt % args)

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        send_response(self, status, body, ctype, headers)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        site, outlet = self.server.site, self.server.outlet
        path = self.path.split("?", 1)[0]
        site.requests.append((outlet.key, path))
        if path.startswith("/faults/") and site.fault_handler is not None:
            if site.fault_handler(self, path):
                return
        visible = site.visible(outlet.key)
        if path == "/feed.xml":
            body = render_feed(outlet, self.server.base_url, visible)
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            last = max((a.date for a in visible), default=PHASE_ONE_END)
            headers = {"ETag": etag, "Last-Modified": format_datetime(last, usegmt=True)}
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", headers=headers)
                return
            self._send(200, body, "application/rss+xml; charset=utf-8", headers)
            return
        for article in visible:
            if article.path == path:
                related = [a for a in visible if a is not article and a.section == article.section][-3:]
                self._send(200, render_page(outlet, article, related))
                return
        self._send(404, b"<html><body><h1>Page not found</h1></body></html>")


class _OutletServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client hung up (deadline, size cap): expected, not a server fault
        super().handle_error(request, client_address)

    def __init__(self, site: "DemoSite", outlet: Outlet, port: int):
        self.site, self.outlet = site, outlet
        super().__init__((outlet.host, port), _Handler)
        self.base_url = f"http://{outlet.host}:{self.server_address[1]}"


class DemoSite:
    """All outlets, each on its own loopback address; `cutoff` decides which articles are published."""

    def __init__(self, cutoff: datetime = PHASE_ONE_END,
                 fault_handler: Callable[[BaseHTTPRequestHandler, str], bool] | None = None):
        self.outlets, self.articles = load_content()
        self.cutoff = cutoff
        self.fault_handler = fault_handler
        self.requests: list[tuple[str, str]] = []
        self._servers: list[_OutletServer] = []

    def visible(self, outlet_key: str) -> list[DemoArticle]:
        return [a for a in self.articles if a.outlet == outlet_key and a.date <= self.cutoff]

    def start(self) -> "DemoSite":
        for outlet in self.outlets:
            server = _OutletServer(self, outlet, 0)
            threading.Thread(target=server.serve_forever, name=f"demo-{outlet.key}", daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> "DemoSite":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def base_url(self, outlet_key: str) -> str:
        return next(s.base_url for s in self._servers if s.outlet.key == outlet_key)

    def feeds_yaml(self) -> str:
        lines = ["feeds:"]
        for server in self._servers:
            lines += [f"  - name: demo-{server.outlet.key}", f"    url: {server.base_url}/feed.xml"]
        return "\n".join(lines) + "\n"
