"""The SQLite file behind a latency table: metadata, timed entries, timed whole networks.

Three tables: ``meta`` (key -> JSON value: format, space, scale, batch, device, correction, ...),
``entries`` (one row per distinct operator instance: its key, median milliseconds, spread, runs,
whether the median settled, and the reference workload's latency timed alongside it) and
``networks`` (whole networks timed to fit or validate the model, with their reference timing). Raw
timings are stored; :mod:`graphnas.cost.latency` brings them to one machine speed when it reads them.
Every write is its own committed transaction, so a build that is killed keeps what it had timed and
resumes from there; ``meta['complete']`` is set only when the table is whole, and an incomplete or
foreign file is refused with one line that says how to rebuild it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..errors import LatencyError
from .timing import Measurement

__all__ = ["FORMAT", "LatencyStore"]

#: Format tag of graphnas latency tables; a file with another is refused.
FORMAT = "graphnas-latency-1"

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


class LatencyStore:
    """An open latency-table file (see the module doc). Use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    @classmethod
    def create(cls, path: str | Path, meta: dict) -> "LatencyStore":
        """A new table at ``path`` (which must not exist) with metadata ``meta``."""
        path = Path(path)
        if path.exists():
            raise LatencyError(f"latency table {path} already exists; resume it with the same arguments or "
                               f"choose another path")
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path)
        with conn:
            conn.executescript(_SCHEMA)
            conn.executemany("INSERT INTO meta VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in {"format": FORMAT, **meta, "complete": False}.items()])
        return cls(path, conn)

    @classmethod
    def open(cls, path: str | Path) -> "LatencyStore":
        """Open an existing table, refusing a missing, corrupt or foreign file with one line."""
        path = Path(path)
        fix = "build one with `graphnas latency build SPACE --out FILE`"
        if not path.is_file():
            raise LatencyError(f"latency table {path} does not exist; {fix}")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            fmt = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone() if "meta" in tables else None
        except sqlite3.DatabaseError as e:
            raise LatencyError(f"latency table {path} is not a readable SQLite file ({e}); {fix}") from None
        if fmt is None or json.loads(fmt[0]) != FORMAT or not {"entries", "networks"} <= tables:
            conn.close()
            raise LatencyError(f"{path} is not a graphnas latency table ({FORMAT}); {fix}")
        return cls(path, conn)

    # ------------------------------------------------------------------ reading
    def meta(self) -> dict:
        try:
            return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            raise LatencyError(f"latency table {self.path} has corrupt metadata ({e}); rebuild it") from None

    def entries(self) -> dict[str, tuple[Measurement, float]]:
        """Entry key -> (raw measurement, reference latency timed alongside it)."""
        try:
            rows = self.conn.execute("SELECT key, ms, spread, runs, stable, ref_ms FROM entries").fetchall()
        except sqlite3.DatabaseError as e:
            raise LatencyError(f"latency table {self.path} is corrupt ({e}); rebuild it") from None
        return {k: (Measurement(ms, spread, runs, bool(stable)), ref) for k, ms, spread, runs, stable, ref in rows}

    def networks(self, role: str) -> list[tuple[str, list[int], Measurement, float]]:
        """``(hash, choices, raw measurement, reference latency)`` of the networks timed for ``role``."""
        try:
            rows = self.conn.execute("SELECT hash, choices, ms, spread, runs, stable, ref_ms FROM networks "
                                     "WHERE role=? ORDER BY rowid", (role,)).fetchall()
            return [(h, json.loads(c), Measurement(ms, s, r, bool(st)), ref) for h, c, ms, s, r, st, ref in rows]
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            raise LatencyError(f"latency table {self.path} is corrupt ({e}); rebuild it") from None

    # ------------------------------------------------------------------ writing (one transaction each)
    def put_entries(self, rows, ref_ms: float) -> None:
        """Store ``(entry, measurement)`` rows timed together with a reference of ``ref_ms``."""
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                  [(e.key, *e, m.ms, m.spread, m.runs, int(m.stable), ref_ms) for e, m in rows])

    def put_networks(self, role: str, rows, ref_ms: float) -> None:
        """Store ``(arch, measurement)`` rows timed together with a reference of ``ref_ms``."""
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO networks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                  [(role, a.hash, json.dumps(list(a.choices)), m.ms, m.spread, m.runs, int(m.stable),
                                    ref_ms) for a, m in rows])

    def set_meta(self, **values) -> None:
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                  [(k, json.dumps(v)) for k, v in values.items()])

    def close(self) -> None:
        self.conn.close()
