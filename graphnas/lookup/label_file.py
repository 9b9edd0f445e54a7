"""Labelled architectures from a file, for ``graphnas predict``: which architecture of a space scored what.

Two formats, by extension:

* ``.json``: a list of objects, each with ``accuracy`` (a number) and the architecture as ``ops`` (a list of
  operator names, one per choice edge in order, as ``Architecture.ops`` and the ``ops`` of
  ``graphnas lookup --json``) or ``hash`` (``Architecture.hash`` in this space); or one object mapping hashes
  to accuracies.
* ``.csv``: a header row with ``accuracy`` and ``ops`` (operator names separated by spaces) or ``hash``.

The file is untrusted: at most :data:`MAX_BYTES`, every row checked (a finite number, an architecture of the
space, each architecture once), and the first bad row named in one line.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..errors import GraphnasError, PredictorError

__all__ = ["read_labels", "MAX_BYTES", "MIN_LABELS"]

MAX_BYTES = 64 << 20
#: Fewer labels than this cannot train a predictor (``graphnas predict`` refuses them).
MIN_LABELS = 8
_FIX = "give a .json list of {\"ops\": [...], \"accuracy\": x} (or \"hash\") or a .csv with columns ops (or hash) and accuracy"


def _rows(path: Path, text: str) -> list[tuple[str, object, object]]:
    """``(where, key, accuracy)`` per row, key ``("ops", list)`` or ``("hash", str)``."""
    if path.suffix.lower() == ".json":
        def unique(pairs):
            keys = [k for k, _ in pairs]
            if len(set(keys)) != len(keys):
                twice = next(k for k in keys if keys.count(k) > 1)
                raise PredictorError(f"labels file {path} gives key {twice[:40]!r} twice in one object; label each "
                                     f"architecture once")
            return dict(pairs)

        try:
            data = json.loads(text, object_pairs_hook=unique)
        except PredictorError:  # the repeated key, raised by the hook: its own line
            raise
        except (ValueError, RecursionError) as e:
            why = "nested too deeply" if isinstance(e, RecursionError) else " ".join(str(e).split())[:120]
            raise PredictorError(f"labels file {path} is not valid JSON ({why}); {_FIX}") from None
        if isinstance(data, dict):
            return [(f"hash {k!r}", ("hash", k), v) for k, v in data.items()]
        if not isinstance(data, list):
            raise PredictorError(f"labels file {path} holds a {type(data).__name__}; {_FIX}")
        out = []
        for i, item in enumerate(data):
            where = f"entry {i}"
            if not isinstance(item, dict) or "accuracy" not in item or ("ops" in item) == ("hash" in item):
                raise PredictorError(f"labels file {path}, {where}: needs accuracy and one of ops or hash; {_FIX}")
            key = ("ops", item["ops"]) if "ops" in item else ("hash", item["hash"])
            out.append((where, key, item["accuracy"]))
        return out
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        fields = reader.fieldnames or []
        if "accuracy" not in fields or ("ops" in fields) == ("hash" in fields):
            raise PredictorError(f"labels file {path} has columns {fields}; it needs accuracy and one of ops or hash")
        column = "ops" if "ops" in fields else "hash"
        out = []
        for i, row in enumerate(reader):
            value = row.get("accuracy")
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass
            key = (column, (row.get(column) or "").split() if column == "ops" else (row.get(column) or "").strip())
            out.append((f"line {i + 2}", key, value))
        return out
    raise PredictorError(f"labels file {path} must end in .json or .csv; {_FIX}")


def read_labels(path, space) -> dict[int, float]:
    """``space.index`` -> accuracy of every architecture labelled in ``path`` (module doc).

    Raises:
        PredictorError: one line naming the file and its first bad row: unreadable, too large, an unknown
            format, an accuracy that is not a finite number, an architecture not of ``space``, a repeated
            architecture, or fewer than :data:`MIN_LABELS` labels.
    """
    from ..files import regular_file

    path = regular_file(path, "labels file", _FIX, PredictorError)
    if path.stat().st_size > MAX_BYTES:
        raise PredictorError(f"labels file {path} is larger than {MAX_BYTES >> 20} MiB; {_FIX}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PredictorError(f"labels file {path} cannot be read as UTF-8 text ({e}); {_FIX}") from None
    rows = _rows(path, text)
    hashes = [key for _, (kind, key), _ in rows if kind == "hash"]
    by_hash = _hash_index(space, hashes) if hashes else {}
    labels: dict[int, float] = {}
    first: dict[int, str] = {}
    for where, (kind, key), value in rows:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PredictorError(f"labels file {path}, {where}: accuracy {value!r} is not a finite number")
        if kind == "ops":
            if not isinstance(key, list) or not all(isinstance(op, str) for op in key):
                raise PredictorError(f"labels file {path}, {where}: ops must be a list of operator names")
            try:
                index = space.index(space.from_ops(key))
            except GraphnasError as e:
                raise PredictorError(f"labels file {path}, {where}: {e}") from None
        else:
            if not isinstance(key, str) or key not in by_hash:
                raise PredictorError(f"labels file {path}, {where}: hash {str(key)[:40]!r} is not an architecture of "
                                     f"space '{space.name}' (hashes depend on the space and its scale)")
            index = by_hash[key]
        if index in labels:
            raise PredictorError(f"labels file {path}, {where}: the architecture of {first[index]} again; label each "
                                 f"architecture once")
        labels[index], first[index] = float(value), where
    if len(labels) < MIN_LABELS:
        raise PredictorError(f"labels file {path} labels {len(labels)} architectures; a predictor needs at least "
                             f"{MIN_LABELS}")
    return labels


def _hash_index(space, wanted: list, chunk: int = 1 << 16) -> dict[str, int]:
    """Index of every wanted hash found in ``space`` (hashes of the whole space computed in chunks)."""
    from .encoding import arch_hashes
    from ..space.encoding import choices_of, size_of

    want = {h for h in wanted if isinstance(h, str)}
    found: dict[str, int] = {}
    n = size_of(space)
    for lo in range(0, n, chunk):
        ids = np.arange(lo, min(n, lo + chunk), dtype=np.int64)
        for i, h in zip(ids.tolist(), arch_hashes(space, choices_of(space, ids))):
            if h in want:
                found[h] = i
        if len(found) == len(want):
            break
    return found
