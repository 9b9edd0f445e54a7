"""Content digests: what graphnas writes carries a digest of its content, checked when it is read back.

A byte flip inside a tensor or a table cell leaves a file that parses and passes every type and range
check, with other numbers in it: a silent wrong answer. Every file graphnas writes (checkpoints,
weights, latency and lookup tables) therefore stores :func:`content_digest` of its content, and every
reader recomputes it and refuses a mismatch with one line. The digest detects damage, not forgery
(whoever can edit the file can recompute it); forgery is what the type and range checks and "never
run code a file names" are for.

:func:`content_digest` hashes plain data exactly and unambiguously (every value is tagged with its
type, containers with their length): dicts (keys sorted by their text), lists and tuples, str,
bytes, int, float (IEEE bits, so ``-0.0`` and NaN payloads count), bool, None, numpy arrays and torch
tensors (dtype, shape and raw bytes). Large numeric columns should be passed as numpy arrays: they are
hashed in one call, not value by value.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

__all__ = ["content_digest", "DIGEST_CHARS"]

#: Length of the hexadecimal digests graphnas stores.
DIGEST_CHARS = 32


def content_digest(value: Any) -> str:
    """The hexadecimal SHA-256 (first :data:`DIGEST_CHARS` characters) of ``value``'s content."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:DIGEST_CHARS]


def _feed(h, value: Any) -> None:
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool):
        h.update(b"T" if value else b"F")
    elif isinstance(value, int):
        text = str(value).encode()
        h.update(b"i" + struct.pack("<Q", len(text)) + text)
    elif isinstance(value, float):
        h.update(b"f" + struct.pack("<d", value))
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s" + struct.pack("<Q", len(data)) + data)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        h.update(b"b" + struct.pack("<Q", len(data)) + data)
    elif isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: (type(kv[0]).__name__, str(kv[0])))
        h.update(b"d" + struct.pack("<Q", len(items)))
        for k, v in items:
            _feed(h, k)
            _feed(h, v)
    elif isinstance(value, (list, tuple)):
        h.update((b"l" if isinstance(value, list) else b"t") + struct.pack("<Q", len(value)))
        for v in value:
            _feed(h, v)
    elif isinstance(value, np.ndarray):
        _feed_array(h, b"a", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes())
    elif isinstance(value, np.generic):
        _feed(h, value.item())
    elif _is_tensor(value):
        import torch

        t = value.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        _feed_array(h, b"x", str(t.dtype), tuple(t.shape), raw)
    else:
        raise TypeError(f"content_digest: cannot hash a {type(value).__name__}")


def _feed_array(h, tag: bytes, dtype: str, shape: tuple, raw: bytes) -> None:
    head = f"{dtype}|{','.join(map(str, shape))}".encode()
    h.update(tag + struct.pack("<Q", len(head)) + head + struct.pack("<Q", len(raw)))
    h.update(raw)


def _is_tensor(value) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)
