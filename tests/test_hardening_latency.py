"""Latency tables that are damaged, crafted, interrupted or written twice: each gets one line, never a
traceback, never a wrong answer, and never runs code a table names.

One small real table is built once (module fixture); every test damages a copy of it with sqlite3.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graphnas.cli.main import main
from graphnas.cost import latency as lat
from graphnas.cost import latency_store
from graphnas.cost.latency import LatencyModel, build_latency_table, space_entries, validate
from graphnas.cost.latency_store import LatencyStore
from graphnas.cost.terms import terms
from graphnas.cost.timing import TimingConfig, TorchBackend
from graphnas.errors import GraphnasError, LatencyError

FAST = TimingConfig(warmup=1, warmup_s=0.0, runs=3, min_rounds=1, max_rounds=2, budget_s=0.05)


def build(space, path, **kw):
    return build_latency_table(space, path, TorchBackend("cpu", 1), timing=FAST,
                               fit_networks=kw.pop("fit_networks", 2), progress=False, **kw)


@pytest.fixture(scope="module")
def table(tmp_path_factory, make_tiny):
    space = make_tiny()
    path = tmp_path_factory.mktemp("hlat") / "tiny.db"
    model = build(space, path)
    return space, path, model


@pytest.fixture
def copy(table, tmp_path):
    """A fresh copy of the table (path), to damage."""
    space, path, _ = table
    out = tmp_path / "copy.db"
    shutil.copyfile(path, out)
    return out


def sql(path, *statements):
    conn = sqlite3.connect(path)
    with conn:
        for s in statements:
            conn.execute(s)
    conn.close()


def set_meta(path, key, value_json):
    sql(path, f"INSERT OR REPLACE INTO meta VALUES ('{key}', '{value_json}')")


def one_line(err) -> str:
    text = str(err.value) if hasattr(err, "value") else str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


def no_timing(*args, **kwargs):
    raise AssertionError("timed")


# ---------------------------------------------------------------------- 1: a table never makes graphnas run code
@pytest.mark.parametrize("command", [["predict", "--random"], ["validate", "--archs", "2", "--quiet"]])
def test_table_naming_a_py_file_is_never_imported(copy, tmp_path, capsys, command, monkeypatch):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil_space.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\ndef make_space(**kw):\n    raise SystemExit(7)\n")
    set_meta(copy, "space", json.dumps(str(evil)))
    latency_store.rewrite_digest(copy)
    monkeypatch.setattr(lat, "measure_many", no_timing)
    capsys.readouterr()
    assert main(["latency", command[0], "--table", str(copy), *command[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphnas: error:") and "\n" not in err and "never runs code" in err
    assert not marker.exists()


def test_nothing_in_cost_builds_a_space_from_a_table():
    import graphnas.cost as cost

    folder = os.path.dirname(cost.__file__)
    for name in os.listdir(folder):
        if name.endswith(".py"):
            text = open(os.path.join(folder, name), encoding="utf-8").read()
            assert not any(call in text for call in ("get_space(", "spec_from_file_location", "import_module(meta"))


# ---------------------------------------------------------------------- 2: names are paths, not URIs
@pytest.mark.parametrize("name", ["lat#1.db", "q?x.db", "pct%41.db", "a b#?%20.db"])
def test_odd_file_names_are_just_names(table, tmp_path, name, monkeypatch):
    space, path, model = table
    decoy = tmp_path / "pctA.db"  # what 'pct%41.db' would decode to
    decoy.write_bytes(b"junk")
    target = tmp_path / name
    shutil.copyfile(path, target)
    loaded = LatencyModel.load(target, space)
    arch = space.sample(1)
    assert loaded.latency(arch) == pytest.approx(model.latency(arch))
    monkeypatch.setattr(lat, "measure_many", no_timing)
    again = build(space, target)  # resumed read-write: nothing to time
    assert again.entries == loaded.entries
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted({name, "pctA.db"})
    assert decoy.read_bytes() == b"junk"


def test_odd_names_are_created_as_given(table, tmp_path):
    space, _, model = table
    target = tmp_path / "new#1?%41.db"
    store = LatencyStore.create(target, {k: model.meta[k] for k in ("space", "scale", "input_shape", "num_classes",
                                                                     "batch", "device")})
    store.close()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [target.name]
    with pytest.raises(LatencyError, match="incomplete"):
        LatencyModel.load(target)


# ---------------------------------------------------------------------- 4: a build killed as it starts resumes
def test_zero_byte_file_is_replaced_by_the_build(make_tiny, tmp_path):
    space = make_tiny()
    path = tmp_path / "t.db"
    path.write_bytes(b"")
    with pytest.raises(LatencyError, match="is empty.*graphnas latency build"):
        LatencyModel.load(path)
    model = build(space, path)
    assert len(model.entries) == len(space_entries(space)) and LatencyModel.load(path, space).meta["complete"]


def test_header_only_file_of_an_older_build_is_replaced(make_tiny, tmp_path):
    space = make_tiny()
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path)
    conn.executescript(latency_store._SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('format', ?)", (json.dumps(latency_store.FORMAT),))  # killed here
    conn.commit()
    conn.close()
    model = build(space, path)
    assert model.meta["complete"] and len(model.entries) == len(space_entries(space))


def test_creation_is_atomic(make_tiny, tmp_path, monkeypatch):
    space = make_tiny()
    path = tmp_path / "t.db"
    real = latency_store._initialise

    def killed_after_the_header(tmp, meta):
        real(tmp, meta)
        raise KeyboardInterrupt

    monkeypatch.setattr(latency_store, "_initialise", killed_after_the_header)
    with pytest.raises(KeyboardInterrupt):
        build(space, path)
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.setattr(latency_store, "_initialise", real)
    assert build(space, path).meta["complete"]


def test_a_killed_creators_temporary_is_removed(make_tiny, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".t.db.{dead.pid}.abcdefgh.tmp"
    stale.write_bytes(b"half a header")
    build(make_tiny(), tmp_path / "t.db")
    assert not stale.exists()


def test_non_empty_foreign_file_is_not_replaced(make_tiny, tmp_path):
    path = tmp_path / "t.db"
    path.write_bytes(b"precious, not a table" * 10)
    with pytest.raises(LatencyError, match="not a readable SQLite file|not a graphnas latency table"):
        build(make_tiny(), path)
    assert path.read_bytes() == b"precious, not a table" * 10


# ---------------------------------------------------------------------- 6: one writer per table
@pytest.fixture
def held(tmp_path):
    """A separate process holding the write lock of ``tmp_path / 'held.db'``."""
    path = tmp_path / "held.db"
    code = textwrap.dedent(f"""
        import sys, time
        from graphnas.files import output_lock
        with output_lock({str(path)!r}, "latency table", folder=False):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield path, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_second_build_fails_at_once_naming_the_holder(held, make_tiny, table, monkeypatch):
    path, pid = held
    shutil.copyfile(table[1], path)
    before = path.read_bytes()
    monkeypatch.setattr(lat, "measure_many", no_timing)
    with pytest.raises(GraphnasError, match=f"being written by another graphnas process \\(pid {pid}") as err:
        build(make_tiny(), path)
    one_line(err)
    with pytest.raises(GraphnasError, match=f"pid {pid}"):
        validate(table[2], table[0], TorchBackend("cpu", 1), n=2, timing=FAST, progress=False, store_path=path)
    assert path.read_bytes() == before
    LatencyModel.load(path)  # reading needs no lock


def test_second_build_of_a_new_table_fails_too(held, make_tiny):
    path, pid = held
    with pytest.raises(GraphnasError, match=f"pid {pid}"):
        build(make_tiny(), path)
    assert not path.exists()


# ---------------------------------------------------------------------- 9, 10: damaged and crafted tables
DAMAGE = [
    # meta: missing keys, wrong types, wrong ranges
    (["DELETE FROM meta WHERE key='batch'"], "meta key 'batch' is missing"),
    (["DELETE FROM meta WHERE key='correction'"], "meta key 'correction' is missing"),
    (["DELETE FROM meta WHERE key='device'"], "meta key 'device' is missing"),
    (["UPDATE meta SET value='\"abc\"' WHERE key='correction'"], "meta 'correction' is \"abc\""),
    (["UPDATE meta SET value='{\"const_ms\": \"1\", \"per_call_ms\": 0, \"networks\": 2}' WHERE key='correction'"],
     "correction'.const_ms"),
    (["UPDATE meta SET value='{\"const_ms\": 1e999, \"per_call_ms\": 0, \"networks\": 2}' WHERE key='correction'"],
     "meta 'correction'.const_ms is Infinity, expected a finite number"),
    (["UPDATE meta SET value='\"cpu\"' WHERE key='device'"], "meta 'device'"),
    (["UPDATE meta SET value='{\"threads\": 1}' WHERE key='device'"], "its 'backend'"),
    (["UPDATE meta SET value='\"1\"' WHERE key='batch'"], "meta 'batch'"),
    (["UPDATE meta SET value='0' WHERE key='batch'"], "meta 'batch' is 0, expected a positive integer"),
    (["UPDATE meta SET value='1.5' WHERE key='batch'"], "meta 'batch'"),
    (["UPDATE meta SET value='true' WHERE key='batch'"], "meta 'batch' is true, expected a positive integer below 2\\^31"),
    (["UPDATE meta SET value='{\"const_ms\": 0, \"per_call_ms\": 0}' WHERE key='correction'"],
     "meta 'correction'.networks is missing"),
    (["UPDATE meta SET value='[1, 2]' WHERE key='scale'"], "meta 'scale'"),
    (["UPDATE meta SET value='{\"w\": {\"x\": 1}}' WHERE key='scale'"], "meta 'scale'"),
    (["UPDATE meta SET value='\"conv\"' WHERE key='ops'"], "meta 'ops'"),
    (["UPDATE meta SET value='[3, -1, 8]' WHERE key='input_shape'"], "meta 'input_shape'"),
    (["UPDATE meta SET value='12' WHERE key='space'"], "meta 'space'"),
    (["UPDATE meta SET value='\"yes\"' WHERE key='complete'"], "meta 'complete'"),
    (["UPDATE meta SET value='0' WHERE key='reference_ms'"], "meta 'reference_ms'"),
    (["UPDATE meta SET value='-1' WHERE key='entries'"], "meta 'entries'"),
    (["UPDATE meta SET value='not json' WHERE key='batch'"], "meta 'batch' is not JSON"),
    (["UPDATE meta SET value=x'00ff' WHERE key='batch'"], "not JSON"),
    # rows: types and ranges
    (["UPDATE entries SET ref_ms=0 WHERE rowid=1"], "entries row 1 has ref_ms 0"),
    (["UPDATE entries SET ms='fast' WHERE rowid=2"], "entries row 2 has ms \"fast\""),
    (["UPDATE entries SET ms=-1 WHERE rowid=1"], "has ms -1"),
    (["UPDATE entries SET ms=1e999 WHERE rowid=1"], "has ms Infinity"),
    (["UPDATE entries SET spread=-0.5 WHERE rowid=1"], "has spread -0.5"),
    (["UPDATE entries SET runs=0 WHERE rowid=1"], "has runs 0"),
    (["UPDATE entries SET runs=2.5 WHERE rowid=1"], "has runs 2.5"),
    (["UPDATE entries SET stable=2 WHERE rowid=1"], "has stable 2"),
    (["UPDATE entries SET c_in='eight' WHERE rowid=1"], "has c_in \"eight\""),
    (["UPDATE entries SET kind='evil' WHERE rowid=1"], "has kind \"evil\""),
    (["UPDATE entries SET ms=x'01' WHERE rowid=1"], "has ms"),
    (["UPDATE entries SET key='stem|x' WHERE rowid=1"], "has key \"stem|x\", expected kind|op"),
    (["UPDATE networks SET ms=1e999 WHERE rowid=1"], "networks row 1 has ms Infinity"),
    (["UPDATE networks SET ref_ms=-2 WHERE rowid=1"], "networks row 1 has ref_ms -2"),
    (["UPDATE networks SET role='other' WHERE rowid=1"], "has role \"other\""),
    (["UPDATE networks SET choices='[1, \"a\"]' WHERE rowid=1"], "has choices"),
    (["UPDATE networks SET choices='{' WHERE rowid=1"], "has choices"),
    # rows deleted from a complete table
    (["DELETE FROM entries WHERE rowid=3"], "holds \\d+ entries, its meta says"),
    (["DELETE FROM networks WHERE role='fit'"], "holds 0 fit networks, its correction was fitted on 2"),
    # a crafted reference that overflows when rescaled
    (["UPDATE entries SET ref_ms=1e-320 WHERE rowid=1"], "rescaled by its reference workload"),
    # foreign schema
    (["ALTER TABLE entries RENAME COLUMN ms TO msec"], "table entries has columns .*msec"),
    (["DROP TABLE networks", "CREATE TABLE networks (role, hash, choices, ms, spread, runs, stable, ref_ms)"],
     "table networks has columns"),
    (["ALTER TABLE meta RENAME COLUMN value TO v"], "table meta has columns"),
    (["CREATE TRIGGER t AFTER INSERT ON entries BEGIN DELETE FROM entries; END"], "it has triggers"),
    (["DROP TABLE entries"], "not a graphnas latency table"),
    (["UPDATE meta SET value='\"other-format\"' WHERE key='format'"], "not a graphnas latency table"),
]


@pytest.mark.parametrize("statements, message", DAMAGE, ids=[m[:40] for _, m in DAMAGE])
def test_damaged_table_is_refused_with_one_line(copy, statements, message, capsys):
    sql(copy, *statements)
    with pytest.raises(LatencyError, match=message) as err:
        LatencyModel.load(copy)
    text = one_line(err)
    assert "graphnas latency build" in text
    capsys.readouterr()
    assert main(["latency", "predict", "--table", str(copy), "--random", "--any-device"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("graphnas: error:")


@pytest.mark.parametrize("statements, message", [d for d in DAMAGE if d[1].startswith(
    ("meta key 'batch'", "entries row 2 has ms", "rescaled", "it has triggers"))])
def test_damaged_table_is_not_resumed(copy, table, statements, message, monkeypatch):
    sql(copy, *statements)
    monkeypatch.setattr(lat, "measure_many", no_timing)
    with pytest.raises(LatencyError, match=message):
        build(table[0], copy)


def test_deleted_entry_with_matching_meta_is_named_when_predicting(copy, table):
    space, _, model = table
    key = next(e.key for e in space_entries(space) if e.kind == "op" and e.op.startswith("mbconv"))
    sql(copy, f"DELETE FROM entries WHERE key='{key}'", f"UPDATE meta SET value='{len(model.entries) - 1}' "
              f"WHERE key='entries'")
    latency_store.rewrite_digest(copy)
    loaded = LatencyModel.load(copy, space)
    archs = list(space.enumerate())
    edges = terms(space).edges
    needing = [a for a in archs if any(key == e.key for i in a.live_edges for e in edges[i][a.choices[i]])]
    assert needing
    with pytest.raises(LatencyError, match="has no entry for mbconv") as err:
        loaded.latency(needing[0])
    one_line(err)
    with pytest.raises(LatencyError, match="has no entry for mbconv"):
        loaded.batch_latency(space, np.array([a.choices for a in archs]))


def test_extending_a_complete_table_clears_complete_until_done(table, copy, monkeypatch):
    space, _, model = table
    key = space_entries(space)[-1].key
    sql(copy, f"DELETE FROM entries WHERE key='{key}'", f"UPDATE meta SET value='{len(model.entries) - 1}' "
              f"WHERE key='entries'")
    latency_store.rewrite_digest(copy)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lat, "measure_many", killed)
    with pytest.raises(KeyboardInterrupt):
        build(space, copy)
    with pytest.raises(LatencyError, match="incomplete"):
        LatencyModel.load(copy)
    monkeypatch.undo()
    assert build(space, copy).meta["complete"]
    assert set(LatencyModel.load(copy, space).entries) == {e.key for e in space_entries(space)}


def test_non_regular_and_folder_tables(tmp_path):
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)
    with pytest.raises(LatencyError, match="not a regular file") as err:
        LatencyModel.load(fifo)
    one_line(err)
    with pytest.raises(LatencyError, match="is a folder"):
        LatencyModel.load(tmp_path)


def test_timings_that_sum_to_infinity_are_refused_when_predicting(copy, table):
    space = table[0]
    sql(copy, "UPDATE entries SET ms=5e307", "UPDATE networks SET ms=5e307")
    latency_store.rewrite_digest(copy)
    model = LatencyModel.load(copy, space)
    with pytest.raises(LatencyError, match="predicts inf ms") as err:
        model.latency(space.sample(0))
    one_line(err)
    with pytest.raises(LatencyError, match="predicts infinity ms for 3 architectures"):
        model.batch_latency(space, np.array([space.sample(k).choices for k in range(3)]))


# ---------------------------------------------------------------------- plausible damage: the content digest
DIGEST = "is damaged: its rows and meta do not match the digest stored when it was written"


def refused_everywhere(path, match, capsys):
    """LatencyModel.load and `graphnas latency predict` refuse ``path`` with one line matching ``match``."""
    with pytest.raises(LatencyError, match=re.escape(match)) as err:
        LatencyModel.load(path)
    assert "graphnas latency build" in one_line(err)
    capsys.readouterr()
    assert main(["latency", "predict", "--table", str(path), "--random", "--any-device"]) == 2
    out, err = capsys.readouterr()
    err = err.strip()
    assert out == "" and err.startswith("graphnas: error:") and "\n" not in err and match in err


def correction_changed(path, **change):
    conn = sqlite3.connect(path)
    corr = json.loads(conn.execute("SELECT value FROM meta WHERE key='correction'").fetchone()[0])
    conn.close()
    return f"UPDATE meta SET value='{json.dumps({**corr, **change})}' WHERE key='correction'"


@pytest.mark.parametrize("damage", [
    lambda p: "UPDATE entries SET ref_ms=ref_ms*1.001 WHERE rowid=1",
    lambda p: "UPDATE entries SET ms=ms*1.5 WHERE rowid=2",
    lambda p: "UPDATE entries SET spread=spread+0.01, runs=runs+1 WHERE rowid=3",
    lambda p: "UPDATE networks SET ms=ms*1.01 WHERE rowid=1",
    lambda p: "UPDATE networks SET ref_ms=ref_ms*0.99 WHERE rowid=2",
    lambda p: correction_changed(p, const_ms=0.125),
    lambda p: correction_changed(p, per_call_ms=0.001),
    lambda p: "UPDATE meta SET value='2' WHERE key='batch'",
    lambda p: "UPDATE meta SET value='{\"backend\": \"torch\", \"device\": \"cuda\"}' WHERE key='device'",
    lambda p: "INSERT INTO meta VALUES ('note', '\"added later\"')",
    lambda p: "DELETE FROM networks WHERE rowid=1",  # found by a more specific check: 1 of the 2 fit networks left
], ids=["ref_ms", "ms", "spread+runs", "network ms", "network ref_ms", "const_ms", "per_call_ms", "batch", "device",
        "new meta key", "deleted network"])
def test_plausible_damage_is_refused_by_the_digest(copy, damage, capsys):
    sql(copy, damage(copy))
    match = "holds 1 fit networks" if "DELETE" in damage(copy) else DIGEST  # the more specific check speaks first
    refused_everywhere(copy, match, capsys)


def test_a_byte_flipped_inside_a_real_cell_is_refused(copy, capsys):
    value = 0.123456789012345  # a timing no other cell holds, in a genuine (re-digested) table
    sql(copy, f"UPDATE entries SET ms={value} WHERE rowid=1")
    latency_store.rewrite_digest(copy)
    LatencyModel.load(copy)
    data = bytearray(copy.read_bytes())
    cell = struct.pack(">d", value)  # SQLite stores REAL values as big-endian IEEE doubles
    assert data.count(cell) == 1
    data[data.index(cell) + 7] ^= 0x01  # one ulp: still a plausible timing
    copy.write_bytes(bytes(data))
    refused_everywhere(copy, DIGEST, capsys)


@pytest.mark.parametrize("statement, match", [
    ("DELETE FROM meta WHERE key='digest'", "meta key 'digest' is missing"),
    ("UPDATE meta SET value='\"abc\"' WHERE key='digest'", "meta 'digest' is \"abc\", expected a digest"),
    ("UPDATE meta SET value='\"" + "0" * 32 + "\"' WHERE key='digest'", DIGEST),
])
def test_a_missing_or_wrong_digest_is_refused(copy, statement, match, capsys, table, monkeypatch):
    sql(copy, statement)
    refused_everywhere(copy, match, capsys)
    monkeypatch.setattr(lat, "measure_many", no_timing)
    with pytest.raises(LatencyError, match=match):
        build(table[0], copy)  # nor resumed


def test_a_table_of_the_previous_format_is_refused_saying_to_rebuild_it(copy, capsys):
    sql(copy, "UPDATE meta SET value='\"graphnas-latency-1\"' WHERE key='format'",
        "DELETE FROM meta WHERE key='digest'")
    refused_everywhere(copy, "was written by an older graphnas (format graphnas-latency-1, without a digest", capsys)


def test_a_write_and_its_digest_commit_together(copy, monkeypatch):
    store = LatencyStore.open(copy)

    def killed(conn, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(latency_store, "_store_digest", killed)
    with pytest.raises(KeyboardInterrupt):
        store.set_meta(note="never written")
    store.close()
    monkeypatch.undo()
    assert "note" not in LatencyModel.load(copy).meta  # the write rolled back with its digest


def test_genuine_tables_open_resumed_and_extended_by_validate(make_tiny, tmp_path, monkeypatch, interrupt_after):
    space = make_tiny()
    path = tmp_path / "t.db"
    interrupt_after(lat, "measure_many", 1)  # killed timing the second chunk
    with pytest.raises(KeyboardInterrupt):
        build(space, path, chunk_size=3)
    monkeypatch.undo()
    store = LatencyStore.open(path)  # the interrupted table's digest covers what it committed
    assert len(store.entries()) == 3 and not store.meta()["complete"]
    store.close()
    model = build(space, path, chunk_size=3)  # resumed
    assert LatencyModel.load(path, space).entries == model.entries
    v = validate(model, space, TorchBackend("cpu", 1), n=2, timing=FAST, progress=False, store_path=path)
    store = LatencyStore.open(path)  # extended by validate: still whole
    assert sorted(h for h, *_ in store.networks("validate")) == sorted(v.hashes)
    store.close()
    sql(path, "UPDATE networks SET ms=ms*1.01 WHERE role='validate'")
    with pytest.raises(LatencyError, match=DIGEST):
        validate(model, space, TorchBackend("cpu", 1), n=2, timing=FAST, progress=False, store_path=path)


@pytest.mark.parametrize("name", ["proxyless", "spos_quant"])
def test_a_table_of_a_space_whose_scale_holds_lists_opens(tmp_path, name):
    """Stage widths (chain spaces) and bit-width pairs (spos_quant) are lists in the scale the meta records."""
    from graphnas.space.registry import get_space, space_info

    space = get_space(name, **space_info(name).cpu_scale)
    meta = {"space": name, "scale": json.loads(json.dumps(space.scale)), "input_shape": list(space.input_shape),
            "num_classes": space.num_classes, "batch": 1, "device": {"backend": "torch", "threads": 1}}
    assert any(isinstance(v, list) for v in meta["scale"].values())
    store = LatencyStore.create(tmp_path / "t.db", meta)
    try:
        assert store.meta()["scale"] == meta["scale"]
    finally:
        store.close()
