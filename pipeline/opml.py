"""OPML import into feeds.yaml (appending, comments kept) and export from a config."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import quoteattr

from pipeline.config import ConfigError, FeedConfig, check_http_url
from pipeline.urls import slug

_DECL = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class ImportReport:
    added: list[tuple[str, str]]
    skipped: list[tuple[str, str]]   # (url or title, reason)


def parse_opml(data: bytes) -> list[tuple[str, str]]:
    """(title, xmlUrl) of every feed outline, nested folders included."""
    if _DECL.search(data[:65536]):
        raise ValueError("OPML with a DOCTYPE or entity declarations is refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not valid OPML: {exc}") from None
    out = []
    for node in root.iter("outline"):
        url = node.get("xmlUrl") or node.get("xmlurl")
        if url:
            out.append(((node.get("title") or node.get("text") or "").strip(), url.strip()))
    return out


def import_opml(opml_path: Path, feeds_yaml: Path, existing: Sequence[FeedConfig]) -> ImportReport:
    """Append new feeds to feeds.yaml as text, so the user's comments and layout stay as they are."""
    names = {f.name for f in existing}
    urls = {f.url for f in existing}
    added, skipped, lines = [], [], []
    for title, url in parse_opml(opml_path.read_bytes()):
        try:
            url = check_http_url(url)
        except ValueError as exc:
            skipped.append((url, str(exc)))
            continue
        if url in urls:
            skipped.append((url, "already in feeds.yaml"))
            continue
        base = slug(title)[:60].strip("-") or slug(url.split("//", 1)[-1])[:60].strip("-") or "feed"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        urls.add(url)
        added.append((name, url))
        lines.append(f"  - name: {name}\n    url: {_yaml_str(url)}\n")
    if lines:
        text = feeds_yaml.read_text(encoding="utf-8") if feeds_yaml.exists() else "feeds:\n"
        if not text.endswith("\n"):
            text += "\n"
        feeds_yaml.write_text(text + f"  # imported from {opml_path.name}\n" + "".join(lines), encoding="utf-8")
    return ImportReport(added, skipped)


def _yaml_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def export_opml(feeds: Sequence[FeedConfig], title: str = "newsmon feeds") -> str:
    body = "".join(f"    <outline type=\"rss\" text={quoteattr(f.name)} title={quoteattr(f.name)} "
                   f"xmlUrl={quoteattr(f.url)}/>\n" for f in feeds)
    return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head><title>{title}</title></head>\n"
            f"  <body>\n{body}  </body>\n</opml>\n")


def feeds_file(config_dir: Path) -> Path:
    path = config_dir / "feeds.yaml"
    if not config_dir.is_dir():
        raise ConfigError(str(config_dir), "", "config folder does not exist")
    return path
