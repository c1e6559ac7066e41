"""Shared fixtures: hermetic Airflow env, the demo site (with faults), a webhook receiver, one spaCy load."""
from __future__ import annotations

import os
import tempfile
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pipeline.demo.site import send_response

ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="newsmon-airflow-"))
# Must be set before anything imports airflow (see shared/AIRFLOW.md).
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "NEWSMON_ALLOW_PRIVATE_NETWORKS": "1",
    "NEWSMON_DATA_DIR": str(_AIRFLOW_HOME / "newsmon-data"),
    "NEWSMON_CACHE_DIR": str(_AIRFLOW_HOME / "newsmon-cache"),   # not the user's ~/.cache
    "NEWSMON_FETCH_TIMEOUT": "5",
    # our own loopback servers: no politeness gap, and every feed is due at every cycle
    "NEWSMON_HOST_MIN_GAP": "0",
    "NEWSMON_POLL_MIN_INTERVAL": "0",
    "NEWSMON_POLL_INITIAL_INTERVAL": "0",
})


_BOMBS: dict[str, bytes] = {}


def _bomb(kind: str) -> bytes:
    """100 MB of zeros, gzip- or brotli-compressed (built once per test session)."""
    if kind not in _BOMBS:
        import zlib

        import brotli

        if kind == "gzip":
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            _BOMBS[kind] = b"".join(c.compress(b"\0" * 1_000_000) for _ in range(100)) + c.flush()
        else:
            _BOMBS[kind] = brotli.compress(b"\0" * 100_000_000, quality=1)
    return _BOMBS[kind]


_PARAGRAPH = ("Negotiators met again on {n} February to discuss a ceasefire along the front line. "
              "Officials said the talks covered prisoner exchanges, the protection of ports and the role of foreign "
              "peacekeepers after any truce. Diplomats described the mood as cautious but constructive, and said a "
              "further round was likely before the end of the month. ")


def fault_page(n: int, extra: str = "") -> bytes:
    body = "".join(f"<p>{_PARAGRAPH.format(n=n)} Paragraph {i} of report {n}.</p>" for i in range(4))
    return (f"<html lang='en'><head><title>Report {n}</title></head><body><nav>Home | World</nav>"
            f"<article><h1>Report {n} on the talks</h1>{extra}{body}</article><footer>(c) Faults</footer></body></html>"
            ).encode("utf-8")


def _rss(items: list[tuple[str, str, str]], channel_extra: str = "") -> bytes:
    body = "".join(f"<item><title>{t}</title><link>{link}</link><guid>{g}</guid></item>" for t, link, g in items)
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Faults</title>{channel_extra}"
            f"{body}</channel></rss>").encode("utf-8")


def _faults(handler: BaseHTTPRequestHandler, path: str) -> bool:
    """Misbehaving routes on every demo outlet, for the reliability tests."""
    host, port = handler.server.server_address[:2]
    base = f"http://{host}:{port}"
    state = handler.server.site.fault_state

    def send(status: int, body: bytes, ctype: str = "text/html", extra: dict | None = None) -> None:
        send_response(handler, status, body, ctype, extra)

    def stream_forever(chunk: bytes, ctype: str = "text/html") -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", ctype)
        handler.end_headers()   # no Content-Length: the body runs until we stop
        try:
            while True:
                handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, OSError):
            handler.close_connection = True

    rss = "application/rss+xml"
    if path == "/faults/malformed.xml":
        send(200, b"<?xml version='1.0'?><rss><channel><title>Broken</title><item><title>oops</ti", rss)
    elif path == "/faults/bad-links.xml":
        items = "".join(
            f"<item><title>{t}</title><link>{base}{p}</link><guid>{p}</guid>"
            f"<description>{d}</description></item>"
            for t, p, d in [
                ("Missing page on the ceasefire", "/faults/missing.html", "A summary about the ceasefire talks."),
                ("A PDF about peacekeepers", "/faults/report.pdf", "The summary of a report on peacekeepers."),
            ])
        send(200, f"<?xml version='1.0'?><rss version='2.0'><channel><title>Faulty</title>{items}</channel></rss>".encode(),
             rss)
    elif path == "/faults/missing.html":
        send(404, b"<html><body>gone</body></html>")
    elif path == "/faults/report.pdf":
        send(200, b"%PDF-1.4 not html", "application/pdf")
    elif path == "/faults/big":
        send(200, b"<html>" + b"x" * (3 * 1024 * 1024) + b"</html>")
    elif path == "/faults/endless":
        stream_forever(b"<p>" + b"y" * 65536 + b"</p>")
    elif path in ("/faults/gzip-bomb", "/faults/br-bomb"):
        kind = "gzip" if "gzip" in path else "br"
        send(200, _bomb(kind), "text/html", {"Content-Encoding": kind})
    elif path.startswith("/faults/redirect/"):
        n = int(path.rsplit("/", 1)[1])
        send(302, b"", extra={"Location": f"/faults/redirect/{n + 1}"})
    elif path == "/faults/redirect-to-file":
        send(302, b"", extra={"Location": "file:///etc/passwd"})
    elif path.startswith("/faults/redirect-to/"):
        send(302, b"", extra={"Location": "http://" + path.removeprefix("/faults/redirect-to/")})
    elif path == "/faults/drip":
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass
    elif path == "/faults/drip-headers":
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for i in range(60):
                handler.wfile.write(b"X-Drip-%d: 1\r\n" % i)
                handler.wfile.flush()
                time.sleep(0.25)
        except (BrokenPipeError, ConnectionResetError):
            pass
        handler.close_connection = True
    elif path == "/faults/429.xml":
        send(429, b"slow down", "text/plain", {"Retry-After": "120"})
    elif path == "/faults/503-date.xml":
        send(503, b"maintenance", "text/plain", {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    elif path == "/faults/flaky.xml":
        if state["flaky_failing"]:
            send(500, b"boom", "text/plain")
        else:
            send(200, _rss([("Flaky but fine", f"{base}/faults/page/1.html", "flaky-1")]), rss)
    elif path == "/faults/laughs.xml":
        lol = "<!ENTITY lol0 'lol'>" + "".join(f"<!ENTITY lol{i} '{('&lol' + str(i - 1) + ';') * 10}'>" for i in range(1, 10))
        body = (f"<?xml version='1.0'?><!DOCTYPE rss [{lol}<!ENTITY ext SYSTEM 'file:///etc/passwd'>]>"
                f"<rss version='2.0'><channel><title>&lol9;</title><item><title>&ext;</title>"
                f"<link>{base}/faults/page/7.html</link></item></channel></rss>")
        send(200, body.encode(), rss)
    elif path == "/faults/bad-charset.xml":
        body = (b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Bad \xff\xfe bytes</title>"
                b"<item><title>Truce\x00 talks \x07resume \xc3\x28 in Geneva</title>"
                b"<link>" + base.encode() + b"/faults/latin1.html</link>"
                b"<description>Caf\xe9 diplomacy \x01 continues</description></item></channel></rss>")
        send(200, body, "application/rss+xml; charset=utf-8")
    elif path == "/faults/latin1.html":
        send(200, fault_page(9, "<p>Caf\u00e9 talks \u0000 continued.</p>").replace("Caf\u00e9".encode(), b"Caf\xe9"),
             "text/html; charset=utf-8")
    elif path == "/faults/same-guid.xml":
        send(200, _rss([(f"Story {i}", f"{base}/faults/page/{i}.html", "always-the-same") for i in (1, 2, 3)]), rss)
    elif path == "/faults/flip-guid.xml":
        state["flip"] += 1
        send(200, _rss([("Stable link", f"{base}/faults/page/4.html?utm_source=rss&utm_medium=feed",
                         f"guid-{state['flip']}")]), rss)
    elif path == "/faults/huge-feed.xml":
        items = [(f"Item {i}", f"{base}/faults/page/{i}.html", f"g{i}") for i in range(100_000)]
        send(200, _rss(items), rss)
    elif path == "/faults/long-url.xml":
        send(200, _rss([("Long", f"{base}/faults/page/5.html?q=" + "a" * 10_000, "long"),
                        ("Fine", f"{base}/faults/page/6.html", "fine")]), rss)
    elif path == "/faults/heavy-pages.xml":
        send(200, _rss([("Nested", f"{base}/faults/nested.html", "nested"),
                        ("Twenty MB", f"{base}/faults/twenty-mb.html", "twenty")]), rss)
    elif path == "/faults/nested.html":
        send(200, b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>")
    elif path == "/faults/twenty-mb.html":
        send(200, fault_page(8) + b"<!--" + b"z" * 20_000_000 + b"-->")
    elif path.startswith("/faults/page/"):
        send(200, fault_page(int(path.rsplit("/", 1)[1].split(".")[0])))
    else:
        return False
    return True


@pytest.fixture
def demo_site():
    from pipeline.demo.site import DemoSite

    with DemoSite(fault_handler=_faults) as site:
        site.fault_state = {"flaky_failing": False, "flip": 0}
        yield site


@pytest.fixture
def webhook():
    from pipeline.demo.webhook import WebhookReceiver

    with WebhookReceiver().start() as hook:
        yield hook


@pytest.fixture(scope="session")
def default_config():
    from pipeline.config import load_config

    return load_config(ROOT / "config")


@pytest.fixture(scope="session")
def annotator(default_config):
    from pipeline.nlp import Annotator

    return Annotator.build(default_config)


@pytest.fixture
def settings(tmp_path):
    from pipeline.settings import Settings

    return Settings(config_dir=tmp_path / "config", db_path=tmp_path / "newsmon.duckdb", data_dir=tmp_path / "data",
                    allow_private_networks=True, fetch_timeout=5.0, host_min_gap=0.0, poll_min_interval=0.0,
                    poll_initial_interval=0.0)


def write_config(folder: Path, feeds_yaml: str, alerts_yaml: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feeds.yaml").write_text(feeds_yaml)
    if alerts_yaml is not None:
        (folder / "alerts.yaml").write_text(alerts_yaml)
    return folder


BACKENDS = ("duckdb", "ducklake")


def open_test_store(tmp_path: Path, backend: str, name: str = "m"):
    """A fresh store of the given backend in tmp_path (the storage tests run on both)."""
    from pipeline import store
    from pipeline.settings import Settings

    return store.open_store(Settings(config_dir=tmp_path, db_path=tmp_path / f"{name}.duckdb", data_dir=tmp_path,
                                     storage=backend))


# --- a throwaway PostgreSQL server for DuckLake catalogs -------------------------------------------

@pytest.fixture(scope="session")
def postgres_server():
    """Yields a function that creates a new empty database on a session-wide PostgreSQL server and
    returns its DuckLake catalog string (tests/postgres.py). Skips when PostgreSQL is not installed,
    unless NEWSMON_REQUIRE_POSTGRES=1 (.ci/run installs it and sets that)."""
    from tests.postgres import PostgresUnavailable, postgres_server as server

    try:
        with server() as new_catalog:
            yield new_catalog
    except PostgresUnavailable as exc:
        if os.environ.get("NEWSMON_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{exc} but NEWSMON_REQUIRE_POSTGRES=1")
        pytest.skip(f"{exc} (.ci/run installs it and sets NEWSMON_REQUIRE_POSTGRES=1)")
