"""Value compression and the metadata's stored form."""

from __future__ import annotations

import json
import zlib

from services.cache.model import EntryMeta

_LEVEL = 6  # zlib's default: most of the gain for little CPU


def compress(value: bytes, min_bytes: int) -> tuple[bytes, bool]:
    """(data, compressed): zlib when `value` is at least `min_bytes` long and
    compressing actually makes it smaller (already-compressed data would grow)."""
    if len(value) < min_bytes:
        return value, False
    packed = zlib.compress(value, _LEVEL)
    if len(packed) >= len(value):
        return value, False
    return packed, True


def decompress(data: bytes, compressed: bool) -> bytes:
    return zlib.decompress(data) if compressed else data


def meta_to_json(meta: EntryMeta) -> bytes:
    return json.dumps(
        {
            "backend": meta.backend,
            "model": meta.model,
            "latency_s": meta.original_latency_s,
            "cost_usd": meta.cost_usd,
            "prompt_tokens": meta.prompt_tokens,
            "completion_tokens": meta.completion_tokens,
            "namespaces": list(meta.namespaces),
        },
        separators=(",", ":"),
    ).encode()


def meta_from_json(raw: bytes) -> EntryMeta:
    data = json.loads(raw)
    return EntryMeta(
        backend=str(data.get("backend", "")),
        model=str(data.get("model", "")),
        original_latency_s=float(data.get("latency_s", 0.0)),
        cost_usd=float(data.get("cost_usd", 0.0)),
        prompt_tokens=int(data.get("prompt_tokens", 0)),
        completion_tokens=int(data.get("completion_tokens", 0)),
        namespaces=tuple(str(n) for n in data.get("namespaces", ())),
    )
