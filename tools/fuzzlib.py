"""The reliability harness's machinery: mutations of files and the classification of what graphnas did
with them (``tools/bench_reliability.py`` has the targets, the kills and the report).

Outcomes of one attempt (``OUTCOMES``):

- ``refused``: a :class:`~graphnas.errors.GraphnasError` with a one-line message (in-process), or exit
  status 2 with exactly one stderr line ``graphnas: error: ...`` (CLI): a clean refusal;
- ``same``: accepted, and the answer equals the answer on the undamaged file (a flip in unused bytes);
- ``inert``: a crafted payload file accepted without running its code (its answer may differ: the payload
  changes what the file says);
- ``traceback``: any other exception, exit status or stderr (the detail names the exception and where);
- ``hang``: the call ran past its time limit;
- ``code_executed``: a crafted payload's marker file exists afterwards;
- ``wrong``: accepted, with an answer other than the undamaged file's (a silent wrong answer);
- ``lost``: a killed run could not be resumed, or ended with another deterministic result;
- ``orphans``: temporaries (``.NAME.PID.XXXXXXXX.tmp``) left after the final successful run;
- ``both_writers``: two writers of one output both ran (or neither did, or the loser did not fail at once
  with one line naming the holder).

Everything here is seeded: the same ``random.Random`` gives the same mutations.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

OUTCOMES = ("refused", "same", "inert", "traceback", "hang", "code_executed", "wrong", "lost", "orphans", "both_writers")
FAILURES = ("traceback", "hang", "code_executed", "wrong", "lost", "orphans", "both_writers")
TEMPORARY = re.compile(r"^\..+\.\d+\.[a-z0-9_]{8}\.tmp$")


# ---------------------------------------------------------------------- attempts and their tally
@dataclass
class Attempt:
    kind: str  # fuzz, kill, concurrent
    target: str
    mutation: str
    outcome: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.outcome}: {self.kind} {self.target} [{self.mutation}] {self.detail}".rstrip()


@dataclass
class Tally:
    attempts: list[Attempt] = field(default_factory=list)
    kills: int = 0  # SIGKILLs delivered to a running process
    skipped: list[str] = field(default_factory=list)  # targets not run, with the reason

    def add(self, attempt: Attempt) -> Attempt:
        self.attempts.append(attempt)
        return attempt

    def counts(self, kind: str | None = None) -> dict[str, int]:
        c = {o: 0 for o in OUTCOMES}
        for a in self.attempts:
            if kind is None or a.kind == kind:
                c[a.outcome] += 1
        return c

    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome in FAILURES]

    def by_target(self) -> dict[tuple[str, str], dict[str, int]]:
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for a in self.attempts:
            rows.setdefault((a.kind, a.target), {o: 0 for o in OUTCOMES})[a.outcome] += 1
        return rows


# ---------------------------------------------------------------------- hang guard and classification
class Hang(BaseException):
    """Raised by the alarm of :func:`time_limit` (a BaseException: graphnas's ``except Exception`` won't eat it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`Hang` in the main thread after ``seconds`` (no guard outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def where(exc: BaseException) -> str:
    """``Type: message (at file:line)``: the exception's first line and the innermost frame in graphnas."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "graphnas" in f.filename and "site-packages" not in f.filename] or frames
    at = f" (at {Path(ours[-1].filename).name}:{ours[-1].lineno})" if ours else ""
    msg = str(exc).strip().split("\n")[0][:200]
    return f"{type(exc).__name__}: {msg}{at}"


def canonical(answer: Any) -> str:
    """A comparable text of an answer (NaN equals NaN, tensors by their bytes)."""
    return json.dumps(answer, sort_keys=True, default=_default)


def _default(value):
    try:
        import numpy as np
        import torch
        if isinstance(value, torch.Tensor):
            return digest_tensor(value)
        if isinstance(value, np.ndarray):
            return hashlib.sha256(value.tobytes()).hexdigest()[:16] + str(value.shape) + str(value.dtype)
        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    return repr(value)


def digest_tensor(t) -> str:
    t = t.detach().cpu().contiguous()
    return f"{t.dtype}{tuple(t.shape)}:" + hashlib.sha256(t.view(-1).view(__import__("torch").uint8).numpy()
                                                        .tobytes() if t.numel() else b"").hexdigest()[:16]


def classify_call(fn: Callable[[], Any], reference: str, marker: Path, timeout: float) -> tuple[str, str]:
    """Run ``fn`` (an in-process call) under a hang guard; ``(outcome, detail)``."""
    from graphnas.errors import GraphnasError

    marker.unlink(missing_ok=True)
    try:
        with time_limit(timeout), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):  # progress notes of graphnas: not what is judged
            answer = fn()
        outcome, detail = _compare(answer, reference)
    except Hang:
        outcome, detail = "hang", f"no answer in {timeout:g} s"
    except GraphnasError as e:
        lines = str(e).strip().split("\n")
        outcome, detail = ("refused", lines[0][:160]) if len(lines) == 1 and lines[0] else \
            ("traceback", f"{type(e).__name__} message of {len(lines)} lines: {lines[0][:160]}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - every other exception is what the harness counts
        outcome, detail = "traceback", where(e)
    if marker.exists():
        outcome, detail = "code_executed", f"marker {marker.name} was written ({detail})"
    return outcome, detail


def _compare(answer: Any, reference: str) -> tuple[str, str]:
    got = canonical(answer)
    if got == reference:
        return "same", ""
    return "wrong", "answer differs from the undamaged file's: " + first_difference(json.loads(got),
                                                                                    json.loads(reference))


def first_difference(got, want, at: str = "") -> str:
    """Where two decoded answers first differ, and how (short)."""
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want), key=str):
            if k not in got or k not in want:
                return f"{at}/{k} {'missing' if k not in got else 'extra'}"
            if got[k] != want[k]:
                return first_difference(got[k], want[k], f"{at}/{k}")
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return f"{at} has {len(got)} items, not {len(want)}"
        for i, (a, b) in enumerate(zip(got, want)):
            if a != b:
                return first_difference(a, b, f"{at}[{i}]")
    return f"{at or 'answer'} = {json.dumps(got)[:60]}, not {json.dumps(want)[:60]}"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``graphnas.cli.main(argv)`` in this process, its stdout and stderr captured."""
    from graphnas.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return (0 if rc is None else rc), out.getvalue(), err.getvalue()


def cli_verdict(rc: int, out: str, err: str) -> tuple[str, str] | None:
    """The outcome of a finished CLI run, or None when it succeeded (then its output is compared)."""
    lines = err.rstrip("\n").split("\n") if err.strip() else []
    if "Traceback" in err:
        return "traceback", _last_exception_line(err)
    if rc == 2 and len(lines) == 1 and lines[0].startswith("graphnas: error: "):
        return "refused", lines[0][:200]
    if rc == 0:
        return None
    return "traceback", f"exit status {rc}, {len(lines)} stderr lines: {(lines[-1] if lines else '')[:200]}"


def _last_exception_line(err: str) -> str:
    lines = [l for l in err.strip().split("\n") if l.strip()]
    at = [l.strip() for l in lines if l.strip().startswith("File ") and "graphnas" in l]
    return (lines[-1][:200] if lines else "") + (f" ({at[-1][:160]})" if at else "")


def classify_cli(argv: list[str], reference: str, marker: Path, timeout: float,
                 answer: Callable[[str], Any] = lambda out: out) -> tuple[str, str]:
    """Run the CLI in-process under a hang guard; ``answer`` turns its stdout into the compared answer."""
    marker.unlink(missing_ok=True)
    try:
        with time_limit(timeout):
            rc, out, err = run_cli(argv)
        verdict = cli_verdict(rc, out, err)
        outcome, detail = verdict if verdict else _compare(answer(out), reference)
        if verdict is None and err.strip():
            outcome, detail = "traceback", f"exit status 0 but stderr says: {err.strip().splitlines()[-1][:160]}"
    except Hang:
        outcome, detail = "hang", f"no answer in {timeout:g} s"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001
        outcome, detail = "traceback", where(e)
    if marker.exists():
        outcome, detail = "code_executed", f"marker {marker.name} was written ({detail})"
    return outcome, detail


# ---------------------------------------------------------------------- byte mutations (any file)
def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randrange(0, max(1, len(data)))
    return data[:at], f"truncate@{at}/{len(data)}"


def flip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "flip(empty)"
    buf = bytearray(data)
    spots = sorted(rng.randrange(len(buf)) for _ in range(rng.choice((1, 1, 2, 4))))
    for i in spots:
        buf[i] ^= rng.randrange(1, 256)
    return bytes(buf), "flip@" + ",".join(map(str, spots))


def zero_fill(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "zero(empty)"
    start = rng.randrange(len(data))
    n = min(len(data) - start, rng.choice((1, 8, 64, 512, 4096)))
    return data[:start] + bytes(n) + data[start + n:], f"zero@{start}+{n}"


BYTE_MUTATIONS = (truncate, flip, zero_fill)


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return rng.choice(BYTE_MUTATIONS)(data, rng)


# ---------------------------------------------------------------------- JSON mutations
HUGE_DIGITS = 5000  # past Python's int-from-string limit (4300 digits)
DEEP = 100_000  # nesting past the recursion limit
_SPECIAL = {"__HUGE__": "9" * HUGE_DIGITS, "__DEEP__": "[" * DEEP + "]" * DEEP, "__BIG__": "1e999",
            "__NEGBIG__": "-1e999", "__2E64__": str(2 ** 64)}
#: Never a valid value of any field: non-finite, past every integer limit, nested past the parser's stack.
INVALID_VALUES: tuple = (float("nan"), float("inf"), float("-inf"), "__HUGE__", "__DEEP__", "__BIG__", "__NEGBIG__")
#: Values of each JSON type; a field gets one of *another* type than its own (a wrong type), so that an
#: accepted file with another answer is a silent wrong answer, not a valid edit.
TYPED_VALUES: dict = {"null": (None,), "bool": (True, False), "number": (0, -1, 1.5, 2 ** 64),
                      "str": ("x", "", "__proto__"), "list": ([], [1, "a"], [None]), "dict": ({}, {"k": 1})}


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "str", list: "list", dict: "dict"}.get(type(value), "other")


def wrong_value(original, rng: random.Random):
    """A value that is never valid where ``original`` is: another JSON type (numbers not for null), or an
    invalid literal (NaN, Infinity, a 5,000-digit int, nesting past the recursion limit)."""
    kinds = [k for k in TYPED_VALUES if k != json_type(original) and not (json_type(original) == "null"
                                                                          and k in ("number", "bool"))]
    pool = [v for k in kinds for v in TYPED_VALUES[k]]
    return rng.choice(pool) if rng.random() < 0.65 else rng.choice(INVALID_VALUES)


def json_paths(obj, prefix=()) -> list[tuple]:
    """Every path (tuple of keys/indices) to a value in ``obj``, the root excluded."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        if len(out) < 2000:
            out.extend(json_paths(v, prefix + (k,)))
    return out


def _dump(obj) -> str:
    text = json.dumps(obj)
    for key, literal in _SPECIAL.items():
        text = text.replace(json.dumps(key), literal)
    return text


def mutate_json(text: str, rng: random.Random) -> tuple[str, str]:
    """One structural mutation of a JSON document: a wrong value at a random path, a deleted or foreign key,
    a foreign document, a duplicate key, deep nesting, a huge int, NaN/Infinity literals."""
    obj = json.loads(text)
    paths = json_paths(obj)
    kind = rng.choice(("value", "value", "value", "delete", "extra", "document", "duplicate"))
    if kind == "document" or not paths:
        doc = rng.choice(("[]", "{}", "null", "42", '"arch"', "NaN", "__DEEP__", "__HUGE__", '{"a": 1}', "",
                          json.dumps([obj, obj]), json.dumps({"arch": obj})))
        return _SPECIAL.get(doc, doc), f"document={doc[:20]}"
    path = rng.choice(paths)
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    label = "/".join(map(str, path))
    if kind == "delete":
        del parent[path[-1]]
        return _dump(obj), f"delete {label}"
    if kind == "extra":
        if isinstance(parent, dict):
            parent["__graphnas_fuzz__"] = 1
        else:
            parent.append(rng.choice((0, "x", None)))
        return _dump(obj), f"extra key/item at {label}"
    if kind == "duplicate" and isinstance(obj, dict) and obj:
        key = rng.choice(list(obj))
        value = wrong_value(obj[key], rng)
        body = _dump(obj)
        return body[:-1] + f", {json.dumps(key)}: {_dump(value)}}}", f"duplicate key {key}={value!r}"
    value = wrong_value(parent[path[-1]], rng)
    parent[path[-1]] = value
    return _dump(obj), f"{label}={str(value)[:20]}"


# ---------------------------------------------------------------------- SQLite mutations
#: Cell values no graphnas column holds (-1 only where a value cannot be negative: not accuracies).
SQL_VALUES = ("NULL", "'text'", "-1", "1e999", "-1e999", "9223372036854775807", "X'00ff'", "''")
SIGNED_COLUMNS = {"predicted", "measured", "score"}
META_INVALID = ("NaN", "Infinity", "-Infinity", "1e999", "not json", "9" * HUGE_DIGITS, "[" * 3000 + "]" * 3000)


def _meta_value(original: str, rng: random.Random) -> str:
    try:
        value = json.loads(original)
    except ValueError:
        value = None
    if rng.random() < 0.4:
        return rng.choice(META_INVALID)
    v = wrong_value(value, rng)
    return _SPECIAL.get(v, v) if isinstance(v, str) and v in _SPECIAL else json.dumps(v)


def sqlite_tables(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE "
                                            "'sqlite%'")]
        return {n: [r[1] for r in conn.execute(f"PRAGMA table_info({n})")] for n in names}
    finally:
        conn.close()


def _integer_keys(path: Path) -> set[tuple[str, str]]:
    """``(table, column)`` of INTEGER PRIMARY KEY columns (they refuse any value but an integer)."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {(n, r[1]) for n in names for r in conn.execute(f"PRAGMA table_info({n})")
                if r[5] and r[2].upper() == "INTEGER"}
    finally:
        conn.close()


def _loosen(conn: sqlite3.Connection, table: str) -> None:
    """Drop the table's constraints (NOT NULL, primary key) so any value or duplicate can go in; its indexes
    are made again (without UNIQUE)."""
    indexes = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND "
                                          "sql IS NOT NULL", (table,))]
    conn.execute(f"CREATE TABLE fuzz_copy AS SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE fuzz_copy RENAME TO {table}")
    for sql in indexes:
        conn.execute(re.sub(r"^CREATE UNIQUE INDEX", "CREATE INDEX", sql, flags=re.I))


def sql_mutations(path: Path, rng: random.Random, hash_column: str | None = None) -> tuple[list[str], str, str | None]:
    """One random tampering of a graphnas SQLite file: ``(statements, label, table to loosen first or None)``.

    Meta values (``key``/``value`` JSON) get wrong types, NaN, huge or deep values, are deleted or joined
    by foreign keys; row tables get wrong values per column (NULL, text, negative, inf, blobs), deleted,
    duplicated or all rows gone, foreign or dropped columns and tables, a tampered index or hash."""
    tables = sqlite_tables(path)
    conn = sqlite3.connect(path)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        meta_keys = sorted(meta)
        rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()
    row_tables = [t for t in tables if t != "meta" and rows[t]]
    kind = rng.choice(("meta", "meta", "meta", "cell", "cell", "cell", "rows", "schema"))
    if kind == "meta" and meta_keys:
        key = rng.choice(meta_keys)
        action = rng.choice(("value", "value", "value", "delete", "foreign"))
        if action == "delete":
            return [f"DELETE FROM meta WHERE key = '{key}'"], f"meta: delete {key}", None
        if action == "foreign":
            return [f"INSERT INTO meta VALUES ('{key}_x', '1')", "INSERT INTO meta VALUES ('__proto__', '{}')"], \
                f"meta: foreign keys", None
        value = _meta_value(meta[key], rng)
        return [f"UPDATE meta SET value = {_quote(value)} WHERE key = '{key}'"], f"meta: {key}={value[:16]}", None
    if kind in ("cell", "meta") and row_tables:
        table = rng.choice(row_tables)
        column = rng.choice(tables[table])
        value = rng.choice([v for v in SQL_VALUES if not (v == "-1" and column in SIGNED_COLUMNS)])
        row = rng.randrange(rows[table])
        if hash_column and column == hash_column and rng.random() < 0.5:
            value = "'0123456789abcdef'"
        where = f"rowid = (SELECT rowid FROM {table} LIMIT 1 OFFSET {row})"
        strict = value == "NULL" or ((table, column) in _integer_keys(path) and value not in ("-1", SQL_VALUES[5]))
        return [f"UPDATE {table} SET {column} = {value} WHERE {where}"], f"{table}.{column}[{row}]={value}", \
            table if strict else None
    if kind == "rows" and row_tables:
        table = rng.choice(row_tables)
        row = rng.randrange(rows[table])
        where = f"rowid = (SELECT rowid FROM {table} LIMIT 1 OFFSET {row})"
        first = tables[table][0]
        choice = rng.choice(("delete", "delete_all", "duplicate", "shift_index", "swap"))
        if choice == "delete":
            return [f"DELETE FROM {table} WHERE {where}"], f"{table}: delete row {row}", None
        if choice == "delete_all":
            return [f"DELETE FROM {table}"], f"{table}: delete all rows", None
        if choice == "duplicate":
            return [f"INSERT INTO {table} SELECT * FROM {table} WHERE {where}"], f"{table}: duplicate row {row}", table
        if choice == "shift_index":
            delta = rng.choice((-1, 1, 10 ** 6, -(10 ** 6)))
            return [f"UPDATE {table} SET {first} = {first} + {delta} WHERE {where} AND typeof({first}) = 'integer'"], \
                f"{table}.{first}[{row}] += {delta}", table
        other = rng.randrange(rows[table])  # two rows' keys exchanged: each row's values under the other's key
        conn = sqlite3.connect(path)
        try:
            keys = [conn.execute(f"SELECT {first} FROM {table} LIMIT 1 OFFSET {i}").fetchone()[0] for i in (row, other)]
        finally:
            conn.close()
        a, b = (_literal(k) for k in keys)
        tmp = "-12345" if isinstance(keys[0], int) else "'__swap__'"
        return [f"UPDATE {table} SET {first} = {tmp} WHERE {first} = {a}",
                f"UPDATE {table} SET {first} = {a} WHERE {first} = {b}",
                f"UPDATE {table} SET {first} = {b} WHERE {first} = {tmp}"], \
            f"{table}: keys of rows {row} and {other} swapped", None
    table = rng.choice(list(tables))
    column = rng.choice(tables[table])
    choice = rng.choice(("add_column", "drop_column", "drop_table", "rename_table", "foreign_table",
                         "retype_column"))
    if choice == "add_column":
        return [f"ALTER TABLE {table} ADD COLUMN fuzz_extra TEXT DEFAULT 'x'"], f"{table}: extra column", None
    if choice == "drop_column":  # its indexes go first (SQLite refuses to drop an indexed column)
        conn = sqlite3.connect(path)
        try:
            indexes = [r[0] for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND "
                                                  "tbl_name=? AND sql IS NOT NULL", (table,)) if column in r[1]]
        finally:
            conn.close()
        return [f"DROP INDEX {i}" for i in indexes] + [f"ALTER TABLE {table} DROP COLUMN {column}"], \
            f"{table}: drop column {column}", table
    if choice == "drop_table":
        return [f"DROP TABLE {table}"], f"drop table {table}", None
    if choice == "rename_table":
        return [f"ALTER TABLE {table} RENAME TO {table}_old"], f"rename table {table}", None
    if choice == "foreign_table":
        return ["CREATE TABLE IF NOT EXISTS fuzz_foreign (a, b)", "INSERT INTO fuzz_foreign VALUES (1, 'x')"], \
            "foreign table", None
    return [f"UPDATE {table} SET {column} = CAST({column} AS BLOB)"], f"{table}.{column} all as blobs", None


def _literal(value) -> str:
    return _quote(value) if isinstance(value, str) else repr(value)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def tamper_sqlite(src: Path, dst: Path, rng: random.Random, hash_column: str | None = None) -> str:
    """Copy ``src`` to ``dst`` and apply one :func:`sql_mutations`; returns its label."""
    shutil.copyfile(src, dst)
    statements, label, loosen = sql_mutations(dst, rng, hash_column)
    conn = sqlite3.connect(dst)
    try:
        with conn:
            if loosen:
                _loosen(conn, loosen)
            for s in statements:
                conn.execute(s)
    except sqlite3.Error as e:
        label += f" (not applied: {e})"
    finally:
        conn.close()
    if rng.random() < 0.5 and renew_digest(dst):  # as a forger would: the checks behind the digest must catch it
        label += " (digest renewed)"
    return label


def renew_digest(path: Path) -> bool:
    """Store the digest of a graphnas table's current content (lookup or latency table, told apart by its
    tables), as a deliberate forger would; False where the table is too damaged to digest."""
    from graphnas.cost import latency_store
    from graphnas.lookup import store as lookup_store

    try:
        conn = sqlite3.connect(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
        module = lookup_store if "archs" in tables else latency_store
        module.rewrite_digest(path)
        return True
    except Exception:  # noqa: BLE001 - a table damaged past digesting keeps its old digest
        return False


# ---------------------------------------------------------------------- checkpoints and image folders
def mutate_torch(src: Path, dst: Path, rng: random.Random) -> str:
    """A checkpoint whose content is edited and saved again: a wrong type, a dropped or foreign key, a tensor
    of another shape or dtype, NaN weights (a structurally valid file with bad content); half of them with a
    renewed content digest, as a forger would write them, half with the old one."""
    import torch

    blob = torch.load(src, weights_only=True)
    keys = sorted(blob)
    key = rng.choice(keys)
    action = rng.choice(("drop", "type", "type", "tensor", "tensor", "nested", "extra"))
    label = f"{action} {key}"
    if action == "drop":
        del blob[key]
    elif action == "type":
        value = rng.choice((None, "x", -1, 2 ** 70, 1.5, float("nan"), [], {}, torch.zeros(2)))
        blob[key] = value
        label += f"={value!r}"[:40]
    elif action == "extra":
        blob["fuzz_extra"] = {"a": [1, 2]}
    else:
        state = [v for v in blob.values() if isinstance(v, dict) and any(isinstance(t, torch.Tensor)
                                                                       for t in v.values())]
        if not state:
            del blob[key]
            label = f"drop {key}"
        else:
            sd = rng.choice(state)
            names = sorted(k for k, v in sd.items() if isinstance(v, torch.Tensor))
            name = rng.choice(names)
            t = sd[name]
            change = rng.choice(("shape", "dtype", "nan", "drop", "inf", "empty"))
            label = f"{name}: {change}"
            if change == "shape":
                sd[name] = torch.zeros(*(t.shape[:-1] if t.dim() else ()), (t.shape[-1] if t.dim() else 1) + 1)
            elif change == "dtype":
                sd[name] = t.to(torch.float64 if t.is_floating_point() else torch.float32)
            elif change == "nan" and t.is_floating_point():
                sd[name] = torch.full_like(t, float("nan"))
            elif change == "inf" and t.is_floating_point():
                sd[name] = torch.full_like(t, float("inf"))
            elif change == "empty":
                sd[name] = torch.empty(0)
            else:
                del sd[name]
                label = f"{name}: drop"
    if rng.random() < 0.5:  # as a forger would: a fresh digest, so the field checks must catch it
        from graphnas.train.checkpoint import save_checkpoint

        save_checkpoint(dst, blob)
        return label + " (digest renewed)"
    torch.save(blob, dst)  # the old digest: the digest check must catch it
    return label


def mutate_image_folder(src: Path, dst: Path, rng: random.Random) -> str:
    """A copy of the image folder with one image damaged, replaced, or a trap put in."""
    shutil.copytree(src, dst)
    files = sorted(dst.rglob("*.png"))
    victim = rng.choice(files)
    choice = rng.choice(("bytes", "bytes", "bytes", "bytes", "empty", "text", "fifo", "bomb", "devzero",
                         "empty_class", "loop"))
    rel = victim.relative_to(dst)
    if choice == "bytes":
        data, label = mutate_bytes(victim.read_bytes(), rng)
        victim.write_bytes(data)
        return f"{rel}: {label}"
    if choice == "empty":
        victim.write_bytes(b"")
    elif choice == "text":
        victim.write_text("not an image\n")
    elif choice == "fifo":
        victim.unlink()
        os.mkfifo(victim)
    elif choice == "bomb":
        victim.write_bytes(png_bomb())
    elif choice == "devzero":
        victim.unlink()
        victim.symlink_to("/dev/zero")
    elif choice == "empty_class":
        (dst / "zzz_empty").mkdir()
    else:
        victim.unlink()
        victim.symlink_to(victim)
    return f"{rel}: {choice}"


def png_bomb() -> bytes:
    """A valid PNG header claiming 60000 x 60000 pixels (3.6 gigapixels) with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


# ---------------------------------------------------------------------- crafted code-execution payloads
def pickle_payload(marker: Path) -> bytes:
    """A pickle whose loading would create ``marker`` (``open(marker, 'w')`` through ``__reduce__``)."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps({"format": "graphnas-train", "model": Payload()}, protocol=2)


def torch_payload(marker: Path, dst: Path) -> None:
    """A torch zip file (``torch.save`` layout) whose ``data.pkl`` would create ``marker`` when unpickled."""
    import torch

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "graphnas-train", "version": 1, "model": Payload(), "state_dict": Payload(),
                "meta": Payload()}, dst)


def space_payload(marker: Path) -> str:
    """A space module that writes ``marker`` when imported (and then builds a valid space)."""
    return (f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
            "def make_space(**scale):\n    raise SystemExit('payload imported')\n")


def leftover_temporaries(folder: Path) -> list[str]:
    """Names of atomic-write temporaries (``.NAME.PID.XXXXXXXX.tmp``) in ``folder`` and below."""
    out = []
    for dirpath, _, files in os.walk(folder):
        out += [os.path.join(dirpath, f) for f in files if TEMPORARY.match(f)]
    return sorted(out)
