"""Content-Encoding decoders that stop at a cap on decoded bytes (gzip/brotli bombs stay bounded)."""
from __future__ import annotations

import zlib
from typing import Iterable, Iterator

import brotli


class TooLarge(Exception):
    """Decoded output passed the cap."""


class UnsupportedEncoding(Exception):
    pass


def _zlib_chunks(raw: Iterable[bytes], wbits: int, step: int) -> Iterator[bytes]:
    d = zlib.decompressobj(wbits)
    for chunk in raw:
        data = chunk
        while data:
            out = d.decompress(data, step)
            if out:
                yield out
            data = d.unconsumed_tail
            if d.eof:
                # concatenated gzip members are legal; anything after the last one is ignored
                rest = d.unused_data
                if not rest:
                    break
                d = zlib.decompressobj(wbits)
                data = rest
    tail = d.flush()
    if tail:
        yield tail


def _brotli_chunks(raw: Iterable[bytes], step: int) -> Iterator[bytes]:
    d = brotli.Decompressor()
    for chunk in raw:
        out = d.process(chunk, output_buffer_limit=step)
        if out:
            yield out
        while not d.can_accept_more_data():
            out = d.process(b"", output_buffer_limit=step)
            if not out:
                break
            yield out


def decoded(raw: Iterable[bytes], encoding: str, cap: int, step: int = 256 * 1024) -> bytes:
    """Decode a raw body stream; raise TooLarge as soon as the decoded size passes `cap`."""
    codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip() and c.strip().lower() != "identity"]
    if len(codings) > 1:
        raise UnsupportedEncoding(f"stacked content-encodings {encoding!r}")
    coding = codings[0] if codings else ""
    if coding in ("gzip", "x-gzip"):
        chunks: Iterable[bytes] = _zlib_chunks(raw, 16 + zlib.MAX_WBITS, step)
    elif coding == "deflate":
        chunks = _zlib_chunks(raw, zlib.MAX_WBITS, step)  # zlib-wrapped, as RFC 9110 says
    elif coding == "br":
        chunks = _brotli_chunks(raw, step)
    elif coding == "":
        chunks = raw
    else:
        raise UnsupportedEncoding(f"unsupported content-encoding {coding!r}")
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > cap:
            raise TooLarge(f"response larger than {cap} bytes (decoded)")
    return bytes(body)
