"""Canonical JSON, its SHA-256 checksum, and the compressed storage form of a raw payload.

The checksum is over the payload serialised with sorted keys, no whitespace, UTF-8 — the form
the design fixes so a decision can cite exactly which chain it read. That same canonical byte
string is what we store (zstd-compressed): decompressing it and hashing gives the checksum back,
so every stored payload is verifiable, and ``json.loads`` of it gives the payload as received.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import zstandard

ZSTD_LEVEL = 6


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def checksum_of(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def compress(canonical: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(canonical)


def decompress(blob: bytes | memoryview) -> bytes:
    return zstandard.ZstdDecompressor().decompress(bytes(blob))


def sha256_of(value: Any) -> str:
    """SHA-256 of ``value``'s canonical JSON: the one hash of snapshots, run params and datasets."""
    return checksum_of(canonical_json(value))
