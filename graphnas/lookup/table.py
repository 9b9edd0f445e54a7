"""An open lookup table: constrained top-k queries over its rows (see :mod:`graphnas.lookup`)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..cost.limits import METRICS, describe_limits, format_limit
from ..cost.limits import bound_value as parse_limit
from ..errors import ConstraintError, LookupTableError
from ..space.encoding import choices_of
from .encoding import hashes_of
from .orders import DEFAULT_ORDER
from .store import (BATCH, COLUMNS, DIGEST_MISMATCH, HOW_TO_BUILD, ORDER, REBUILD, SQL_ERRORS, DamagedTable,
                    check_digest, check_rows, damaged, is_number, open_table, order_of, show_value)

if TYPE_CHECKING:
    from ..space.architecture import Architecture
    from ..cost.latency import LatencyModel
    from ..space.searchspace import SearchSpace

__all__ = ["LIMIT_METRICS", "SWITCH_MIN", "SWITCH_FRACTION", "Row", "LookupTable"]

#: Metrics a query can bound, in column order.
LIMIT_METRICS = ("madds", "params", "latency")
#: :meth:`LookupTable.query` range-scans a metric's index when fewer than ``max(SWITCH_MIN, rows //
#: SWITCH_FRACTION)`` rows are within that limit, and walks the covering index otherwise (module doc).
SWITCH_MIN = 1000
SWITCH_FRACTION = 32
#: Columns read for an answer: those of a :class:`Row`, then ``tier`` and ``score`` (to check them).
SELECTED = COLUMNS + ", tier, score"


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



def _bad_score(shrunk: bool, score, predicted, measured) -> bool:
    """Whether a row's ``score`` is not what its build writes: its prediction where unmeasured; where measured, its
    measurement (measured-first) or any finite value (shrinkage: the measurement shrunk towards the prediction)."""
    if measured is None:
        return score != predicted
    return not is_number(score) if shrunk else score != measured


class LookupTable:
    """An open, complete lookup table (see the module doc). Use :meth:`build` or :meth:`open`.

    Args:
        path (Path): the SQLite file.
        conn (sqlite3.Connection): a read-only connection to it.
        meta (dict): its metadata.
        space (SearchSpace, optional): its space, when known (else rebuilt from ``meta`` on demand).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, meta: dict, space: "SearchSpace | None" = None,
                 root: str | None = None) -> None:
        self.path = path
        self.conn = conn
        self.meta = meta
        self._space = space
        self._root = root

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path, space: "SearchSpace | None" = None, root: str | None = None) -> "LookupTable":
        """Open a complete table for queries; with ``space``, check that the table was built for it.

        A table is untrusted: its space is rebuilt from its metadata only when it names a built-in or
        registered space. For a space defined in a ``.py`` file, pass the file as ``root`` (the
        ``--space`` of ``graphnas lookup``); graphnas never imports a file a table names. The space
        built from ``root`` must have the table's fingerprint.

        A table is also checked (:func:`graphnas.lookup.store.check_rows`): every meta value's type and
        range, the columns and indexes, and in one SQL pass the row count, the index range and every
        numeric column's types and range; then its rows and meta must have the digest stored when it was
        written (:func:`graphnas.lookup.store.check_digest`: plausible damage, a value changed within its
        range, is found too; O(rows), ~0.35 s for 279,936 rows). Where they do not, every row is checked
        as :meth:`verify` does, so that a row that shows the damage is named; else the mismatch is. Each
        row an answer returns is checked further (its index decodes to choices whose hash is the stored one).

        Raises:
            LookupTableError: the file is missing, not SQLite, not a lookup table, incomplete, damaged
                (the message says what is wrong), or was built for another space (name, fingerprint or scale).
        """
        from ..files import regular_file

        path = regular_file(path, "lookup table", HOW_TO_BUILD, LookupTableError)
        conn, meta = open_table(path, readonly=True)
        try:
            if not meta.get("complete"):
                raise LookupTableError(f"lookup table {path} is incomplete ({meta.get('done', 0)} of "
                                       f"{meta.get('rows')} rows written); finish it by running the same "
                                       f"LookupTable.build(...) again: it resumes from the last committed batch")
            try:
                check_rows(conn, path, meta)
            except SQL_ERRORS as e:
                raise LookupTableError(f"lookup table {path} is corrupt ({e}); {REBUILD}") from None
            table = cls(path, conn, meta, root=root)
            if space is not None:
                table.check_space(space)
                table._space = space
            table._check_digest()
        except BaseException:
            conn.close()
            raise
        return table

    def _check_digest(self) -> None:
        """Refuse a table whose rows or meta changed since it was written (one line naming a damaged row where a row
        check finds one, else the digest mismatch)."""
        try:
            if check_digest(self.conn, self.path, self.meta):
                return
            try:
                self._check_every_row()
            except DamagedTable:
                raise
            except LookupTableError:  # e.g. its space cannot be rebuilt to decode its rows: report the mismatch
                pass
        except SQL_ERRORS as e:
            raise LookupTableError(f"lookup table {self.path} is corrupt ({e}); {REBUILD}") from None
        raise damaged(self.path, DIGEST_MISMATCH)

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
        from ..errors import GraphnasError
        from ..space.registry import space_named_by_file, with_candidates

        m = self.meta
        fail = (f"cannot rebuild space '{m['space']}' of lookup table {self.path} from its metadata; "
                f"pass it: LookupTable.open(path, space)")
        try:
            space = space_named_by_file(m.get("root"), m.get("scale"), f"lookup table {self.path}", self._root)
        except GraphnasError as e:
            raise LookupTableError(f"{e} (in Python, pass it: LookupTable.open(path, space))") from None
        try:  # in-degree constraints dropped where the table's subspace meets them by construction
            if space.fingerprint != m["fingerprint"]:
                space = with_candidates(space, m["candidates"], m["space"], in_degree=bool(m["in_degree"]))
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
    def order(self) -> str:
        """The answer order of the table's rows: ``"shrinkage"`` or ``"measured-first"`` (:mod:`graphnas.lookup.orders`;
        ``meta['order']`` holds the reliability estimate, or why shrinkage fell back)."""
        return order_of(self.meta)

    @property
    def has_latency(self) -> bool:
        """Whether the table was built with a latency model."""
        return self.meta.get("latency") is not None

    # ------------------------------------------------------------------ queries
    def _execute(self, sql: str, args=()) -> list:
        try:
            return self.conn.execute(sql, args).fetchall()
        except SQL_ERRORS as e:
            raise LookupTableError(f"lookup table {self.path} is corrupt ({e}); delete it and rebuild it "
                                   f"({HOW_TO_BUILD})") from None

    def limits(self, madds=None, params=None, latency=None, **other) -> dict[str, float]:
        """Parse and check limits (strings with units, or numbers in counts / milliseconds) -> metric: bound."""
        if other:
            bad = next(iter(other))
            raise ConstraintError(f"unknown limit metric '{bad}'; choose one of {', '.join(LIMIT_METRICS)} "
                                  f"(FLOPs: graphnas counts multiply-adds, give them as madds)")
        given = {m: v for m, v in zip(LIMIT_METRICS, (madds, params, latency)) if v is not None}
        out = {m: parse_limit(m, v) for m, v in given.items()}
        if "latency" in out and not self.has_latency:
            raise LookupTableError("latency unknown: this table was built without a latency model; rebuild with "
                                   "one (graphnas latency build ...)")
        return out

    def query(self, madds=None, params=None, latency=None, top: int = 10, **other) -> list[Row]:
        """The ``top`` best architectures within the limits in the table's answer order (:attr:`order`; ties:
        lower index first): with ``shrinkage``, one ranking of predictions and measurements shrunk towards
        them; with ``measured-first``, measured ones first by measured accuracy, then the others by predicted
        accuracy (see :mod:`graphnas.lookup.orders`).

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
        return self._rows(rows)

    def _rows(self, rows: list) -> list[Row]:
        """:class:`Row` objects of raw ``SELECTED`` tuples, each checked: its values have their types and ranges
        (accuracies finite, costs finite and >= 0, latency too or NULL without a latency model, tier and score
        as measured and predicted make them) and its index decodes to choices whose hash (from the meta's
        fingerprint and candidates) is the stored one; else the table is damaged."""
        latency = self.has_latency
        shrunk = self.order == "shrinkage"
        for idx, _, predicted, measured, madds, params, lat, tier, score in rows:
            problem = (
                "predicted accuracy" if not is_number(predicted) else
                "measured accuracy" if measured is not None and not is_number(measured) else
                "multiply-add count" if not is_number(madds, 0) else
                "parameter count" if not is_number(params, 0) else
                "latency" if (not is_number(lat, 0) if latency else lat is not None) else
                "tier" if tier != (0 if shrunk else measured is not None) or not isinstance(tier, int) else
                "score" if _bad_score(shrunk, score, predicted, measured) else None)
            if problem:
                value = dict(zip(("predicted accuracy", "measured accuracy", "multiply-add count", "parameter count",
                                  "latency", "tier", "score"), (predicted, measured, madds, params, lat, tier, score)))
                raise damaged(self.path, f"row {idx} has {problem} {show_value(value[problem])}, which is not a value "
                                         f"{'its build writes' if problem in ('tier', 'score') else 'of its range'}")
        choices = self.choices([r[0] for r in rows])
        hashes = hashes_of(self.meta["fingerprint"], self.meta["candidates"], choices)
        for r, h in zip(rows, hashes):
            if r[1] != h:
                raise damaged(self.path, f"row {r[0]} holds hash {show_value(r[1])} but its index decodes to the "
                                         f"architecture with hash {h}")
        return [Row(r[0], tuple(c), *r[1:7]) for r, c in zip(rows, choices.tolist())]

    def verify(self, batch: int = 50_000) -> "LookupTable":
        """Check every row as :meth:`open` checks the table and :meth:`query` its answers (its values' types and
        ranges; its index decodes to choices with the stored hash), the file (SQLite's ``integrity_check``:
        every index agrees with the table) and the digest again: ``O(rows)``, for a table from an untrusted
        source. Returns ``self``.

        Raises:
            LookupTableError: the table is damaged (the message says what is wrong and how to rebuild it).
        """
        try:
            check_rows(self.conn, self.path, self.meta)
            problem = self.conn.execute("PRAGMA integrity_check(1)").fetchone()[0]
        except SQL_ERRORS as e:
            raise LookupTableError(f"lookup table {self.path} is corrupt ({e}); {REBUILD}") from None
        if problem != "ok":
            raise LookupTableError(f"lookup table {self.path} is corrupt ({' '.join(str(problem).split())[:200]}); "
                                   f"{REBUILD}")
        self._check_every_row(batch)
        self._check_digest()
        return self

    def _check_every_row(self, batch: int = 50_000) -> None:
        """Check every row as :meth:`query` checks its answers, ``batch`` rows at a time."""
        last = None
        while True:
            rows = self._execute(f"SELECT {SELECTED} FROM archs{'' if last is None else ' WHERE idx > ?'} ORDER BY idx "
                                 f"LIMIT ?", (batch,) if last is None else (last, batch))
            if not rows:
                return
            self._rows(rows)
            last = rows[-1][0]

    def best(self, madds=None, params=None, latency=None) -> Row:
        """The first answer of :meth:`query`: the best measured architecture within the limits, else the best
        predicted one."""
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
        order = f" ORDER BY {ORDER} LIMIT ?"
        if not limits:
            return f"SELECT {SELECTED} FROM archs INDEXED BY archs_rank{order}", (top,)
        cap = self.switch_rows
        within = {m: self._execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM archs INDEXED BY archs_{m} WHERE {m} <= ? "
                                   f"LIMIT ?)", (v, cap))[0][0] for m, v in limits.items()}
        tightest = min(within, key=within.get)
        if within[tightest] < cap:  # few rows: walk them in the metric's index, sort them
            where = " AND ".join(f"{'' if m == tightest else '+'}{m} <= ?" for m in limits)
            return (f"SELECT {SELECTED} FROM archs INDEXED BY archs_{tightest} WHERE {where}{order}",
                    (*limits.values(), top))
        where = " AND ".join(f"+{m} <= ?" for m in limits)  # many: walk the answer order, stop at the k-th match
        return f"SELECT {SELECTED} FROM archs INDEXED BY archs_rank WHERE {where}{order}", (*limits.values(), top)

    def _unmeetable(self, limits: dict) -> ConstraintError:
        smallest = {m: self._execute(f"SELECT MIN({m}) FROM archs")[0][0] for m in limits}
        within, parts = {}, []
        for m, low in smallest.items():
            text = f"the smallest {METRICS[m]} is {format_limit(m, low)}"
            others = {k: v for k, v in limits.items() if k != m}
            if others:
                where = " AND ".join(f"{k} <= ?" for k in others)
                within[m] = self._execute(f"SELECT MIN({m}) FROM archs WHERE {where}", tuple(others.values()))[0][0]
                text += f" (with {describe_limits(others)}: {'none' if within[m] is None else format_limit(m, within[m])})"
            parts.append(text)
        err = ConstraintError(f"no architecture in lookup table {self.path} has {describe_limits(limits)}: "
                              f"{', '.join(parts)}; relax the limit{'s' if len(limits) > 1 else ''}")
        err.smallest = smallest
        err.smallest_within_others = within
        return err

    def column(self, name: str) -> np.ndarray:
        """One column over every row, in index order: ``predicted``, ``measured`` (NaN where unknown), ``madds``,
        ``params`` or ``latency`` (NaN without a latency model), as float64."""
        if name not in ("predicted", "measured", *LIMIT_METRICS):
            raise LookupTableError(f"unknown column {name!r}; choose predicted, measured, {', '.join(LIMIT_METRICS)}")
        values = self._execute(f"SELECT {name} FROM archs ORDER BY idx")
        nullable = name == "measured" or (name == "latency" and not self.has_latency)
        floor = None if name in ("predicted", "measured") else 0
        for (v,) in values:
            if not (is_number(v, floor) if v is not None else nullable):
                raise damaged(self.path, f"a row has {name} {show_value(v)}, expected a finite number"
                                         f"{'' if floor is None else ' >= 0'}")
        return np.array([np.nan if v is None else v for (v,) in values], dtype=np.float64)

    def choices(self, indices) -> np.ndarray:
        """Choice vectors ``(N, E)`` of the given indices (decoded from the stored radices)."""
        indices = np.asarray(indices, dtype=np.int64)
        outside = indices[(indices < 0) | (indices >= self.meta["size"])]
        if len(outside):
            raise LookupTableError(f"lookup table {self.path} has no architecture with index {int(outside[0])} "
                                   f"(its space has {self.meta['size']}: 0..{self.meta['size'] - 1})")
        if self.meta.get("in_degree"):
            return choices_of(self.space, indices)
        radices = np.array(self.meta["radices"], dtype=np.int64)
        return choices_of(radices, indices)

    def arch(self, row: Row | int) -> "Architecture":
        """The :class:`~graphnas.space.architecture.Architecture` of a row (or an index) of the table."""
        index = row.index if isinstance(row, Row) else int(row)
        return self.space.arch(self.choices([index])[0].tolist())

    def row(self, index: int) -> Row:
        """The row of the architecture at ``index`` (``LookupTableError`` if the table has none)."""
        rows = self._execute(f"SELECT {SELECTED} FROM archs WHERE idx = ?", (int(index),))
        if not rows:
            raise LookupTableError(f"lookup table {self.path} has no architecture with index {index}")
        return self._rows(rows)[0]

    def row_by_hash(self, arch_hash: str) -> Row:
        """The row of the architecture with hash ``arch_hash`` (``LookupTableError`` if the table has none)."""
        rows = self._execute(f"SELECT {SELECTED} FROM archs WHERE hash = ?", (str(arch_hash),))
        if not rows:
            raise LookupTableError(f"lookup table {self.path} has no architecture with hash {str(arch_hash)[:40]}")
        return self._rows(rows)[0]

    def describe(self) -> dict:
        """A JSON-friendly summary of the table's metadata."""
        m = self.meta
        return {"path": str(self.path), "space": m["space"], "scale": m["scale"], "fingerprint": m["fingerprint"],
                "rows": m["rows"], "space_size": m["size"], "predictor": m.get("predictor"),
                "supernet": m.get("supernet"), "latency": m.get("latency"), "created": m.get("created"),
                "order": m.get("order") or {"name": "measured-first"}}

    @classmethod
    def build(cls, path: str | Path, space: "SearchSpace", predicted, choices=None, measured=None,
              latency_model: "LatencyModel | None" = None, meta: dict | None = None, batch: int = BATCH,
              progress: bool = False, latency=None, latency_source: str | None = None, order: str = DEFAULT_ORDER,
              out_of_sample=None) -> "LookupTable":
        """Write a lookup table (or resume an interrupted build of the same inputs) and open it.

        The arguments are those of :func:`graphnas.lookup.build.build_lookup_table` (``space`` and ``path`` swapped).
        """
        from .build import build_lookup_table

        path = build_lookup_table(space, path, predicted, choices=choices, measured=measured,
                                  latency_model=latency_model, meta=meta, batch=batch, progress=progress,
                                  latency=latency, latency_source=latency_source, order=order,
                                  out_of_sample=out_of_sample)
        return cls.open(path, space)
