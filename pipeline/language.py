"""An article's language: py3langid on its text, or the page's `<html lang>` when the text is short.

py3langid ships its model LZMA-compressed, and decompressing it costs 0.34 of the 0.48 CPU-s its
first use takes: every extraction worker pays that at start, while the spaCy workers load on the
same cores. The first process to need the model therefore keeps the decompressed copy (the same
npz, 68 MB) in newsmon's cache folder, keyed by the model file's size and modification time;
later processes read it in 0.08 CPU-s. Any problem with the copy (unwritable folder, a truncated
or foreign file) falls back to py3langid's own loader, so the answer never depends on the cache.
"""
from __future__ import annotations

import logging
import os
import re
from array import array
from contextlib import suppress
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_LANG_ATTR = re.compile(rb"<html[^>]*\slang=[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_MODEL_KEYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_IDENTIFIER: Any = None


def detect_language(text: str, html: bytes | None = None) -> str | None:
    if len(text) >= 50:
        # 500 characters decide the language as well as 1,000 on news prose, at 40% of the cost
        return identifier().classify(text[:500])[0]
    match = _LANG_ATTR.search(html[:4096]) if html else None
    return match.group(1).decode().lower() if match else None


def identifier() -> Any:
    """This process's py3langid LanguageIdentifier (loaded once)."""
    global _IDENTIFIER
    if _IDENTIFIER is None:
        _IDENTIFIER = load_identifier(cache_dir())
    return _IDENTIFIER


def cache_dir() -> Path:
    """NEWSMON_CACHE_DIR, else $XDG_CACHE_HOME/newsmon, else ~/.cache/newsmon."""
    explicit = os.environ.get("NEWSMON_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsmon"


def load_identifier(folder: Path) -> Any:
    """py3langid's identifier from the decompressed copy in `folder`, made there first if missing."""
    from py3langid import langid

    source = langid.MODEL_DIR / langid.MODEL_FILE
    stat = source.stat()
    copy = folder / f"py3langid-{stat.st_size}-{stat.st_mtime_ns}.npz"
    try:
        if not copy.exists():
            _decompress(source, copy)
        return _from_npz(copy)
    except Exception as exc:  # whatever is wrong with the copy, the packaged model gives the answer
        log.warning("language model copy %s not usable (%s: %s); loading the packaged model "
                    "(0.3 CPU-s more per process; NEWSMON_CACHE_DIR sets the folder)", copy, type(exc).__name__, exc)
        with suppress(OSError):
            copy.unlink()             # the next process writes it again
        return langid.LanguageIdentifier.from_model_file(source)


def _decompress(source: Path, copy: Path) -> None:
    """The decompressed model, written under a temporary name and renamed into place, so a reader
    never sees half a file (two processes racing both write; the last rename wins, same bytes)."""
    import lzma
    import shutil

    copy.parent.mkdir(parents=True, exist_ok=True)
    partial = copy.with_name(f"{copy.name}.{os.getpid()}.partial")
    try:
        with lzma.open(source) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
        os.replace(partial, copy)
        for stale in copy.parent.glob("py3langid-*.npz"):   # copies of a model since upgraded
            if stale != copy:
                stale.unlink(missing_ok=True)
    finally:
        partial.unlink(missing_ok=True)


def _from_npz(path: Path) -> Any:
    """The identifier py3langid's loader would build from the same arrays."""
    import numpy as np
    from py3langid.langid import LanguageIdentifier

    with np.load(path, allow_pickle=False) as data:
        missing = set(_MODEL_KEYS).difference(data.files)
        if missing:
            raise ValueError(f"model arrays missing: {sorted(missing)}")
        return LanguageIdentifier(data["ptc"], data["pc"], data["classes"].tolist(), _uint_array(data["nextmove"]),
                                  data["out_feat"].tolist(), tk_row=_uint_array(data["nextmove_row"]))


def _uint_array(values: Any) -> array:
    """A stdlib array of the same unsigned integers (the DFA walk indexes it per byte; a stdlib
    array answers a Python-int index faster than numpy does)."""
    out = array({2: "H", 4: "I", 8: "L"}[values.dtype.itemsize])
    out.frombytes(values.tobytes())
    return out
