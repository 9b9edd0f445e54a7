"""The SQLite file of a lookup table: schema, metadata, opening, creating and resuming (see :mod:`graphnas.lookup`)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LookupTableError

if TYPE_CHECKING:
    from ..cost.latency import LatencyModel
    from ..space import SearchSpace

__all__ = ["FORMAT", "BATCH", "COLUMNS", "ORDER", "SCHEMA", "INDEXES", "RESERVED", "HOW_TO_BUILD", "connect",
           "read_meta", "open_table", "space_meta", "latency_meta", "digest", "create", "resume"]

#: Format tag of graphnas lookup tables; a file with another is refused.
FORMAT = "graphnas-lookup-2"
#: Rows written per transaction while building.
BATCH = 50_000
#: Columns of a row, in the order of :class:`~graphnas.lookup.Row` (choices excepted).
COLUMNS = "idx, hash, predicted, measured, madds, params, latency"
#: The answer order: measured architectures first, by measured accuracy, then the others by predicted
#: accuracy; ties by index (deterministic).
ORDER = "tier DESC, score DESC, idx"
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE archs (
    idx INTEGER PRIMARY KEY,  -- mixed-radix rank of the choice vector (SearchSpace.index)
    hash TEXT NOT NULL,
    predicted REAL NOT NULL,
    measured REAL,
    madds REAL NOT NULL,
    params REAL NOT NULL,
    latency REAL,
    tier INTEGER NOT NULL,  -- 1 where measured is known, else 0: measured rows rank first
    score REAL NOT NULL);   -- measured where known, else predicted: the rank within a tier
"""
#: Made once all rows are in (faster than keeping them up to date row by row).
INDEXES = (
    "CREATE INDEX IF NOT EXISTS archs_rank ON archs(tier DESC, score DESC, idx, madds, params, latency)",
    "CREATE INDEX IF NOT EXISTS archs_madds ON archs(madds)",
    "CREATE INDEX IF NOT EXISTS archs_params ON archs(params)",
    "CREATE INDEX IF NOT EXISTS archs_latency ON archs(latency)",
)
RESERVED = {"format", "space", "root", "scale", "input_shape", "fingerprint", "size", "rows", "radices",
             "candidates", "in_degree", "latency", "inputs", "done", "complete", "created", "build_seconds", "batch"}
HOW_TO_BUILD = "build one with graphnas.lookup.LookupTable.build(path, space, predicted)"


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + ("?mode=ro" if readonly else "?mode=rw")
    return sqlite3.connect(uri, uri=True)


def read_meta(conn: sqlite3.Connection, path: Path) -> dict:
    """The meta table of ``conn``, or a LookupTableError naming what is wrong with the file."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "archs"} <= tables:
            raise LookupTableError(f"{path} is not a graphnas lookup table ({FORMAT}: no meta/archs tables); "
                                   f"{HOW_TO_BUILD}")
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
        raise LookupTableError(f"lookup table {path} is not a readable SQLite file ({e}); delete it and "
                               f"rebuild it ({HOW_TO_BUILD})") from None
    if meta.get("format") != FORMAT:
        raise LookupTableError(f"{path} is not a graphnas lookup table (format {meta.get('format')!r}, expected "
                               f"{FORMAT!r}); {HOW_TO_BUILD}")
    return meta


def open_table(path: Path, readonly: bool) -> tuple[sqlite3.Connection, dict]:
    """A connection to the lookup table at ``path`` and its meta, or a LookupTableError (nothing left open)."""
    try:
        conn = connect(path, readonly)
    except sqlite3.Error as e:
        raise LookupTableError(f"lookup table {path} cannot be opened ({e})") from None
    try:
        return conn, read_meta(conn, path)
    except BaseException:
        conn.close()
        raise


def space_meta(space: "SearchSpace") -> dict:
    from ..cost.latency import root_space

    return {"space": space.name, "root": root_space(space).name, "scale": json.loads(json.dumps(space.scale)),
            "input_shape": list(space.input_shape), "fingerprint": space.fingerprint, "size": space.size,
            "radices": space.radices.tolist(), "candidates": [list(e.candidates) for e in space.edges],
            "in_degree": bool(space.in_degree)}


def latency_meta(model: "LatencyModel | None") -> dict | None:
    if model is None:
        return None
    return {"device": model.device, "describe": model.describe_device(), "table": model.path, "batch": model.batch}


def digest(space, predicted, choices, measured, model, extra: dict, latency=None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([space.fingerprint, json.loads(json.dumps(space.scale)), extra], sort_keys=True,
                        default=str).encode())
    for a in (predicted, choices, measured, latency):
        h.update(b"-" if a is None else np.ascontiguousarray(a).tobytes())
    if model is not None:
        h.update(json.dumps([model.c0, model.c1, model.batch, model.device,
                             sorted((k, m.ms) for k, m in model.entries.items())], default=str).encode())
    return h.hexdigest()[:32]



def create(path: Path, info: dict) -> sqlite3.Connection:
    """A new table at ``path`` with schema and metadata, created under a temporary name and renamed."""
    from ..utils import atomic_target

    with atomic_target(path) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            with conn:
                conn.executescript(SCHEMA)
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()])
        finally:
            conn.close()
    return connect(path, readonly=False)


def resume(path: Path, digest: str) -> tuple[sqlite3.Connection, dict]:
    """Reopen an existing build of the same inputs for writing."""
    try:
        conn, info = open_table(path, readonly=False)
    except LookupTableError as e:
        raise LookupTableError(f"{path} exists and is not a lookup table to resume ({e}); delete it or choose "
                               f"another path") from None
    if info.get("inputs") != digest:
        conn.close()
        raise LookupTableError(f"lookup table {path} was {'built' if info.get('complete') else 'started'} from other "
                               f"inputs (space, predictions, choices, measured accuracies, latency model or meta "
                               f"differ); delete it or choose another path")
    return conn, info
