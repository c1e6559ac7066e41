"""Canonical URLs and the stable keys articles and actors are known by."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit

from courlan import normalize_url


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, default port and fragment dropped, tracking parameters stripped."""
    try:
        return normalize_url(url.strip(), strict=True)
    except Exception:  # courlan raises assorted errors on odd input; fall back to the raw URL
        return url.strip()


def source_domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def short_hash(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def article_key(canonical: str | None, guid: str | None, content: str) -> str:
    """Natural key: canonical URL, else the feed's GUID, else a hash of the content."""
    if canonical:
        return short_hash("url", canonical)
    if guid:
        return short_hash("guid", guid)
    return short_hash("content", content)


def fold(text: str) -> str:
    """ASCII-fold and lower-case ("Zelenskyy" stays, "Šefčovič" -> "sefcovic")."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).lower()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")
