"""A local webhook receiver (json:// and Mattermost/Slack-style posts) for the demo and the tests."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: "WebhookReceiver"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            payload: Any = json.loads(raw or b"{}")
        except ValueError:
            payload = {"raw": raw.decode("utf-8", "replace")}
        status = self.server.status
        with self.server.lock:
            self.server.attempts += 1
            if status < 300:
                self.server.received.append({"path": self.path, "payload": payload, "at": time.time()})
        body = b"ok" if status < 300 else b""       # Slack's webhook answers "ok"; apprise checks it
        self.send_response(status)
        if status == 429 and self.server.retry_after is not None:
            self.send_header("Retry-After", self.server.retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WebhookReceiver(ThreadingHTTPServer):
    """Records every accepted POST; set `status` to 500 to play a failing channel, or to 429 with
    `retry_after` to play a rate-limited one."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.status = 200
        self.retry_after: str | None = None
        self.attempts = 0

    def start(self) -> "WebhookReceiver":
        threading.Thread(target=self.serve_forever, name="webhook", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> "WebhookReceiver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def apprise_url(self) -> str:
        host, port = self.server_address[:2]
        return f"json://{host}:{port}/hook"
