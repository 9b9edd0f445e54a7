"""What every graphnas SQLite file shares: how it is opened, its ``meta`` table of JSON values, its format tag,
the checks of its meta fields, and the columns its tables must have. The latency store
(:mod:`graphnas.cost.latency_store`) and the lookup store (:mod:`graphnas.lookup.store`) add only what is their
own: their tables, the spec of their meta fields (a dict of :class:`Field`, checked by :func:`check_fields`)
and their rows.

Every function that refuses a file takes ``damaged(what) -> GraphnasError``, the store's own one-line
"is damaged: WHAT; how to rebuild" error, so messages stay those of the store.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path
from typing import Callable, NamedTuple

from .checks import INT64_MAX, shown
from .digest import DIGEST_CHARS
from .errors import GraphnasError
from .files import connect_sqlite

__all__ = ["connect", "table_names", "columns", "schema_columns", "read_meta", "check_format", "Field", "COMPLETE",
           "check_fields", "integer", "number", "text", "boolean", "nullable", "DIGEST", "SCALE", "SHAPE",
           "check_columns"]

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


# ---------------------------------------------------------------------------------------------- meta fields
#: ``Field.required`` of a field a table has once its meta says ``complete`` (written when its build finishes).
COMPLETE = "complete"


class Field(NamedTuple):
    """What one meta field must hold (see :func:`check_fields`).

    Attributes:
        ok (callable): ``ok(value) -> bool``: its type and range.
        want (str): what is expected, as the message says it (``"a positive integer"``).
        required (bool or str): ``True`` (every table has it), ``False`` (checked where present) or
            :data:`COMPLETE` (a table has it once ``meta['complete']`` is true; checked where present).
        fields (dict, optional): for an object value, the :class:`Field` of each of its own keys, checked after
            ``ok`` and named ``meta 'key'.name``.
    """

    ok: Callable[[object], bool]
    want: str
    required: bool | str = True
    fields: dict | None = None


def check_fields(meta: dict, spec: dict[str, Field], damaged: Damaged) -> dict:
    """``meta`` if every field of ``spec`` is present where required and holds what it should; else
    ``damaged(what)`` naming the first that does not: ``meta key 'K' is missing`` or ``meta 'K' is VALUE,
    expected WANT`` (the value shown short, :func:`graphnas.checks.shown`). Keys ``spec`` does not name pass."""
    complete = meta.get("complete") is True
    for key, field in spec.items():
        if key in meta:
            _check_field(f"meta '{key}'", meta[key], field, damaged)
        elif field.required is True or (field.required == COMPLETE and complete):
            raise damaged(f"meta key '{key}' is missing")
    return meta


def _check_field(name: str, value, field: Field, damaged: Damaged) -> None:
    if not field.ok(value):
        raise damaged(f"{name} is {shown(value)}, expected {field.want}")
    for key, sub in (field.fields or {}).items() if isinstance(value, dict) else ():
        if key in value:
            _check_field(f"{name}.{key}", value[key], sub, damaged)
        elif sub.required:
            raise damaged(f"{name}.{key} is missing")


def integer(lo: int = 0, hi: int = INT64_MAX, want: str | None = None, required: bool | str = True) -> Field:
    """An integer (not a bool) in ``[lo, hi]``."""
    if want is None:
        bits = {INT64_MAX: " below 2^63", 2 ** 31 - 1: " below 2^31"}.get(hi, f" up to {hi}")
        want = {0: "a non-negative integer", 1: "a positive integer"}.get(lo, f"an integer >= {lo} and") + bits
    return Field(lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, want, required)


def number(lo: float = -math.inf, lo_open: bool = False, want: str | None = None,
           required: bool | str = True) -> Field:
    """A finite real number (not a bool) ``>= lo`` (``> lo`` with ``lo_open``)."""
    if want is None:
        want = "a finite number" if lo == -math.inf else f"a finite number {'>' if lo_open else '>='} {lo:g}"
    return Field(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                 and (v > lo if lo_open else v >= lo), want, required)


def text(limit: int = 1000, want: str = "a non-empty string", required: bool | str = True) -> Field:
    """A string of 1 to ``limit`` characters."""
    return Field(lambda v: isinstance(v, str) and 0 < len(v) <= limit, want, required)


def boolean(required: bool | str = True) -> Field:
    return Field(lambda v: isinstance(v, bool), "true or false", required)


def nullable(field: Field) -> Field:
    """``field``, or ``None``."""
    return field._replace(ok=lambda v: v is None or field.ok(v), want=f"null or {field.want}")


#: A content digest (:func:`graphnas.digest.content_digest`).
DIGEST = Field(lambda v: isinstance(v, str) and re.fullmatch(f"[0-9a-f]{{{DIGEST_CHARS}}}", v) is not None,
               f"a digest ({DIGEST_CHARS} hexadecimal digits)")
def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _scale(v) -> bool:
    """Names to scalars or lists of them, nested to any depth (``spos_quant``'s bit-width pairs), never objects."""
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        return False
    todo = list(v.values())
    while todo:  # a loop, not recursion: a deeply nested list is refused, not a RecursionError
        x = todo.pop()
        if isinstance(x, list):
            todo.extend(x)
        elif not _scalar(x):
            return False
    return True


#: A space's scale arguments, as tables record them (``json.loads(json.dumps(space.scale))``).
SCALE = Field(_scale, "an object of scale arguments (names to numbers, strings, booleans, null or lists of them)")
#: An input shape: 1 to 8 positive integers.
SHAPE = Field(lambda v: isinstance(v, list) and 0 < len(v) <= 8 and all(integer(1).ok(x) for x in v),
              "a list of positive integers")


def check_columns(conn: sqlite3.Connection, expected: dict[str, list[tuple]], fmt: str, damaged: Damaged) -> None:
    """Refuse a table whose columns (names, types, NOT NULL, keys) are not ``expected``'s."""
    for table, want in expected.items():
        have = columns(conn, table)
        if have != want:
            raise damaged(f"table {table} has columns ({', '.join(str(n) for n, *_ in have)}), not those of {fmt} "
                          f"({', '.join(n for n, *_ in want)}, with their types)")
