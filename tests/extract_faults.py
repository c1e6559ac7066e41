"""Stand-ins for the extraction worker's batch function (imported by spawned workers by name):
echo each page's URL back, crash the worker on a page called `crash`, and hang in a way the
per-page alarm cannot interrupt on a page called `hang`."""
from __future__ import annotations

import os
import signal
import time


def echo_or_fail(pages: list[tuple[bytes, str, float, bool]]) -> list[dict]:
    out = []
    for _html, url, _limit, _meta in pages:
        if url == "crash":
            os._exit(3)
        if url == "hang":
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])   # as if stuck in C code
            time.sleep(3600)
        out.append({"text": url})
    return out
