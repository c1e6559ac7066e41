"""The extraction worker's side: trafilatura on one page under a time limit, plus language and
SimHash. Spawned extraction workers import only this module (trafilatura, py3langid and numpy), not
the caller's HTTP, database and Arrow stack. With py3langid's model read from its decompressed copy
(pipeline/language.py) a worker starts in 0.35 CPU-s; it took 0.8 with the full stack."""
from __future__ import annotations

import html as htmllib
import re
import signal
from typing import Any

from pipeline.language import detect_language
from pipeline.simhash import simhash

MAX_TREE_SIZE = 50_000  # trafilatura gives up on deeper/larger trees


class _TimeUp(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _TimeUp()


_CONFIG: Any = None


def _config() -> Any:
    """trafilatura's settings with our tree-size cap (its keyword for that is deprecated)."""
    global _CONFIG
    if _CONFIG is None:
        from trafilatura.settings import use_config

        _CONFIG = use_config()
        _CONFIG.set("DEFAULT", "MAX_TREE_SIZE", str(MAX_TREE_SIZE))
    return _CONFIG


def _warm() -> None:
    """Pay the one-time imports (trafilatura, htmldate's dateparser) once per worker."""
    extract_in_worker(b"<html><body><article><p>" + b"Warm up text. " * 40 + b"</p></article></body></html>",
                      "http://localhost/", 30.0)


_OG_SITE = re.compile(rb"<meta[^>]+property=[\"']og:site_name[\"'][^>]*content=[\"']([^\"'<>]{1,200})", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>([^<]{1,500})</title>", re.IGNORECASE)


def extract_in_worker(html: bytes, url: str, time_limit: float, need_metadata: bool = True) -> dict[str, Any]:
    """trafilatura on one page under a time limit, plus language and SimHash; returns plain data only.

    Full metadata extraction (htmldate and friends) halves the throughput, so it runs only when the
    feed did not give a date; title and site name come from the feed and the page head otherwise.
    """
    import trafilatura

    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, fast=True, include_comments=False, include_tables=False, with_metadata=need_metadata,
            config=_config(),
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except _TimeUp:
        return {"error": f"extraction took longer than {time_limit:g}s"}
    except Exception as exc:  # trafilatura raises assorted errors on hostile input
        return {"error": f"extraction failed: {type(exc).__name__}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if doc is None:
        return {"text": ""}
    text = doc.text or ""
    head = html[:65536]
    site = _OG_SITE.search(head)
    title = _TITLE.search(head)
    return {
        "text": text,
        "title": doc.title if need_metadata else None,
        "page_title": htmllib.unescape(title.group(1).decode("utf-8", "replace")).strip() if title else None,
        "date": doc.date if need_metadata else None,
        "sitename": (doc.sitename if need_metadata else None)
        or (htmllib.unescape(site.group(1).decode("utf-8", "replace")) if site else None),
        "language": detect_language(text, html),
        "simhash": simhash(text),
    }


def extract_batch_in_worker(pages: list[tuple[bytes, str, float, bool]]) -> list[dict[str, Any]]:
    """extract_in_worker for each page of a batch (each under its own time limit)."""
    return [extract_in_worker(*page) for page in pages]
