"""What every graphnas SQLite file shares: how it is opened, its ``meta`` table of JSON values, its format tag,
and the columns its tables must have. The latency store (:mod:`graphnas.cost.latency_store`) and the lookup
store (:mod:`graphnas.lookup.store`) add only what is their own: their tables, fields and rows.

Every function that refuses a file takes ``damaged(what) -> GraphnasError``, the store's own one-line
"is damaged: WHAT; how to rebuild" error, so messages stay those of the store.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Callable

from .errors import GraphnasError
from .files import connect_sqlite

__all__ = ["connect", "table_names", "columns", "schema_columns", "read_meta", "check_format", "check_columns"]

Damaged = Callable[[str], GraphnasError]


def connect(path: str | Path, mode: str) -> sqlite3.Connection:
    """A connection to ``path`` (by path, :func:`graphnas.files.connect_sqlite`) whose text that is not UTF-8 (a
    damaged file) reads with replacement characters: it then fails a check or the digest with one line instead of
    raising ``UnicodeDecodeError`` wherever it is read."""
    conn = connect_sqlite(path, mode)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    return conn


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def columns(conn: sqlite3.Connection, table: str) -> list[tuple]:
    """``(name, declared type, NOT NULL, primary key)`` of each column of ``table`` (``PRAGMA table_info``)."""
    return [(r[1], str(r[2]).upper(), r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")]


def schema_columns(schema: str, tables) -> dict[str, list[tuple]]:
    """:func:`columns` of each of ``tables`` as the SQL ``schema`` makes them (built once, in memory)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(schema)
        return {t: columns(conn, t) for t in tables}
    finally:
        conn.close()


def read_meta(conn: sqlite3.Connection, damaged: Damaged) -> dict:
    """The ``meta`` table (key -> JSON text) as a dict; a value that is not JSON is refused naming its key."""
    meta = {}
    for key, value in conn.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(value)
        except (TypeError, ValueError, RecursionError):
            raise damaged(f"meta '{str(key)[:40]}' is not JSON text") from None
    return meta


def check_format(meta: dict, path, kind: str, fmt: str, older: tuple, error: type[GraphnasError], build: str,
                 rebuild: str) -> None:
    """Refuse ``meta`` whose format tag is not ``fmt``: an ``older`` graphnas format says to rebuild the table,
    anything else that the file is not a graphnas ``kind`` (and how to ``build`` one)."""
    tag = meta.get("format")
    if tag in older:
        raise error(f"{kind} {path} was written by an older graphnas (format {tag}, without a digest of its "
                    f"content); {rebuild}")
    if tag != fmt:
        shown = json.dumps(tag)
        raise error(f"{path} is not a graphnas {kind} (format {shown if len(shown) <= 60 else shown[:57] + '...'}, "
                    f"expected {fmt!r}); {build}")


def check_columns(conn: sqlite3.Connection, expected: dict[str, list[tuple]], fmt: str, damaged: Damaged) -> None:
    """Refuse a table whose columns (names, types, NOT NULL, keys) are not ``expected``'s."""
    for table, want in expected.items():
        have = columns(conn, table)
        if have != want:
            raise damaged(f"table {table} has columns ({', '.join(str(n) for n, *_ in have)}), not those of {fmt} "
                          f"({', '.join(n for n, *_ in want)}, with their types)")
