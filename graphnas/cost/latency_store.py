"""The SQLite file behind a latency table: metadata, timed entries, timed whole networks.

Three tables: ``meta`` (key -> JSON value: format, space, scale, batch, device, correction, ...),
``entries`` (one row per distinct operator instance: its key, median milliseconds, spread, runs,
whether the median settled, and the reference workload's latency timed alongside it) and
``networks`` (whole networks timed to fit or validate the model, with their reference timing). Raw
timings are stored; :mod:`graphnas.cost.latency` brings them to one machine speed when it reads them.

A new file is made whole (schema and metadata) in a temporary and renamed into place, so a build
killed as it starts leaves nothing half made; a 0-byte file (left by older versions) or a header
with no timings and no ``complete`` is "nothing there" (:meth:`LatencyStore.unstarted`) and a build
replaces it. Every later write is its own committed transaction, so a build that is killed keeps what
it had timed and resumes from there; ``meta['complete']`` is set only when the table is whole.

A table is a file graphnas did not just write, so :meth:`LatencyStore.open` trusts nothing in it: the
columns of every table (``PRAGMA table_info``), the type and range of every meta field
(:func:`check_meta`), the type and range of every row, in SQL (:func:`check_rows`: finite positive
timings, integer shapes, keys that match their columns, as many entries and fit networks as the meta
says), every row through the readers (choices that are JSON lists, timings that stay finite when
brought to one machine speed), and last the digest of its content (:func:`store_digest`): the
meta (its ``digest`` excepted), every entry (by key) and every network (by role and hash), rewritten
in the transaction of every write (:meth:`~LatencyStore.put_entries`, :meth:`~LatencyStore.put_networks`,
:meth:`~LatencyStore.set_meta`), so that a value changed within its range (a ``ref_ms``, a correction
coefficient) is refused too. The most specific check speaks first: the digest's mismatch is reported
only where no other check names the damage. A missing, corrupt, foreign or damaged file is refused
with one line that says what is wrong and how to rebuild it. Files are opened by path
(:func:`graphnas.sqlite_file.connect`), so
``#``, ``?`` and ``%`` in a name are just characters.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np

from .. import sqlite_file
from ..checks import shown
from ..digest import content_digest
from ..errors import LatencyError
from ..sqlite_file import Field
from ..files import regular_file
from .timing import Measurement

__all__ = ["FORMAT", "LatencyStore", "check_meta", "check_schema", "check_rows", "store_digest", "rewrite_digest",
           "damaged", "REBUILD"]

#: Format tag of graphnas latency tables; a file with another is refused.
FORMAT = "graphnas-latency-2"
#: Formats of older graphnas versions (refused with a line saying to rebuild the table).
OLDER_FORMATS = ("graphnas-latency-1",)
#: How to make a table (said by every error about a missing, foreign or damaged one).
BUILD = "build one with `graphnas latency build SPACE --out FILE`"
REBUILD = "delete it and rebuild it with `graphnas latency build SPACE --out FILE`"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, op TEXT NOT NULL, c_in INTEGER NOT NULL, c_out INTEGER NOT NULL,
    stride INTEGER NOT NULL, res INTEGER NOT NULL, ms REAL NOT NULL, spread REAL NOT NULL, runs INTEGER NOT NULL,
    stable INTEGER NOT NULL, ref_ms REAL NOT NULL);
CREATE TABLE IF NOT EXISTS networks (
    role TEXT NOT NULL, hash TEXT NOT NULL, choices TEXT NOT NULL, ms REAL NOT NULL, spread REAL NOT NULL,
    runs INTEGER NOT NULL, stable INTEGER NOT NULL, ref_ms REAL NOT NULL, PRIMARY KEY (role, hash));
"""
_TABLES = ("meta", "entries", "networks")


#: ``PRAGMA table_info`` of the three tables, as :data:`_SCHEMA` makes them.
COLUMNS = sqlite_file.schema_columns(_SCHEMA, _TABLES)


def damaged(path, what: str) -> LatencyError:
    """The one-line error of a table whose content is wrong: what is wrong, and how to rebuild it."""
    return LatencyError(f"latency table {path} is damaged: {what}; {REBUILD}")


# ---------------------------------------------------------------------------------------------- meta
_INT32 = 2 ** 31 - 1


def _flat(v) -> bool:
    """An object of names to numbers, strings, booleans or null."""
    return sqlite_file.SCALE.ok(v) and not any(isinstance(x, list) for x in v.values())


#: Every meta field of a table (:func:`graphnas.sqlite_file.check_fields`): what it holds, and whether it is
#: required (``complete``: from when its build finishes).
META_FIELDS = {
    "space": sqlite_file.text(),
    "scale": sqlite_file.SCALE,
    "input_shape": sqlite_file.SHAPE,
    "num_classes": sqlite_file.integer(1, _INT32),
    "batch": sqlite_file.integer(1, _INT32),
    "device": Field(lambda v: _flat(v) and isinstance(v.get("backend"), str),
                    "an object of names to numbers or strings, naming at least its 'backend'"),
    "complete": sqlite_file.boolean(),
    "digest": sqlite_file.DIGEST,
    "correction": Field(lambda v: isinstance(v, dict), "an object with const_ms, per_call_ms and networks",
                        sqlite_file.COMPLETE,
                        fields={"const_ms": sqlite_file.number(), "per_call_ms": sqlite_file.number(),
                                "networks": sqlite_file.integer(0, _INT32),
                                "rms_residual_ms": sqlite_file.number(0, required=False)}),
    "entries": sqlite_file.integer(0, _INT32, required=sqlite_file.COMPLETE),
    "timing": Field(_flat, "an object of names to numbers or strings", required=False),
    "graphnas": sqlite_file.text(required=False),
    "build_seconds": sqlite_file.number(0, required=False),
    "reference_ms": sqlite_file.number(0, lo_open=True, required=False),
    "ops": Field(lambda v: isinstance(v, list) and all(isinstance(x, str) and 0 < len(x) <= 200 for x in v),
                 "a list of operator names", required=False),
}


def check_meta(meta: dict, path) -> dict:
    """``meta`` if it is a graphnas latency table's and every field has the right type and range; else one line."""
    sqlite_file.check_format(meta, path, "latency table", FORMAT, OLDER_FORMATS, LatencyError, BUILD, REBUILD)
    return sqlite_file.check_fields(meta, META_FIELDS, lambda what: damaged(path, what))


def _read_meta(conn: sqlite3.Connection, path) -> dict:
    return sqlite_file.read_meta(conn, lambda what: damaged(path, what))


# ---------------------------------------------------------------------------------------------- rows
_FINITE = "{c} <= 1.7976931348623157e308"
_REAL = "typeof({c}) IN ('real', 'integer') AND {c} {op} 0 AND " + _FINITE
_INT = "typeof({c}) = 'integer' AND {c} BETWEEN {lo} AND {hi}"
_TEXT = "typeof({c}) = 'text' AND length({c}) BETWEEN 1 AND 1000"
_TIMING = [("ms", _REAL.format(c="ms", op=">"), "a finite number of ms > 0"),
           ("spread", _REAL.format(c="spread", op=">="), "a finite number >= 0"),
           ("runs", _INT.format(c="runs", lo=1, hi=2 ** 62), "an integer >= 1"),
           ("stable", _INT.format(c="stable", lo=0, hi=1), "0 or 1"),
           ("ref_ms", _REAL.format(c="ref_ms", op=">"), "a finite number of ms > 0")]
#: Per table: (column, SQL condition every row must meet, what is expected), checked in this order.
ROW_CHECKS = {
    "entries": [("key", _TEXT.format(c="key"), "a string"),
                ("kind", "kind IN ('op', 'stem', 'head', 'add', 'concat')", "op, stem, head, add or concat"),
                ("op", _TEXT.format(c="op"), "an operator name"),
                *[(c, _INT.format(c=c, lo=1, hi=2 ** 31 - 1), "a positive integer")
                  for c in ("c_in", "c_out", "stride", "res")],
                *_TIMING,
                ("key", "key = kind || '|' || op || '|' || c_in || '|' || c_out || '|' || stride || '|' || res",
                 "kind|op|c_in|c_out|stride|res of its row")],
    "networks": [("role", "role IN ('fit', 'validate')", "fit or validate"),
                 ("hash", _TEXT.format(c="hash"), "an architecture hash"),
                 ("choices", _TEXT.format(c="choices"), "a JSON list of choices"),
                 *_TIMING],
}


def check_schema(conn: sqlite3.Connection, path) -> None:
    """Refuse tables whose columns are not :data:`COLUMNS`, or triggers (SQL a crafted file would run on our writes)."""
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    if triggers:
        raise damaged(path, f"it has triggers ({shown(triggers)}), which {FORMAT} tables never have")
    sqlite_file.check_columns(conn, COLUMNS, FORMAT, lambda what: damaged(path, what))


def check_rows(conn: sqlite3.Connection, path, meta: dict) -> None:
    """Refuse a table with a row value of a wrong type or range, or (complete) fewer rows than its meta.

    Call after :func:`check_schema`. One scan per table in SQL (a few hundred rows): the first row that fails a
    check of :data:`ROW_CHECKS` is named with its column and value. A complete table must hold
    ``meta['entries']`` entries and at least the ``correction['networks']`` fit networks it was fitted on.
    """
    for table, checks in ROW_CHECKS.items():
        conds = [f"coalesce(({sql}), 0)" for _, sql, _ in checks]
        cols = list(dict.fromkeys(c for c, *_ in checks))
        row = conn.execute(f"SELECT rowid, {', '.join(conds)}, {', '.join(cols)} FROM {table} "
                           f"WHERE NOT ({' AND '.join(conds)}) LIMIT 1").fetchone()
        if row is not None:
            values = dict(zip(cols, row[1 + len(checks):]))
            k = next(i for i, ok in enumerate(row[1:1 + len(checks)]) if not ok)
            col, _, want = checks[k]
            raise damaged(path, f"{table} row {row[0]} has {col} {shown(values[col])}, expected {want}")
    if meta.get("complete") is True:
        count = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        if count != meta["entries"]:
            raise damaged(path, f"it holds {count} entries, its meta says {meta['entries']} (entries were deleted "
                                f"or added)")
        fit = conn.execute("SELECT COUNT(*) FROM networks WHERE role = 'fit'").fetchone()[0]
        if fit < meta["correction"]["networks"]:
            raise damaged(path, f"it holds {fit} fit networks, its correction was fitted on "
                                f"{meta['correction']['networks']}")


#: What :func:`store_digest` reads besides the meta: every row, in an order that does not depend on how it was written.
_DIGEST_ROWS = {"entries": "SELECT * FROM entries ORDER BY key",
                "networks": "SELECT * FROM networks ORDER BY role, hash"}
#: The line of a table whose content changed after it was written.
DIGEST_MISMATCH = "its rows and meta do not match the digest stored when it was written"


def store_digest(conn: sqlite3.Connection, path) -> str:
    """:func:`graphnas.digest.content_digest` of the meta (its ``digest`` excepted), every entry (by key) and every
    network (by role and hash): a few hundred rows, computed in the transaction of every write and on opening."""
    meta = {k: v for k, v in _read_meta(conn, path).items() if k != "digest"}
    return content_digest({"meta": meta, **{t: conn.execute(sql).fetchall() for t, sql in _DIGEST_ROWS.items()}})


def _store_digest(conn: sqlite3.Connection, path) -> None:
    """Write the digest of the content (call inside the transaction of the write it covers)."""
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('digest', ?)", (json.dumps(store_digest(conn, path)),))


def rewrite_digest(path) -> None:
    """Store the digest of the table's current content, as a deliberate forger would. For tests and tools that
    craft tables to exercise the checks behind the digest (it detects damage, not forgery); graphnas never calls it."""
    conn = sqlite_file.connect(Path(path), "rw")
    try:
        with conn:
            _store_digest(conn, path)
    finally:
        conn.close()


def _initialise(path: Path, meta: dict) -> None:
    """Write the schema and ``meta`` (plus format, not complete) into the fresh file ``path``."""
    conn = sqlite_file.connect(path, "rw")
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a temporary: no journal file beside it
        conn.executescript(_SCHEMA)
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [(k, json.dumps(v)) for k, v in {"format": FORMAT, **meta, "complete": False}.items()])
        _store_digest(conn, path)
        conn.commit()
    finally:
        conn.close()


class LatencyStore:
    """An open latency-table file (see the module doc). Use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    @staticmethod
    def unstarted(path: str | Path) -> bool:
        """Whether ``path`` is a regular file a build may replace: 0 bytes (a build of an older version killed as
        it created it), or the schema with no timed rows and a meta without ``complete`` (killed as it wrote it)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        if st.st_size == 0:
            return True
        try:
            conn = sqlite_file.connect(path, "rw")  # rw: a hot journal of the killed writer is rolled back first
            try:
                if any(sqlite_file.columns(conn, t) != COLUMNS[t] for t in _TABLES):
                    return False
                rows = "SELECT EXISTS (SELECT 1 FROM entries) OR EXISTS (SELECT 1 FROM networks)"
                if conn.execute(rows).fetchone()[0]:
                    return False
                return conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'complete'").fetchone()[0] == 0
            finally:
                conn.close()
        except sqlite3.Error:
            return False

    @classmethod
    def create(cls, path: str | Path, meta: dict) -> "LatencyStore":
        """A new table at ``path`` with metadata ``meta``, made whole in a temporary and renamed into place.

        ``path`` must not exist, or be :meth:`unstarted` (it is replaced). Call under
        :func:`graphnas.files.output_lock` of ``path``.
        """
        from ..utils import atomic_target

        path = Path(path)
        if os.path.lexists(path) and not cls.unstarted(path):
            raise LatencyError(f"latency table {path} already exists; resume it with the same arguments or "
                               f"choose another path")
        try:
            with atomic_target(path) as tmp:
                _initialise(tmp, meta)
        except (sqlite3.Error, OSError) as e:
            raise LatencyError(f"latency table {path} cannot be written ({e}); choose a writable path") from None
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path) -> "LatencyStore":
        """Open an existing table, refusing a missing, corrupt, foreign or damaged file with one line."""
        path = regular_file(path, "latency table", BUILD, error=LatencyError)
        if path.stat().st_size == 0:
            raise LatencyError(f"latency table {path} is empty (a build was killed as it started); run the same "
                               f"`graphnas latency build` again to replace it")
        try:
            conn = sqlite_file.connect(path, "rw")
        except sqlite3.Error as e:
            raise LatencyError(f"latency table {path} cannot be opened ({e}); {BUILD}") from None
        try:
            if not set(_TABLES) <= sqlite_file.table_names(conn):
                raise LatencyError(f"{path} is not a graphnas latency table ({FORMAT}: no meta/entries/networks "
                                   f"tables); {BUILD}")
            check_schema(conn, path)
            store = cls(path, conn)
            meta = store.meta()
            check_rows(conn, path, meta)
            store.rescaled()  # every row through the readers: their checks name damage more precisely than the digest
            store.networks("validate")
            if store_digest(conn, path) != meta["digest"]:
                raise damaged(path, DIGEST_MISMATCH)
            return store
        except sqlite3.DatabaseError as e:
            conn.close()
            raise LatencyError(f"latency table {path} is not a readable SQLite file ({e}); {REBUILD}") from None
        except BaseException:
            conn.close()
            raise

    # ------------------------------------------------------------------ reading
    def meta(self) -> dict:
        """The table's metadata, every field checked (:func:`check_meta`)."""
        try:
            return check_meta(_read_meta(self.conn, self.path), self.path)
        except sqlite3.DatabaseError as e:
            raise damaged(self.path, f"its metadata cannot be read ({e})") from None

    def entries(self) -> dict[str, tuple[Measurement, float]]:
        """Entry key -> (raw measurement, reference latency timed alongside it)."""
        try:
            rows = self.conn.execute("SELECT key, ms, spread, runs, stable, ref_ms FROM entries").fetchall()
        except sqlite3.DatabaseError as e:
            raise damaged(self.path, f"its entries cannot be read ({e})") from None
        return {k: (Measurement(float(ms), float(spread), runs, bool(stable)), float(ref))
                for k, ms, spread, runs, stable, ref in rows}

    def networks(self, role: str) -> list[tuple[str, list[int], Measurement, float]]:
        """``(hash, choices, raw measurement, reference latency)`` of the networks timed for ``role``."""
        try:
            rows = self.conn.execute("SELECT hash, choices, ms, spread, runs, stable, ref_ms FROM networks "
                                     "WHERE role=? ORDER BY rowid", (role,)).fetchall()
        except sqlite3.DatabaseError as e:
            raise damaged(self.path, f"its networks cannot be read ({e})") from None
        out = []
        for h, c, ms, s, r, st, ref in rows:
            try:
                choices = json.loads(c)
            except (TypeError, ValueError, RecursionError):
                choices = None
            if not (isinstance(choices, list) and len(choices) <= 100_000
                    and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2 ** 31 for x in choices)):
                raise damaged(self.path, f"{role} network {shown(h)} has choices {shown(c)}, expected a JSON list "
                                         f"of non-negative integers")
            out.append((h, choices, Measurement(float(ms), float(s), r, bool(st)), float(ref)))
        return out

    def rescaled(self) -> tuple[float, dict, dict]:
        """``(anchor, entries, fit networks)`` with every timing brought to one machine speed.

        Each chunk was timed with the reference workload; the anchor is the median of those reference
        timings, and a timing made with reference ``r`` is scaled by ``anchor / r``. Entries map key ->
        measurement, fit networks hash -> measurement.
        """
        raw, fit = self.entries(), self.networks("fit")
        refs = sorted({ref for _, ref in raw.values()} | {ref for *_, ref in fit})
        anchor = float(np.median(refs)) if refs else 1.0

        def scaled(m: Measurement, ref: float) -> Measurement:
            return Measurement(m.ms * (anchor / ref), m.spread, m.runs, m.stable)

        entries = {k: scaled(m, ref) for k, (m, ref) in raw.items()}
        fit = {h: scaled(m, ref) for h, _, m, ref in fit}
        for what, m in [*entries.items(), *fit.items()]:  # rows are finite and > 0; a crafted ref_ms may still overflow
            if not (math.isfinite(m.ms) and m.ms > 0):
                raise damaged(self.path, f"timing {what!r} rescaled by its reference workload is {m.ms!r} ms (its "
                                         f"ref_ms is far from the others')")
        return anchor, entries, fit

    # ------------------------------------------------------------------ writing (one transaction each)
    def _write(self, sql: str, rows) -> None:
        """Run ``sql`` on ``rows`` and store the new digest, in one transaction."""
        try:
            with self.conn:
                self.conn.executemany(sql, rows)
                _store_digest(self.conn, self.path)
        except sqlite3.Error as e:
            raise LatencyError(f"latency table {self.path} cannot be written ({e}); check the disk and its "
                               f"permissions, then run the same command again (it resumes)") from None

    def put_entries(self, rows, ref_ms: float) -> None:
        """Store ``(entry, measurement)`` rows timed together with a reference of ``ref_ms``."""
        self._write("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(e.key, *e, m.ms, m.spread, m.runs, int(m.stable), ref_ms) for e, m in rows])

    def put_networks(self, role: str, rows, ref_ms: float) -> None:
        """Store ``(arch, measurement)`` rows timed together with a reference of ``ref_ms``."""
        self._write("INSERT OR REPLACE INTO networks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(role, a.hash, json.dumps([int(c) for c in a.choices]), m.ms, m.spread, m.runs, int(m.stable),
                      ref_ms) for a, m in rows])

    def set_meta(self, **values) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])

    def close(self) -> None:
        self.conn.close()
