"""Make untrusted text safe to store: valid UTF-8, no NULs or control characters, no markup."""
from __future__ import annotations

import html
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_TAGS = re.compile(r"<[^>]{0,2000}>")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def clean_text(value: str | None) -> str:
    if not value:
        return ""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", value).strip()


def html_to_text(value: str | None) -> str:
    """Feed summaries arrive as HTML fragments: drop tags, unescape entities, squeeze spaces."""
    text = html.unescape(_TAGS.sub(" ", value or ""))
    return clean_text(_SPACES.sub(" ", text))
