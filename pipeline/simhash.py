"""64-bit SimHash of a text's word shingles (numpy only: extraction workers compute it)."""
from __future__ import annotations

import zlib

import numpy as np

_MASK = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised: spreads every input bit over all 64 output bits."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def simhash(text: str, shingle: int = 3) -> int | None:
    """SimHash of a text's word shingles, or None when the text is too short to judge.

    Words are whitespace tokens of the lower-cased text, hashed with CRC-32 (stable across processes,
    unlike hash()) and mixed to 64 bits; shingle hashes combine rotated word hashes. All vectorised.
    """
    words = text.lower().encode().split()
    if len(words) < 30:
        return None
    word_hash = _mix(np.fromiter(map(zlib.crc32, words), dtype=np.uint64, count=len(words)))
    n = len(words) - shingle + 1
    mixed = word_hash[:n].copy()
    for k in range(1, shingle):
        part, r = word_hash[k:k + n], np.uint64(21 * k)
        mixed ^= (part << r) | (part >> (np.uint64(64) - r))
    mixed = np.unique(_mix(mixed))
    bits = np.unpackbits(mixed.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    votes = bits.sum(axis=0, dtype=np.int64) * 2 - len(mixed)
    return int.from_bytes(np.packbits(votes > 0).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & _MASK).bit_count()
