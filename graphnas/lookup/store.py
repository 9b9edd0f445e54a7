"""The SQLite file of a lookup table: schema, metadata, opening, creating and resuming (see :mod:`graphnas.lookup`)."""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..digest import content_digest
from ..errors import LookupTableError
from .. import sqlite_file
from ..sqlite_file import Field
from ..files import connect_sqlite

if TYPE_CHECKING:
    from ..cost.latency import LatencyModel
    from ..space.searchspace import SearchSpace

__all__ = ["FORMAT", "BATCH", "COLUMNS", "ORDER", "SCHEMA", "INDEXES", "RESERVED", "HOW_TO_BUILD", "connect",
           "read_meta", "check_meta", "check_rows", "check_digest", "table_digest", "rewrite_digest", "open_table",
           "space_meta", "latency_meta", "digest", "create", "resume", "DamagedTable", "order_of"]

#: Format tag of graphnas lookup tables; a file with another is refused.
FORMAT = "graphnas-lookup-3"
#: Formats of older graphnas versions (refused with a line saying to rebuild the table).
OLDER_FORMATS = ("graphnas-lookup-1", "graphnas-lookup-2")
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
    tier INTEGER NOT NULL,  -- measured-first order: 1 where measured is known, else 0; shrinkage order: 0
    score REAL NOT NULL);   -- the rank within a tier: predicted, or measured (shrunk, in the shrinkage order)
"""
#: Made once all rows are in (faster than keeping them up to date row by row).
INDEXES = (
    "CREATE INDEX IF NOT EXISTS archs_rank ON archs(tier DESC, score DESC, idx, madds, params, latency)",
    "CREATE INDEX IF NOT EXISTS archs_madds ON archs(madds)",
    "CREATE INDEX IF NOT EXISTS archs_params ON archs(params)",
    "CREATE INDEX IF NOT EXISTS archs_latency ON archs(latency)",
)
RESERVED = {"format", "space", "root", "scale", "input_shape", "fingerprint", "size", "rows", "radices",
             "candidates", "in_degree", "latency", "inputs", "done", "complete", "created", "build_seconds", "batch",
            "digest", "order"}
HOW_TO_BUILD = "build one with graphnas.lookup.LookupTable.build(path, space, predicted)"
#: What to do with a damaged table.
REBUILD = "delete it and rebuild it (graphnas.lookup.LookupTable.build(path, space, predicted))"
#: What reading a damaged SQLite file raises (an error message quoting non-UTF-8 schema text cannot be decoded).
SQL_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)
#: ``PRAGMA table_info`` of the two tables: (name, declared type, NOT NULL, primary key).
TABLE_INFO = sqlite_file.schema_columns(SCHEMA, ("meta", "archs"))


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    return sqlite_file.connect(path, "ro" if readonly else "rw")


class DamagedTable(LookupTableError):
    """A table whose content is wrong (:func:`damaged`), as opposed to one that cannot be used for another reason."""


def damaged(path, what: str) -> DamagedTable:
    """The one-line error of a table whose content is wrong: what is wrong, and how to rebuild it."""
    return DamagedTable(f"lookup table {path} is damaged: {what}; {REBUILD}")


# ---------------------------------------------------------------------------------------------- meta validation
_POSITIVE, _NAME = sqlite_file.integer(1), sqlite_file.text()
#: Every meta field of a table (:func:`graphnas.sqlite_file.check_fields`): what it holds, and whether it is required.
META_FIELDS = {
    "space": sqlite_file.text(want="a space name"),
    "root": sqlite_file.text(want="a space name"),
    "scale": sqlite_file.SCALE,
    "input_shape": sqlite_file.SHAPE,
    "fingerprint": sqlite_file.text(64, "a space fingerprint (string)"),
    "size": sqlite_file.integer(1),
    "rows": sqlite_file.integer(1),
    "radices": Field(lambda v: isinstance(v, list) and len(v) > 0 and all(map(_POSITIVE.ok, v)),
                     "a non-empty list of positive integers"),
    "candidates": Field(lambda v: isinstance(v, list) and all(isinstance(e, list) and e and all(map(_NAME.ok, e))
                                                              for e in v), "a list of lists of operator names"),
    "in_degree": sqlite_file.boolean(),
    "latency": Field(lambda v: v is None or (isinstance(v, dict) and {"device", "describe", "table", "batch"} <= set(v)),
                     "null or an object with device, describe, table and batch",
                     fields={"device": sqlite_file.nullable(Field(lambda v: isinstance(v, dict), "an object")),
                             "describe": Field(lambda v: isinstance(v, str), "a string"),
                             "table": sqlite_file.nullable(Field(lambda v: isinstance(v, str), "a string")),
                             "batch": sqlite_file.nullable(sqlite_file.integer(1))}),
    "inputs": sqlite_file.text(want="a digest string"),
    "done": sqlite_file.integer(0),
    "complete": sqlite_file.boolean(),
    "created": Field(lambda v: isinstance(v, str), "a date string", required=False),
    "build_seconds": sqlite_file.number(0, want="a non-negative number of seconds", required=False),
    "batch": sqlite_file.integer(1, required=False),
    "digest": sqlite_file.DIGEST._replace(required=False),  # written when the build completes (check_digest)
    # the answer order (graphnas.lookup.orders); tables written before it have none: measured-first
    "order": Field(lambda v: isinstance(v, dict) and v.get("name") in ("measured-first", "shrinkage"),
                   "an object whose name is measured-first or shrinkage", required=False),
}


def order_of(meta: dict) -> str:
    """The answer order a table's rows were written in (``measured-first`` for tables older than the orders)."""
    return (meta.get("order") or {}).get("name", "measured-first")


def check_meta(meta: dict, path) -> dict:
    """``meta`` if it is a graphnas lookup table's, every field has a value of the right type and range and the
    fields agree; else one line."""
    sqlite_file.check_format(meta, path, "lookup table", FORMAT, OLDER_FORMATS, LookupTableError, HOW_TO_BUILD,
                             REBUILD)
    sqlite_file.check_fields(meta, META_FIELDS, lambda what: damaged(path, what))
    radices, candidates, size = meta["radices"], meta["candidates"], meta["size"]
    if len(candidates) != len(radices) or any(len(c) != r for c, r in zip(candidates, radices)):
        raise damaged(path, "meta 'candidates' does not match 'radices' (one list of operator names per edge, as "
                            "many as its radix)")
    total = math.prod(radices)
    if size > total or (not meta["in_degree"] and size != total):
        raise damaged(path, f"meta 'size' {size} does not match 'radices' ({total} architectures)")
    if meta["rows"] > size:
        raise damaged(path, f"meta 'rows' {meta['rows']} exceeds the space size {size}")
    if meta["done"] > meta["rows"] or (meta["complete"] and meta["done"] != meta["rows"]):
        raise damaged(path, f"meta 'done' {meta['done']} does not match 'rows' {meta['rows']}")
    return meta


def _check_schema(conn: sqlite3.Connection, path) -> None:
    sqlite_file.check_columns(conn, TABLE_INFO, FORMAT, lambda what: damaged(path, what))


_SPACES = re.compile(r"\s+")


def _check_indexes(conn: sqlite3.Connection, path) -> None:
    have = {name: _SPACES.sub(" ", sql or "") for name, sql in
            conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'archs'")}
    for sql in INDEXES:
        want = sql.replace("IF NOT EXISTS ", "")
        name = want.split()[2]
        if have.get(name) != want:
            raise damaged(path, f"index {name} is "
                                f"{'missing' if name not in have else 'not the one ' + FORMAT + ' makes'}")


#: One statement, each part answered from an index in O(log rows): the row count, the index range, the smallest and
#: largest value of each indexed column (SQLite sorts NULL < numbers < text < blobs, so a non-number shows as an
#: extreme), whether any latency is NULL, the tier range and each tier's score range (:func:`check_rows`).
_EXTREMES = "(SELECT MIN({c}) FROM archs INDEXED BY archs_{i}{w}), (SELECT MAX({c}) FROM archs INDEXED BY archs_{i}{w})"
_AGGREGATE = ("SELECT (SELECT COUNT(*) FROM archs), (SELECT MIN(idx) FROM archs), (SELECT MAX(idx) FROM archs), "
              + ", ".join(_EXTREMES.format(c=c, i=c, w="") for c in ("madds", "params", "latency"))
              + ", (SELECT COUNT(*) FROM (SELECT 1 FROM archs INDEXED BY archs_latency WHERE latency IS NULL "
                "LIMIT 1)), "
              + _EXTREMES.format(c="tier", i="rank", w="") + ", "
              + ", ".join(_EXTREMES.format(c="score", i="rank", w=f" WHERE tier = {t}") for t in (0, 1)))


def is_number(v, floor=None) -> bool:
    return (isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool))) and math.isfinite(v) \
        and (floor is None or v >= floor)


def check_rows(conn: sqlite3.Connection, path, meta: dict) -> None:
    """Refuse a complete table whose rows disagree with its meta, or hold a value of a wrong type or range.

    Columns and their types, the four indexes, then one statement answered from the indexes (O(log rows),
    so opening stays as fast on 10^6 rows as on 10^3): the row count equals ``meta['rows']``, every index
    is within the space, ``madds`` and ``params`` are finite and non-negative, ``latency`` too (or NULL in
    every row, without a latency model), ``tier`` is 0 or 1 and ``score`` (the answer order) finite.
    The unindexed ``predicted`` and ``measured`` of a row, and the agreement of its index, choices and
    hash, are checked where rows are read (:class:`~graphnas.lookup.LookupTable`).
    """
    _check_schema(conn, path)
    _check_indexes(conn, path)
    (count, low, high, madds_lo, madds_hi, params_lo, params_hi, lat_lo, lat_hi, lat_null, tier_lo, tier_hi,
     *scores) = conn.execute(_AGGREGATE).fetchone()
    if count != meta["rows"]:
        raise damaged(path, f"it holds {count} rows, its meta says {meta['rows']}")
    if low < 0 or high >= meta["size"]:
        raise damaged(path, f"row index {low if low < 0 else high} is outside 0..{meta['size'] - 1}")
    for what, lo, hi in (("multiply-add count", madds_lo, madds_hi), ("parameter count", params_lo, params_hi)):
        if not (is_number(lo, 0) and is_number(hi, 0)):
            raise damaged(path, f"a row has {what} {show_value(lo if not is_number(lo, 0) else hi)}, expected a finite "
                                f"number >= 0")
    if meta["latency"] is None:
        if lat_lo is not None or lat_hi is not None:
            raise damaged(path, f"a row has latency {show_value(lat_hi)} but the table has no latency model (NULL "
                                f"expected)")
    elif lat_null or not (is_number(lat_lo, 0) and is_number(lat_hi, 0)):
        bad = None if lat_null else lat_lo if not is_number(lat_lo, 0) else lat_hi
        raise damaged(path, f"a row has latency {show_value(bad)}, expected a finite number of ms >= 0")
    if tier_lo not in (0, 1) or tier_hi not in (0, 1) or not isinstance(tier_lo, int) or not isinstance(tier_hi, int):
        raise damaged(path, f"a row has tier {show_value(tier_lo if tier_lo not in (0, 1) else tier_hi)}, expected "
                            f"0 or 1")
    if order_of(meta) == "shrinkage" and tier_hi != 0:
        raise damaged(path, "a row has tier 1 but the table ranks in one tier (its order is shrinkage)")
    if not all(v is None or is_number(v) for v in scores):
        bad = next(v for v in scores if not (v is None or is_number(v)))
        raise damaged(path, f"a row has score {show_value(bad)}, expected a finite accuracy")


#: What :func:`table_digest` reads, in index order: the REAL columns as IEEE doubles (NULL as NaN; one SELECT turned
#: into a float64 array by numpy), and the INTEGER and TEXT columns as SQLite's exact text of them (``group_concat`` in
#: SQL: no Python object per value). A scan of a rowid table (``NOT INDEXED``) visits rows in ``idx`` order.
_DIGEST_REALS = "SELECT predicted, measured, madds, params, latency, score FROM archs NOT INDEXED ORDER BY idx"
_DIGEST_TEXTS = ("SELECT group_concat(idx, ','), group_concat(hash, ','), group_concat(tier, ',') "
                 "FROM archs NOT INDEXED")
#: The line of a table whose content changed after it was written.
DIGEST_MISMATCH = "its rows and meta do not match the digest stored when it was written"


def table_digest(conn: sqlite3.Connection, meta: dict) -> str | None:
    """:func:`graphnas.digest.content_digest` of ``meta`` (its ``digest`` excepted) and every row of the table, in
    index order; ``None`` where a REAL column holds something that is not a number (text, a blob).

    A build stores it in its final transaction (nothing in a complete table changes afterwards), and
    :func:`check_digest` recomputes it: O(rows), ~0.35 s for 279,936 rows (BENCHMARKS.md).
    """
    try:
        reals = np.array(conn.execute(_DIGEST_REALS).fetchall(), dtype="<f8").reshape(-1, 6)
    except (TypeError, ValueError, OverflowError):
        return None
    idx, hashes, tiers = conn.execute(_DIGEST_TEXTS).fetchone()
    return content_digest({"meta": {k: v for k, v in meta.items() if k != "digest"}, "idx": idx, "hash": hashes,
                           "tier": tiers, "reals": reals})


def check_digest(conn: sqlite3.Connection, path, meta: dict) -> bool:
    """Whether a complete table's rows and meta still have the digest stored when it was written (a ``meta``
    without one is refused with one line)."""
    if "digest" not in meta:
        raise damaged(path, "meta key 'digest' is missing")
    return table_digest(conn, meta) == meta["digest"]


def rewrite_digest(path) -> None:
    """Store the digest of the table's current content, as a deliberate forger would. For tests and tools that
    craft tables to exercise the checks behind the digest (it detects damage, not forgery); graphnas never calls it."""
    conn = connect(Path(path), readonly=False)
    try:
        with conn:
            meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('digest', ?)", (json.dumps(table_digest(conn, meta)),))
    finally:
        conn.close()


def show_value(v) -> str:
    """A value read from a table, shown short."""
    return "NULL" if v is None else repr(v)[:40]


def read_meta(conn: sqlite3.Connection, path: Path) -> dict:
    """The meta table of ``conn``, or a LookupTableError naming what is wrong with the file."""
    try:
        if not {"meta", "archs"} <= sqlite_file.table_names(conn):
            raise LookupTableError(f"{path} is not a graphnas lookup table ({FORMAT}: no meta/archs tables); "
                                   f"{HOW_TO_BUILD}")
        meta = sqlite_file.read_meta(conn, lambda what: damaged(path, what))
    except SQL_ERRORS as e:
        raise LookupTableError(f"lookup table {path} is not a readable SQLite file ({e}); delete it and "
                               f"rebuild it ({HOW_TO_BUILD})") from None
    return check_meta(meta, path)


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
        conn = connect_sqlite(tmp, "rw")
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
    try:
        _check_schema(conn, path)
        if not info["complete"]:  # rows deleted from an interrupted build would collide on resuming
            count = conn.execute("SELECT COUNT(*) FROM archs").fetchone()[0]
            if count != info["done"]:
                raise damaged(path, f"it holds {count} rows, its meta says {info['done']} were written")
    except SQL_ERRORS as e:
        conn.close()
        raise LookupTableError(f"lookup table {path} cannot be read ({e}); {REBUILD}") from None
    except BaseException:
        conn.close()
        raise
    return conn, info
