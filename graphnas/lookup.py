"""Lookup tables (GCN-NAS): every architecture of a (sub)space with its predicted accuracy and costs, in SQLite.

Once a predictor has scored a whole (sub)space, "the best architecture under 17 ms" or "under 330M
MAdds" is a query, answered in milliseconds for any limit, without searching again::

    table = LookupTable.build("fairnas.lookup.db", space, predicted, latency_model=model,
                              meta={"predictor": "gcn v3"})
    best = LookupTable.open("fairnas.lookup.db").query(latency="17ms", madds="330M", top=10)[0]

**Schema.** Table ``archs`` holds one row per architecture::

    idx        INTEGER PRIMARY KEY  mixed-radix rank of the choice vector (SearchSpace.index)
    hash       TEXT NOT NULL        Architecture.hash (16 hex digits)
    predicted  REAL NOT NULL        predicted accuracy
    measured   REAL                 measured accuracy, NULL where unknown
    madds      REAL NOT NULL        multiply-adds (graphnas.calibration.batch_cost, exact)
    params     REAL NOT NULL        parameters
    latency    REAL                 predicted latency in ms (LatencyModel), NULL without a latency model

``idx`` *is* the choice vector: with radices ``r_0..r_{E-1}`` (candidates per edge, edge 0 most
significant), ``idx = (...(c_0 * r_1 + c_1) * r_2 + ...) * r_{E-1} + c_{E-1}``, so a row needs no
column per edge and the primary key is the architecture; spaces with in-degree constraints use
their constrained ranking instead (:meth:`~graphnas.space.SearchSpace.index`). The radices are
stored in ``meta``, so choices decode without the space. Counts are stored as REAL (SQLite writes
integral REAL values as integers on disk, and reads them back exactly).

Table ``meta`` maps keys to JSON values: ``format`` (:data:`FORMAT`), ``space`` (name), ``root`` (the
space it was cut from), ``scale``, ``input_shape``, ``fingerprint``, ``size`` (of the space), ``rows``,
``radices``, ``candidates`` (per edge, to rebuild a subspace), ``in_degree``, ``predictor`` and
``supernet`` (as given), ``latency`` (device description and table path, or null), ``inputs`` (a
digest of everything the build was given), ``done`` (input rows committed), ``complete``, ``created``,
``build_seconds``.

**Indexes and query plans** (chosen by measurement: ``tools/bench_lookup.py``, BENCHMARKS.md). A
constrained top-k query is ``WHERE madds <= ? AND latency <= ? ORDER BY predicted DESC, idx LIMIT k``
(ties in predicted accuracy broken by ``idx``, so answers are deterministic). Two plans answer it, and
:meth:`LookupTable.query` picks one itself rather than leave it to SQLite's planner (which, without
range statistics, picked much slower plans in the benchmark):

* *many rows within the limits*: walk the covering index ``archs_rank ON archs(predicted DESC, idx,
  madds, params, latency)`` in answer order, testing the limits on the index entry itself and reading
  the table only for the rows returned, and stop at the ``k``-th match (``EXPLAIN QUERY PLAN``:
  ``SCAN archs USING INDEX archs_rank``, no sort). Cost: index entries passed before the ``k``-th
  match; the whole index at worst (tens of ns per entry).
* *few rows within a limit*: range-scan that metric's index (``archs_madds``, ``archs_params``,
  ``archs_latency``) and sort those rows (``SEARCH archs USING INDEX archs_latency (latency<?)`` +
  ``USE TEMP B-TREE FOR ORDER BY``). Cost: about a microsecond per row within the limit.

"Few" is fewer than :attr:`LookupTable.switch_rows` = ``max(1000, rows // 32)``, found by counting in
each limited metric's index up to that number (a bounded, index-only count). Without the switch, a
tight limit makes the first plan pass nearly every index entry while few rows qualify; without the
first plan, a loose limit makes the second sort most of the table. The per-metric indexes also serve
the ``MIN(...)`` that explains a limit no architecture meets.

**Building** (:meth:`LookupTable.build`) writes ``batch`` rows per transaction, with the count of
committed rows in the same transaction, so an interrupted build resumes from the last committed batch
when it is run again with the same inputs (a digest of them is stored and checked). Indexes,
``ANALYZE`` and ``complete`` come in one final transaction; :meth:`LookupTable.open` refuses an
incomplete table with a line saying how to finish it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .cost.limits import METRICS, parse_count, parse_latency
from .errors import ConstraintError, LookupTableError

if TYPE_CHECKING:
    from .arch import Architecture
    from .cost.latency import LatencyModel
    from .space import SearchSpace

__all__ = ["FORMAT", "BATCH", "LIMIT_METRICS", "Row", "LookupTable", "choices_of", "indices_of", "arch_hashes"]

#: Format tag of graphnas lookup tables; a file with another is refused.
FORMAT = "graphnas-lookup-1"
#: Rows written per transaction while building.
BATCH = 50_000
#: Metrics a query can bound, in column order.
LIMIT_METRICS = ("madds", "params", "latency")

_COLUMNS = "idx, hash, predicted, measured, madds, params, latency"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE archs (
    idx INTEGER PRIMARY KEY,  -- mixed-radix rank of the choice vector (SearchSpace.index)
    hash TEXT NOT NULL,
    predicted REAL NOT NULL,
    measured REAL,
    madds REAL NOT NULL,
    params REAL NOT NULL,
    latency REAL);
"""
#: :meth:`LookupTable.query` range-scans a metric's index when fewer than ``max(SWITCH_MIN, rows //
#: SWITCH_FRACTION)`` rows are within that limit, and walks the covering index otherwise (module doc).
SWITCH_MIN = 1000
SWITCH_FRACTION = 32
#: Made once all rows are in (faster than keeping them up to date row by row).
INDEXES = (
    "CREATE INDEX IF NOT EXISTS archs_rank ON archs(predicted DESC, idx, madds, params, latency)",
    "CREATE INDEX IF NOT EXISTS archs_madds ON archs(madds)",
    "CREATE INDEX IF NOT EXISTS archs_params ON archs(params)",
    "CREATE INDEX IF NOT EXISTS archs_latency ON archs(latency)",
)
_RESERVED = {"format", "space", "root", "scale", "input_shape", "fingerprint", "size", "rows", "radices",
             "candidates", "in_degree", "latency", "inputs", "done", "complete", "created", "build_seconds", "batch"}
_HOW_TO_BUILD = "build one with graphnas.lookup.LookupTable.build(path, space, predicted)"


class Row(NamedTuple):
    """One architecture of a lookup table (an answer of :meth:`LookupTable.query`).

    Attributes:
        index (int): its mixed-radix rank in the space (``SearchSpace.index``).
        choices (tuple of int): its choice vector.
        hash (str): ``Architecture.hash``.
        predicted (float): predicted accuracy.
        measured (float or None): measured accuracy, where known.
        madds, params (float): multiply-adds and parameters.
        latency (float or None): predicted latency in ms (``None``: the table has no latency model).
    """

    index: int
    choices: tuple
    hash: str
    predicted: float
    measured: float | None
    madds: float
    params: float
    latency: float | None

    def to_dict(self) -> dict:
        return {**self._asdict(), "choices": list(self.choices)}


# ---------------------------------------------------------------------- choice vectors <-> indices
def _weights(radices: np.ndarray) -> np.ndarray:
    """Place values of the mixed-radix digits (edge 0 most significant), as int64."""
    w = np.ones(len(radices), dtype=np.int64)
    for i in range(len(radices) - 2, -1, -1):
        w[i] = w[i + 1] * int(radices[i + 1])
    return w


def _check_int64(space: "SearchSpace") -> None:
    if space.size > np.iinfo(np.int64).max:
        raise LookupTableError(f"space '{space.name}' has {space.size:.3e} architectures, more than a 64-bit index "
                               f"holds; build the lookup table for a subspace (space.subspace(fixed=...))")


def choices_of(space: "SearchSpace", indices: np.ndarray) -> np.ndarray:
    """Choice vectors ``(N, E)`` of the architectures at mixed-radix ``indices`` (``SearchSpace.from_index``)."""
    indices = np.asarray(indices, dtype=np.int64)
    if space.in_degree:
        rows = [space.from_index(int(i)).choices for i in indices]
        return np.array(rows, dtype=np.int64).reshape(-1, space.num_edges)
    _check_int64(space)
    return (indices[:, None] // _weights(space.radices)) % space.radices


def indices_of(space: "SearchSpace", choices: np.ndarray) -> np.ndarray:
    """Mixed-radix indices ``(N,)`` of choice vectors ``(N, E)`` (``SearchSpace.index``), as int64."""
    choices = np.asarray(choices, dtype=np.int64)
    if space.in_degree:
        return np.array([space.index(space.arch(c.tolist())) for c in choices], dtype=np.int64)
    _check_int64(space)
    return choices @ _weights(space.radices)


def arch_hashes(space: "SearchSpace", choices: np.ndarray) -> list[str]:
    """``Architecture.hash`` of every choice vector in ``choices`` (``(N, E)``), without building architectures.

    The hash is the SHA-256 of ``json.dumps([fingerprint, ops])`` (see :attr:`Architecture.hash`); the
    JSON text is assembled from per-candidate pieces encoded once.
    """
    head = "[" + json.dumps(space.fingerprint) + ", ["
    enc = [[json.dumps(op) for op in e.candidates] for e in space.edges]
    sha = hashlib.sha256
    return [sha((head + ", ".join([enc[i][c] for i, c in enumerate(row)]) + "]]").encode()).hexdigest()[:16]
            for row in np.asarray(choices).tolist()]


# ---------------------------------------------------------------------- limits
def _fmt(metric: str, value: float) -> str:
    """A limit value as the user would write it (counts with K/M/G, latency in ms), never rounded down."""
    if metric == "latency":
        return f"{math.ceil(value * 1e4) / 1e4:g}ms"
    count = math.ceil(value)  # exact: counts are integers, and a fraction is never rounded down
    for unit, exp in (("T", 12), ("G", 9), ("M", 6), ("K", 3)):
        if count >= 10 ** exp:
            return format(Decimal(count).scaleb(-exp).normalize(), "f") + unit
    return f"{count}"


def _parse_limit(metric: str, value) -> float:
    name = METRICS[metric]
    if isinstance(value, bool):
        raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. "
                              f"{'17ms' if metric == 'latency' else '330M'}")
    if isinstance(value, str):
        if value.strip().startswith("-"):
            raise ConstraintError(f"{name} limit '{value}' is negative; a limit is an upper bound >= 0")
        if metric == "latency":
            bound = parse_latency(value)
        else:  # counts are integers: undo the float error of "514.368K" -> 514368.00000000006
            bound = parse_count(value, name)
            if abs(bound - round(bound)) <= 1e-9 * max(1.0, bound):
                bound = float(round(bound))
    else:
        try:
            bound = float(value)
        except (TypeError, ValueError):
            raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. "
                                  f"{'17ms' if metric == 'latency' else '330M'}") from None
        if math.isnan(bound):
            raise ConstraintError(f"{name} limit is NaN; give a number")
        if bound < 0:
            raise ConstraintError(f"{name} limit {value} is negative; a limit is an upper bound >= 0")
    return bound


def _describe(limits: dict) -> str:
    return " and ".join(f"{METRICS[m]} <= {_fmt(m, v)}" for m, v in limits.items())


# ---------------------------------------------------------------------- the table
def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + ("?mode=ro" if readonly else "?mode=rw")
    return sqlite3.connect(uri, uri=True)


def _read_meta(conn: sqlite3.Connection, path: Path) -> dict:
    """The meta table of ``conn``, or a LookupTableError naming what is wrong with the file."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "archs"} <= tables:
            raise LookupTableError(f"{path} is not a graphnas lookup table ({FORMAT}: no meta/archs tables); "
                                   f"{_HOW_TO_BUILD}")
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
        raise LookupTableError(f"lookup table {path} is not a readable SQLite file ({e}); delete it and "
                               f"rebuild it ({_HOW_TO_BUILD})") from None
    if meta.get("format") != FORMAT:
        raise LookupTableError(f"{path} is not a graphnas lookup table (format {meta.get('format')!r}, expected "
                               f"{FORMAT!r}); {_HOW_TO_BUILD}")
    return meta


def _space_meta(space: "SearchSpace") -> dict:
    from .cost.latency import root_space

    return {"space": space.name, "root": root_space(space).name, "scale": json.loads(json.dumps(space.scale)),
            "input_shape": list(space.input_shape), "fingerprint": space.fingerprint, "size": space.size,
            "radices": space.radices.tolist(), "candidates": [list(e.candidates) for e in space.edges],
            "in_degree": bool(space.in_degree)}


def _latency_meta(model: "LatencyModel | None") -> dict | None:
    if model is None:
        return None
    return {"device": model.device, "describe": model.describe_device(), "table": model.path, "batch": model.batch}


def _digest(space, predicted, choices, measured, model, extra: dict, latency=None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([space.fingerprint, json.loads(json.dumps(space.scale)), extra], sort_keys=True,
                        default=str).encode())
    for a in (predicted, choices, measured, latency):
        h.update(b"-" if a is None else np.ascontiguousarray(a).tobytes())
    if model is not None:
        h.update(json.dumps([model.c0, model.c1, model.batch, model.device,
                             sorted((k, m.ms) for k, m in model.entries.items())], default=str).encode())
    return h.hexdigest()[:32]


class LookupTable:
    """An open, complete lookup table (see the module doc). Use :meth:`build` or :meth:`open`.

    Args:
        path (Path): the SQLite file.
        conn (sqlite3.Connection): a read-only connection to it.
        meta (dict): its metadata.
        space (SearchSpace, optional): its space, when known (else rebuilt from ``meta`` on demand).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, meta: dict, space: "SearchSpace | None" = None) -> None:
        self.path = path
        self.conn = conn
        self.meta = meta
        self._space = space

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path, space: "SearchSpace | None" = None) -> "LookupTable":
        """Open a complete table for queries; with ``space``, check that the table was built for it.

        Raises:
            LookupTableError: the file is missing, not SQLite, not a lookup table, incomplete, or was
                built for another space (name, fingerprint or scale).
        """
        path = Path(path)
        if not path.is_file():
            raise LookupTableError(f"lookup table {path} does not exist; {_HOW_TO_BUILD}")
        try:
            conn = _connect(path, readonly=True)
        except sqlite3.Error as e:
            raise LookupTableError(f"lookup table {path} cannot be opened ({e})") from None
        try:
            meta = _read_meta(conn, path)
            if not meta.get("complete"):
                raise LookupTableError(f"lookup table {path} is incomplete ({meta.get('done', 0)} of "
                                       f"{meta.get('rows')} rows written); finish it by running the same "
                                       f"LookupTable.build(...) again: it resumes from the last committed batch")
            table = cls(path, conn, meta)
            if space is not None:
                table.check_space(space)
                table._space = space
        except BaseException:
            conn.close()
            raise
        return table

    def check_space(self, space: "SearchSpace") -> None:
        """Refuse a space other than the table's: name, structural fingerprint and scale must match."""
        m = self.meta
        want = (m["space"], m["fingerprint"], m["scale"])
        have = (space.name, space.fingerprint, json.loads(json.dumps(space.scale)))
        if want != have:
            raise LookupTableError(f"lookup table {self.path} was built for space '{want[0]}' ({want[1]}) at scale "
                                   f"{want[2]}, not '{have[0]}' ({have[1]}) at {have[2]}; build a lookup table for "
                                   f"this space")

    @property
    def space(self) -> "SearchSpace":
        """The table's space: the one given to :meth:`open`, else rebuilt from its name, scale and candidates."""
        if self._space is None:
            self._space = self._rebuild_space()
        return self._space

    def _rebuild_space(self) -> "SearchSpace":
        from .errors import GraphnasError
        from .registry import get_space

        m = self.meta
        fail = (f"cannot rebuild space '{m['space']}' of lookup table {self.path} from its metadata; "
                f"pass it: LookupTable.open(path, space)")
        try:
            space = get_space(m["root"], **m["scale"])
            if space.fingerprint != m["fingerprint"]:
                allowed = {i: c for i, (e, c) in enumerate(zip(space.edges, m["candidates"]))
                           if list(e.candidates) != c}
                space = space.subspace(allowed=allowed, name=m["space"])
        except (GraphnasError, KeyError, TypeError, IndexError):
            raise LookupTableError(fail) from None
        if space.fingerprint != m["fingerprint"] or list(space.input_shape) != m["input_shape"]:
            raise LookupTableError(fail)
        return space

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "LookupTable":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.meta["rows"])

    def __repr__(self) -> str:
        return (f"LookupTable({str(self.path)!r}, space={self.meta['space']!r}, rows={len(self)}, "
                f"latency={self.has_latency})")

    @property
    def has_latency(self) -> bool:
        """Whether the table was built with a latency model."""
        return self.meta.get("latency") is not None

    # ------------------------------------------------------------------ queries
    def _execute(self, sql: str, args=()) -> list:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise LookupTableError(f"lookup table {self.path} is corrupt ({e}); delete it and rebuild it "
                                   f"({_HOW_TO_BUILD})") from None

    def limits(self, madds=None, params=None, latency=None, **other) -> dict[str, float]:
        """Parse and check limits (strings with units, or numbers in counts / milliseconds) -> metric: bound."""
        if other:
            bad = next(iter(other))
            raise ConstraintError(f"unknown limit metric '{bad}'; choose one of {', '.join(LIMIT_METRICS)} "
                                  f"(FLOPs: graphnas counts multiply-adds, give them as madds)")
        given = {m: v for m, v in zip(LIMIT_METRICS, (madds, params, latency)) if v is not None}
        out = {m: _parse_limit(m, v) for m, v in given.items()}
        if "latency" in out and not self.has_latency:
            raise LookupTableError("latency unknown: this table was built without a latency model; rebuild with "
                                   "one (graphnas latency build ...)")
        return out

    def query(self, madds=None, params=None, latency=None, top: int = 10, **other) -> list[Row]:
        """The ``top`` architectures of highest predicted accuracy within the limits (ties: lower index first).

        Args:
            madds, params (str or float, optional): upper bounds, ``"330M"`` / ``"5M"`` (units K, M, G,
                T required in strings) or a count.
            latency (str or float, optional): upper bound, ``"17ms"`` (``us``, ``ms``, ``s``) or milliseconds.
            top (int): how many rows (default: 10).

        Raises:
            ConstraintError: an unknown metric, a limit without unit or negative, or limits no
                architecture meets (the error's ``smallest`` holds the smallest value of each limited
                metric over the table, and ``smallest_within_others`` that of each metric among the
                architectures meeting the other limits).
            LookupTableError: a latency limit on a table built without a latency model.
        """
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise ConstraintError(f"top={top!r} must be a positive integer")
        limits = self.limits(madds, params, latency, **other)
        rows = self._execute(*self._select(limits, int(top)))
        if not rows:
            raise self._unmeetable(limits)
        choices = self.choices([r[0] for r in rows])
        return [Row(r[0], tuple(c), *r[1:]) for r, c in zip(rows, choices.tolist())]

    def best(self, madds=None, params=None, latency=None) -> Row:
        """The architecture of highest predicted accuracy within the limits (see :meth:`query`)."""
        return self.query(madds, params, latency, top=1)[0]

    def plan(self, madds=None, params=None, latency=None, top: int = 10) -> list[str]:
        """SQLite's ``EXPLAIN QUERY PLAN`` of :meth:`query` for these limits (the ``detail`` lines)."""
        sql, args = self._select(self.limits(madds, params, latency), int(top))
        return [r[-1] for r in self._execute("EXPLAIN QUERY PLAN " + sql, args)]

    @property
    def switch_rows(self) -> int:
        """Below this many rows within a limit, :meth:`query` range-scans that metric's index (see the module doc)."""
        return max(SWITCH_MIN, len(self) // SWITCH_FRACTION)

    def _select(self, limits: dict, top: int) -> tuple[str, tuple]:
        """The top-k SQL for ``limits`` and its arguments: the plan is chosen here, not by SQLite (module doc)."""
        order = " ORDER BY predicted DESC, idx LIMIT ?"
        if not limits:
            return f"SELECT {_COLUMNS} FROM archs INDEXED BY archs_rank{order}", (top,)
        cap = self.switch_rows
        within = {m: self._execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM archs INDEXED BY archs_{m} WHERE {m} <= ? "
                                   f"LIMIT ?)", (v, cap))[0][0] for m, v in limits.items()}
        tightest = min(within, key=within.get)
        if within[tightest] < cap:  # few rows: walk them in the metric's index, sort them
            where = " AND ".join(f"{'' if m == tightest else '+'}{m} <= ?" for m in limits)
            return (f"SELECT {_COLUMNS} FROM archs INDEXED BY archs_{tightest} WHERE {where}{order}",
                    (*limits.values(), top))
        where = " AND ".join(f"+{m} <= ?" for m in limits)  # many: walk the answer order, stop at the k-th match
        return f"SELECT {_COLUMNS} FROM archs INDEXED BY archs_rank WHERE {where}{order}", (*limits.values(), top)

    def _unmeetable(self, limits: dict) -> ConstraintError:
        smallest = {m: self._execute(f"SELECT MIN({m}) FROM archs")[0][0] for m in limits}
        within, parts = {}, []
        for m, low in smallest.items():
            text = f"the smallest {METRICS[m]} is {_fmt(m, low)}"
            others = {k: v for k, v in limits.items() if k != m}
            if others:
                where = " AND ".join(f"{k} <= ?" for k in others)
                within[m] = self._execute(f"SELECT MIN({m}) FROM archs WHERE {where}", tuple(others.values()))[0][0]
                text += f" (with {_describe(others)}: {'none' if within[m] is None else _fmt(m, within[m])})"
            parts.append(text)
        err = ConstraintError(f"no architecture in lookup table {self.path} has {_describe(limits)}: "
                              f"{', '.join(parts)}; relax the limit{'s' if len(limits) > 1 else ''}")
        err.smallest = smallest
        err.smallest_within_others = within
        return err

    def choices(self, indices) -> np.ndarray:
        """Choice vectors ``(N, E)`` of the given indices (decoded from the stored radices)."""
        indices = np.asarray(indices, dtype=np.int64)
        if self.meta.get("in_degree"):
            return choices_of(self.space, indices)
        radices = np.array(self.meta["radices"], dtype=np.int64)
        return (indices[:, None] // _weights(radices)) % radices

    def arch(self, row: Row | int) -> "Architecture":
        """The :class:`~graphnas.arch.Architecture` of a row (or an index) of the table."""
        index = row.index if isinstance(row, Row) else int(row)
        return self.space.arch(self.choices([index])[0].tolist())

    def row(self, index: int) -> Row:
        """The row of the architecture at ``index`` (``LookupTableError`` if the table has none)."""
        rows = self._execute(f"SELECT {_COLUMNS} FROM archs WHERE idx = ?", (int(index),))
        if not rows:
            raise LookupTableError(f"lookup table {self.path} has no architecture with index {index}")
        return Row(rows[0][0], tuple(self.choices([index])[0].tolist()), *rows[0][1:])

    def describe(self) -> dict:
        """A JSON-friendly summary of the table's metadata."""
        m = self.meta
        return {"path": str(self.path), "space": m["space"], "scale": m["scale"], "fingerprint": m["fingerprint"],
                "rows": m["rows"], "space_size": m["size"], "predictor": m.get("predictor"),
                "supernet": m.get("supernet"), "latency": m.get("latency"), "created": m.get("created")}

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, path: str | Path, space: "SearchSpace", predicted, choices=None, measured=None,
              latency_model: "LatencyModel | None" = None, meta: dict | None = None, batch: int = BATCH,
              progress: bool = False, latency=None, latency_source: str | None = None) -> "LookupTable":
        """Write a lookup table (or resume an interrupted build of the same inputs) and open it.

        Args:
            path (str or Path): the SQLite file; if it exists, it must be a build of the same inputs
                (then it is resumed, or just opened if complete).
            space (SearchSpace): the (sub)space.
            predicted (array_like): ``(N,)`` predicted accuracies: aligned with ``space.index`` order
                (``N = space.size``) when ``choices`` is ``None``, else with the rows of ``choices``.
            choices (array_like, optional): ``(N, E)`` choice vectors (distinct architectures).
            measured (array_like, optional): ``(N,)`` measured accuracies, NaN where unknown.
            latency_model (LatencyModel, optional): predicts each architecture's latency; its table
                must be of ``space``. Without one (and without ``latency``), latency is NULL and latency
                queries are refused.
            latency (array_like, optional): ``(N,)`` latencies in ms aligned like ``predicted``, measured
                elsewhere (a benchmark's table, a device farm), instead of ``latency_model``.
            latency_source (str, optional): where ``latency`` comes from, kept in ``meta['latency']``.
            meta (dict, optional): extra JSON-able metadata, e.g. ``{"predictor": "gcn v3, seed 0",
                "supernet": "<checkpoint sha256>"}``.
            batch (int): rows per transaction (default: :data:`BATCH`).
            progress (bool): show a progress bar.

        Raises:
            LookupTableError: inputs of the wrong shape, NaN predictions, repeated or invalid choice
                vectors, or an existing file that is not a build of the same inputs.
        """
        from .calibration import batch_cost

        path = Path(path)
        start = time.perf_counter()
        extra = dict(meta or {})
        clash = sorted(set(extra) & _RESERVED)
        if clash:
            raise LookupTableError(f"meta key(s) {', '.join(clash)} are written by the build itself; rename them")
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as e:
            raise LookupTableError(f"meta must be JSON-able ({e})") from None
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise LookupTableError(f"batch={batch!r} must be a positive integer")
        _check_int64(space)
        predicted, choices, indices, measured = _check_inputs(space, predicted, choices, measured)
        if latency_model is not None:
            latency_model.check_space(space)
        if latency is not None:
            if latency_model is not None:
                raise LookupTableError("give latency_model or latency (an array), not both")
            latency = np.asarray(latency, dtype=np.float64)
            if latency.shape != predicted.shape or not np.isfinite(latency).all() or (latency < 0).any():
                raise LookupTableError(f"latency must be {predicted.shape[0]} finite non-negative milliseconds "
                                       f"aligned with predicted; got shape {latency.shape}")
        n = len(predicted)
        digest = _digest(space, predicted, choices, measured, latency_model, {**extra, "_latency": latency_source}
                         if latency is not None else extra, latency)
        if path.exists():
            conn, info = _resume(path, digest)
            if info.get("complete"):
                conn.close()
                return cls.open(path, space)
        else:
            info = {"format": FORMAT, **_space_meta(space), "rows": n, "predictor": None, "supernet": None,
                    **extra, "latency": _latency_meta(latency_model) if latency is None else
                    {"device": None, "describe": latency_source or "given per architecture", "table": None,
                     "batch": None}, "inputs": digest, "done": 0,
                    "complete": False, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec="seconds"), "build_seconds": 0.0, "batch": int(batch)}
            conn = _create(path, info)
        try:
            done, spent = int(info["done"]), float(info.get("build_seconds") or 0.0)  # spent: by earlier runs
            if done > n:
                raise LookupTableError(f"lookup table {path} records {done} rows written of {n}; delete it and "
                                       f"build again")
            from tqdm.auto import tqdm

            with tqdm(total=n, initial=done, desc="lookup table", unit="arch", disable=not progress,
                      leave=False) as bar:
                for lo in range(done, n, batch):
                    hi = min(n, lo + batch)
                    idx = np.arange(lo, hi, dtype=np.int64) if indices is None else indices[lo:hi]
                    ch = choices_of(space, idx) if choices is None else choices[lo:hi]
                    if latency is not None:
                        lat = latency[lo:hi].tolist()
                    elif latency_model is not None:
                        lat = latency_model.batch_latency(space, ch).tolist()
                    else:
                        lat = [None] * (hi - lo)
                    meas = [None] * (hi - lo) if measured is None else \
                        [None if math.isnan(v) else v for v in measured[lo:hi].tolist()]
                    rows = zip(idx.tolist(), arch_hashes(space, ch), predicted[lo:hi].tolist(), meas,
                               batch_cost(space, ch, "madds").tolist(), batch_cost(space, ch, "params").tolist(), lat)
                    with conn:
                        conn.executemany("INSERT INTO archs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                        conn.executemany("UPDATE meta SET value = ? WHERE key = ?",
                                         [(json.dumps(hi), "done"), (json.dumps(spent + time.perf_counter() - start),
                                                                     "build_seconds")])
                    bar.update(hi - lo)
            seconds = spent + time.perf_counter() - start
            with conn:
                conn.execute("BEGIN")  # indexes, statistics and the complete flag commit together
                for sql in INDEXES:
                    conn.execute(sql)
                conn.execute("ANALYZE")
                conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [("build_seconds", json.dumps(seconds)), ("complete", json.dumps(True))])
        except sqlite3.DatabaseError as e:
            raise LookupTableError(f"writing lookup table {path} failed ({e}); run the build again to resume, or "
                                   f"delete the file") from None
        finally:
            conn.close()
        return cls.open(path, space)


def _check_inputs(space, predicted, choices, measured):
    """``(predicted, choices, indices, measured)`` as float64 / int64 arrays, or a LookupTableError."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.ndim != 1:
        raise LookupTableError(f"predicted accuracies must be a 1-d array, got shape {predicted.shape}")
    indices = None
    if choices is None:
        if len(predicted) != space.size:
            raise LookupTableError(f"{len(predicted)} predicted accuracies for space '{space.name}' of {space.size} "
                                   f"architectures; give one per architecture in space.index order, or pass "
                                   f"choices=")
    else:
        choices = np.asarray(choices)
        if choices.ndim != 2 or choices.shape[1] != space.num_edges or choices.shape[0] != len(predicted):
            raise LookupTableError(f"choices must have shape ({len(predicted)}, {space.num_edges}) (one choice "
                                   f"vector per predicted accuracy), got {choices.shape}")
        if not np.issubdtype(choices.dtype, np.integer):
            raise LookupTableError(f"choices must be integers, got dtype {choices.dtype}")
        choices = choices.astype(np.int64)
        bad = np.argwhere((choices < 0) | (choices >= space.radices))
        if len(bad):
            k, i = bad[0]
            raise LookupTableError(f"choices row {k}: choice {choices[k, i]} on edge {i} is outside 0.."
                                   f"{space.radices[i] - 1}")
        try:
            indices = indices_of(space, choices)
        except Exception as e:  # in-degree violations: ArchitectureError naming the node
            from .errors import GraphnasError

            if not isinstance(e, GraphnasError):
                raise
            raise LookupTableError(f"choices: {e}") from None
        uniq, counts = np.unique(indices, return_counts=True)
        if len(uniq) != len(indices):
            dup = int(uniq[np.argmax(counts > 1)])
            rows = np.flatnonzero(indices == dup)[:2].tolist()
            raise LookupTableError(f"choices rows {rows[0]} and {rows[1]} are the same architecture (index {dup}); "
                                   f"give each architecture once")
    nan = np.flatnonzero(~np.isfinite(predicted))
    if len(nan):
        raise LookupTableError(f"predicted accuracy of row {nan[0]} is {predicted[nan[0]]}; every prediction must "
                               f"be a finite number")
    if measured is not None:
        measured = np.asarray(measured, dtype=np.float64)
        if measured.shape != predicted.shape:
            raise LookupTableError(f"measured accuracies must have shape {predicted.shape} (NaN where unknown), "
                                   f"got {measured.shape}")
    return predicted, choices, indices, measured


def _create(path: Path, info: dict) -> sqlite3.Connection:
    """A new table at ``path`` with schema and metadata, created under a temporary name and renamed."""
    from .utils import atomic_target

    with atomic_target(path) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            with conn:
                conn.executescript(_SCHEMA)
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()])
        finally:
            conn.close()
    return _connect(path, readonly=False)


def _resume(path: Path, digest: str) -> tuple[sqlite3.Connection, dict]:
    """Reopen an existing build of the same inputs for writing."""
    try:
        conn = _connect(path, readonly=False)
    except sqlite3.Error as e:
        raise LookupTableError(f"{path} exists and cannot be opened ({e}); delete it or choose another path") from None
    try:
        info = _read_meta(conn, path)
    except LookupTableError as e:
        conn.close()
        raise LookupTableError(f"{path} exists and is not a lookup table to resume ({e}); delete it or choose "
                               f"another path") from None
    if info.get("inputs") != digest:
        conn.close()
        raise LookupTableError(f"lookup table {path} was {'built' if info.get('complete') else 'started'} from other "
                               f"inputs (space, predictions, choices, measured accuracies, latency model or meta "
                               f"differ); delete it or choose another path")
    return conn, info
