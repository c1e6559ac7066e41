"""Shared fixtures: hermetic Airflow env, the demo site (with faults), a webhook receiver, one spaCy load."""
from __future__ import annotations

import os
import tempfile
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

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
    "NEWSMON_FETCH_TIMEOUT": "5",
    # our own loopback servers: no politeness gap, and every feed is due at every cycle
    "NEWSMON_HOST_MIN_GAP": "0",
    "NEWSMON_POLL_MIN_INTERVAL": "0",
    "NEWSMON_POLL_INITIAL_INTERVAL": "0",
})


def _faults(handler: BaseHTTPRequestHandler, path: str) -> bool:
    """Misbehaving routes on every demo outlet, for the reliability tests."""
    base = f"http://{handler.server.server_address[0]}:{handler.server.server_address[1]}"

    def send(status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(body)

    if path == "/faults/malformed.xml":
        send(200, b"<?xml version='1.0'?><rss><channel><title>Broken</title><item><title>oops</ti", "application/rss+xml")
    elif path == "/faults/bad-links.xml":
        items = "".join(
            f"<item><title>{t}</title><link>{base}{p}</link><guid>{p}</guid>"
            f"<description>{d}</description></item>"
            for t, p, d in [
                ("Missing page on the ceasefire", "/faults/missing.html", "A summary about the ceasefire talks."),
                ("A PDF about peacekeepers", "/faults/report.pdf", "The summary of a report on peacekeepers."),
            ])
        send(200, f"<?xml version='1.0'?><rss version='2.0'><channel><title>Faulty</title>{items}</channel></rss>".encode(),
             "application/rss+xml")
    elif path == "/faults/missing.html":
        send(404, b"<html><body>gone</body></html>", "text/html")
    elif path == "/faults/report.pdf":
        send(200, b"%PDF-1.4 not html", "application/pdf")
    elif path == "/faults/big":
        send(200, b"<html>" + b"x" * (3 * 1024 * 1024) + b"</html>", "text/html")
    elif path.startswith("/faults/redirect/"):
        n = int(path.rsplit("/", 1)[1])
        handler.send_response(302)
        handler.send_header("Location", f"/faults/redirect/{n + 1}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
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
    else:
        return False
    return True


@pytest.fixture
def demo_site():
    from pipeline.demo.site import DemoSite

    with DemoSite(fault_handler=_faults) as site:
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
