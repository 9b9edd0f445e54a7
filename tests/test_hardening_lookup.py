"""Hardening: lookup tables that are damaged or crafted, written concurrently, or named with URI characters.

One small table (NAS-Bench-201 at 16 px, 8 channels, one cell per stage: 15,625 rows, latency given per
architecture) is built once; each test damages a copy of it with sqlite3 directly, as a user could, and
checks that opening or querying it fails with one LookupTableError line saying what is wrong and how to
rebuild it, never a traceback or a silent wrong answer.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphnas
import graphnas.cli.main
from graphnas.errors import EstimatorError, GraphnasError, LookupTableError
from graphnas.estimate.groundtruth import ground_truth_archs, load_ground_truth, mean_accuracy
from graphnas.lookup import LookupTable, store

SCALE = dict(resolution=16, channels=8, cells_per_stage=1)


@pytest.fixture(scope="module")
def space():
    return graphnas.get_space("nb201", **SCALE)


def build(path, space, with_latency=True, **kwargs):
    rng = np.random.default_rng(0)
    predicted = np.round(rng.random(space.size), 3)
    measured = np.where(rng.random(space.size) < 0.1, np.round(rng.random(space.size), 4), np.nan)
    latency = rng.uniform(1.0, 20.0, space.size) if with_latency else None
    return LookupTable.build(path, space, predicted, measured=measured, latency=latency,
                             latency_source="test" if with_latency else None, batch=4000, **kwargs)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory, space):
    path = tmp_path_factory.mktemp("hardening_lookup") / "nb201.db"
    build(path, space).close()
    return path


def damaged_copy(table_path, tmp_path, *sql, name="damaged.db", forged=False):
    """A copy of the table with ``sql`` statements run on it (the damage); ``forged``: with its digest recomputed
    afterwards (what only a deliberate forger does), so that the checks behind the digest are what finds it."""
    path = tmp_path / name
    shutil.copyfile(table_path, path)
    conn = sqlite3.connect(path)
    with conn:
        for statement in sql:
            conn.execute(statement)
    conn.close()
    if forged:
        store.rewrite_digest(path)
    return path


def set_meta(key, raw):
    return f"UPDATE meta SET value = {raw} WHERE key = '{key}'"


def refused(path, match, **query) -> str:
    """Open ``path`` and query it: a LookupTableError of one line matching ``match`` and saying how to rebuild."""
    with pytest.raises(LookupTableError, match=match) as err:
        with LookupTable.open(path) as t:
            t.query(**query)
    text = str(err.value)
    assert "\n" not in text and "rebuild" in text, text
    return text


def test_the_intact_table_opens_and_verifies(table_path):
    with LookupTable.open(table_path) as t:
        assert t.verify() is t
        assert len(t.query(top=5)) == 5


# ------------------------------------------------------------------ defect 2: names read as URIs
@pytest.mark.parametrize("name", ["t#1.db", "p%41.db", "q?x.db"])
def test_table_names_with_uri_characters_are_paths(tmp_path, space, name):
    path = tmp_path / name
    build(path, space).close()
    with LookupTable.open(path) as t:
        assert t.best().index >= 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f".{name}.lock"])


# ------------------------------------------------------------------ defect 6: concurrent writers
def test_a_second_writer_of_one_table_fails_at_once_naming_the_holder(tmp_path, space):
    path = tmp_path / "busy.db"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from graphnas.files import output_lock
        with output_lock({str(path)!r}, "lookup table", folder=False):
            print("locked", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(GraphnasError, match=rf"lookup table .*busy.db is being written by another graphnas "
                                                rf"process \(pid {holder.pid}"):
            build(path, space)
        assert not path.exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    build(path, space).close()  # free again once the holder is done


# ------------------------------------------------------------------ defect 9: corrupt meta
@pytest.mark.parametrize("damage, match", [
    ("DELETE FROM meta WHERE key = 'rows'", "meta key 'rows' is missing"),
    (set_meta("rows", "'\"15625\"'"), "meta 'rows' is \"15625\", expected a positive integer"),
    (set_meta("rows", "'15625.0'"), "meta 'rows' is 15625.0"),
    (set_meta("rows", "'-3'"), "meta 'rows' is -3"),
    (set_meta("radices", "'[5, 5, \"5\", 5, 5, 5]'"), "meta 'radices' .* expected a non-empty list of positive"),
    (set_meta("radices", "'5'"), "meta 'radices' is 5"),
    (set_meta("radices", "'[5, 5, 5, 5, 5, 4]'"), "meta 'candidates' does not match 'radices'"),
    (set_meta("scale", "'[16]'"), "meta 'scale' is \\[16\\], expected an object"),
    (set_meta("candidates", "'[[\"none\"]]'"), "meta 'candidates' does not match 'radices'"),
    (set_meta("candidates", "'[[1, 2, 3, 4, 5], [], [], [], [], []]'"), "meta 'candidates' .* lists of operator names"),
    (set_meta("latency", "'\"fast\"'"), "meta 'latency' is \"fast\""),
    (set_meta("latency", "'{\"device\": null}'"), "meta 'latency' .* device, describe, table and batch"),
    (set_meta("size", "'99'"), "meta 'size' 99 does not match 'radices' \\(15625"),
    (set_meta("size", "'1e999'"), "meta 'size' is Infinity"),
    (set_meta("done", "'7'"), "meta 'done' 7 does not match 'rows' 15625"),
    (set_meta("complete", "'\"yes\"'"), "meta 'complete' is \"yes\", expected true or false"),
    (set_meta("in_degree", "'0'"), "meta 'in_degree' is 0"),
    (set_meta("input_shape", "'[3, -16, 16]'"), "meta 'input_shape'"),
    (set_meta("build_seconds", "'NaN'"), "meta 'build_seconds' is NaN"),
    (set_meta("rows", "'true'"), "meta 'rows' is true, expected a positive integer below 2\\^63"),
    (set_meta("latency", "'{\"device\": null, \"describe\": \"cpu\", \"table\": null, \"batch\": 0}'"),
     "meta 'latency'.batch is 0, expected null or a positive integer"),
    (set_meta("scale", "'{\"resolution\": '"), "meta 'scale' is not JSON text"),
    (set_meta("scale", "x'ff'"), "meta 'scale' is not JSON text"),
    (set_meta("scale", "'" + "[" * 100_000 + "'"), "meta 'scale' is not JSON text"),
])
def test_corrupt_meta_is_refused_with_one_line(table_path, tmp_path, damage, match):
    refused(damaged_copy(table_path, tmp_path, damage), "is damaged: " + match)


def test_foreign_or_missing_columns_and_indexes_are_refused(table_path, tmp_path):
    refused(damaged_copy(table_path, tmp_path, "ALTER TABLE archs ADD COLUMN extra REAL", name="extra.db"),
            r"table archs has columns \(idx, .*, extra\), not those of graphnas-lookup-3")
    refused(damaged_copy(table_path, tmp_path, "DROP INDEX archs_latency", "DROP INDEX archs_rank",
                         "ALTER TABLE archs DROP COLUMN latency",
                         name="fewer.db"), r"table archs has columns \(idx, hash, predicted, measured, madds, params, "
                                          r"tier, score\)")
    refused(damaged_copy(table_path, tmp_path, "DROP INDEX archs_madds", name="noindex.db"),
            "index archs_madds is missing")
    refused(damaged_copy(table_path, tmp_path, "DROP INDEX archs_rank", "CREATE INDEX archs_rank ON archs(tier) "
                         "WHERE idx < 10", name="partial.db"), "index archs_rank is not the one")


# ------------------------------------------------------------------ defect 10: rows that disagree with the meta
def test_deleted_rows_are_refused(table_path, tmp_path):
    refused(damaged_copy(table_path, tmp_path, "DELETE FROM archs WHERE idx % 7 = 0", name="some.db"),
            "is damaged: it holds 13392 rows, its meta says 15625")
    refused(damaged_copy(table_path, tmp_path, "DELETE FROM archs", name="none.db"),
            "is damaged: it holds 0 rows, its meta says 15625")


def best_index(table_path) -> int:
    with LookupTable.open(table_path) as t:
        return t.best().index


def test_a_tampered_index_or_hash_is_refused_on_the_rows_it_answers(table_path, tmp_path):
    best = best_index(table_path)
    other = 0 if best else 1
    swapped = damaged_copy(table_path, tmp_path, f"UPDATE archs SET idx = -1 WHERE idx = {best}",
                           f"UPDATE archs SET idx = {best} WHERE idx = {other}",
                           f"UPDATE archs SET idx = {other} WHERE idx = -1", name="swapped.db")
    refused(swapped, f"row {other} holds hash '[0-9a-f]{{16}}' but its index decodes to the architecture with hash")
    swapped = damaged_copy(table_path, tmp_path, f"UPDATE archs SET idx = -1 WHERE idx = {best}",
                           f"UPDATE archs SET idx = {best} WHERE idx = {other}",
                           f"UPDATE archs SET idx = {other} WHERE idx = -1", name="swapped.db", forged=True)
    with LookupTable.open(swapped) as t, pytest.raises(LookupTableError, match=f"row {best} holds hash"):
        t.row(best)
    rehashed = damaged_copy(table_path, tmp_path, f"UPDATE archs SET hash = 'ffffffffffffffff' WHERE idx = {best}",
                            name="rehashed.db", forged=True)
    with LookupTable.open(rehashed) as t, pytest.raises(LookupTableError, match="holds hash 'ffffffffffffffff'"):
        t.best()
    moved = damaged_copy(table_path, tmp_path, f"UPDATE archs SET idx = 15625 WHERE idx = {best}", name="moved.db")
    refused(moved, "row index 15625 is outside 0..15624")


MEASURED = "(SELECT MIN(idx) FROM archs WHERE tier = 1)"  # a measured row; with score 2.0 it is the first answer
UNMEASURED = "(SELECT MIN(idx) FROM archs WHERE tier = 0)"


@pytest.mark.parametrize("damage, match", [
    # found on opening, from the indexes
    ("UPDATE archs SET madds = 'lots' WHERE idx = 3", "a row has multiply-add count 'lots'"),
    ("UPDATE archs SET madds = x'00ff' WHERE idx = 3", "a row has multiply-add count b'"),
    ("UPDATE archs SET params = -1 WHERE idx = 3", "a row has parameter count -1.0, expected a finite number >= 0"),
    ("UPDATE archs SET latency = 9e999 WHERE idx = 3", "a row has latency inf"),
    ("UPDATE archs SET latency = NULL WHERE idx = 3", "a row has latency NULL"),
    ("UPDATE archs SET score = 'high' WHERE idx = 3", "a row has score 'high'"),
    ("UPDATE archs SET score = -9e999 WHERE idx = 3", "a row has score -inf"),
    ("UPDATE archs SET tier = 2 WHERE idx = 3", "a row has tier 2, expected 0 or 1"),
    # found on the rows a query answers
    (f"UPDATE archs SET predicted = 'good', score = 2.0 WHERE idx = {MEASURED}",
     r"row \d+ has predicted accuracy 'good'"),
    (f"UPDATE archs SET predicted = 9e999, score = 2.0 WHERE idx = {MEASURED}", r"row \d+ has predicted accuracy inf"),
    (f"UPDATE archs SET measured = 'x', score = 2.0 WHERE idx = {MEASURED}", r"row \d+ has measured accuracy 'x'"),
    (f"UPDATE archs SET score = 2.0 WHERE idx = {MEASURED}", r"row \d+ has score 2.0, which is not a value its build"),
    (f"UPDATE archs SET tier = 1, score = 2.0 WHERE idx = {UNMEASURED}",
     r"row \d+ has tier 1, which is not a value its"),
])
def test_wrong_types_and_ranges_in_columns_are_refused(table_path, tmp_path, damage, match):
    refused(damaged_copy(table_path, tmp_path, damage), "is damaged: " + match)


def test_latency_in_a_table_without_a_latency_model_is_refused(tmp_path, space):
    path = tmp_path / "nolat.db"
    build(path, space, with_latency=False).close()
    refused(damaged_copy(path, tmp_path, "UPDATE archs SET latency = 3.0 WHERE idx = 5"),
            "a row has latency 3.0 but the table has no latency model")


def test_columns_read_whole_are_checked(table_path, tmp_path):
    path = damaged_copy(table_path, tmp_path, "UPDATE archs SET predicted = 'x' WHERE idx = 9000")
    refused(path, "row 9000 has predicted accuracy 'x'")  # no digest can be computed: refused on opening
    path = damaged_copy(table_path, tmp_path, "UPDATE archs SET predicted = 9e999 WHERE idx = 9000", forged=True)
    with LookupTable.open(path) as t, pytest.raises(LookupTableError, match="a row has predicted inf"):
        t.column("predicted")


def test_verify_checks_rows_no_query_returns(table_path, tmp_path):
    path = damaged_copy(table_path, tmp_path, "UPDATE archs SET hash = '0123456789abcdef' WHERE idx = 12345",
                        forged=True)
    with LookupTable.open(path) as t:
        t.query(top=3)  # the damaged row is not among the answers
        with pytest.raises(LookupTableError, match="row 12345 holds hash '0123456789abcdef'.*rebuild"):
            t.verify()


def test_an_interrupted_build_with_deleted_rows_is_not_resumed(tmp_path, space, monkeypatch, interrupt_after):
    from graphnas.lookup import build as lookup_build

    path = tmp_path / "partial.db"
    interrupt_after(lookup_build, "batch_costs", 2)  # the third batch's costs fail: two batches (8,000 rows) committed
    with pytest.raises(KeyboardInterrupt):
        build(path, space)
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM archs WHERE idx < 10")
    conn.close()
    with pytest.raises(LookupTableError, match="is damaged: it holds 7990 rows, its meta says 8000 were written"):
        build(path, space)


def test_random_byte_damage_never_escapes_as_a_traceback(table_path, tmp_path):
    """A small, seeded fuzz of the fuzz target: open + query + verify either answers or raises LookupTableError."""
    data = bytearray(table_path.read_bytes())
    rng = random.Random(0)
    for k in range(40):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 8, 64))):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = tmp_path / f"fuzz{k}.db"
        path.write_bytes(bytes(damaged))
        try:
            with LookupTable.open(path) as t:
                t.query(madds="2M", top=5)
                t.verify()
        except LookupTableError as e:
            assert "\n" not in str(e)


# ------------------------------------------------------------------ ground-truth ("label") tables
ROOT = Path(__file__).resolve().parents[1]


def ground_truth(space) -> dict:
    """A small valid ground-truth table of 3 architectures of ``space``, 2 seeds each (a fresh copy)."""
    archs = [space.arch([k % r for r in space.radices.tolist()]) for k in range(3)]
    meta = {"space": space.name, "fingerprint": space.fingerprint, "scale": space.scale, "data": "toy",
            "train_size": None, "data_seed": 0,
            "recipe": {"epochs": 2, "batch_size": 8, "lr": 0.1, "momentum": 0.9, "nesterov": True,
                       "weight_decay": 4e-5, "label_smoothing": 0.0}}
    runs = [{"hash": a.hash, "seed": s, "val_accuracy": 0.5 + 0.1 * k, "test_accuracy": 0.5 + 0.1 * k + 0.01 * s,
             "train_accuracy_last_epoch": 0.6, "seconds": 1.5, "device": "cpu"}
            for s in (0, 1) for k, a in enumerate(archs)]
    archs = {a.hash: {"arch": json.loads(a.to_json()), "madds": 1e6 * (k + 1), "params": 1e3}
             for k, a in enumerate(archs)}
    return json.loads(json.dumps({"meta": meta, "archs": archs, "runs": runs}))  # a copy: tests change it


def write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_a_ground_truth_table_loads_with_its_architectures(tmp_path, space):
    table = ground_truth(space)
    loaded = load_ground_truth(write_json(tmp_path / "gt.json", table))
    hashes, truth, stds = mean_accuracy(loaded)
    assert hashes == sorted(table["archs"]) and len(stds) == 3
    assert [a.hash for a in ground_truth_archs(loaded, space, hashes)] == hashes
    shipped = load_ground_truth(ROOT / "benchmarks" / "ranking_ground_truth.json")
    assert len(mean_accuracy(shipped)[0]) == 16


def _first(table):
    return next(iter(table["archs"]))


@pytest.mark.parametrize("damage, match", [
    (lambda t: [t], r"the table is a list of 1 items, expected an object"),
    (lambda t: {**t, "runs": {}}, r"the table\['runs'\] is \{\}, expected a list of runs"),
    (lambda t: {k: v for k, v in t.items() if k != "archs"}, "the table has no 'archs'"),
    (lambda t: (t["meta"].pop("data_seed"), t)[1], "meta has no 'data_seed'"),
    (lambda t: t["meta"].update(train_size=0) or t, r"meta\['train_size'\] is 0, expected null or a positive integer"),
    (lambda t: t["meta"]["scale"].update(resolution="16") or t, r"meta\['scale'\] is .*resolution a positive integer"),
    (lambda t: t["meta"]["recipe"].update(lr=-0.1) or t, r"meta\['recipe'\]\['lr'\] is -0.1, expected a positive"),
    (lambda t: t["meta"]["recipe"].update(epochs="8") or t, r"\['epochs'\] is \"8\""),
    (lambda t: t["meta"]["recipe"].update(nesterov=1) or t, r"\['nesterov'\] is 1, expected true or false"),
    (lambda t: t["runs"][0].update(test_accuracy=1.5) or t, r"runs\[0\]\['test_accuracy'\] is 1.5, expected an"),
    (lambda t: t["runs"][1].update(val_accuracy=float("nan")) or t, r"runs\[1\]\['val_accuracy'\] is NaN"),
    (lambda t: t["runs"][2].update(seed=True) or t, r"runs\[2\]\['seed'\] is true"),
    (lambda t: t["runs"][0].update(seconds=float("inf")) or t, r"runs\[0\]\['seconds'\] is Infinity"),
    (lambda t: t["runs"][0].update(hash="0" * 16) or t, "runs\\[0\\] is of architecture 0{16}, which archs does"),
    (lambda t: t["runs"].append(dict(t["runs"][0])) or t, "runs\\[6\\] repeats architecture [0-9a-f]{16} with seed 0"),
    (lambda t: t["runs"].__setitem__(0, "run") or t, r"runs\[0\] is \"run\", expected an object"),
    (lambda t: t["archs"].update({"XYZ": t["archs"][_first(t)]}) or t, "archs key \"XYZ\" is not an architecture hash"),
    (lambda t: t["archs"][_first(t)].update(madds=-5) or t, r"\['madds'\] is -5, expected a count >= 0"),
    (lambda t: t["archs"][_first(t)].update(arch=[1]) or t, r"\['arch'\] is \[1\], expected an architecture object"),
    (lambda t: t.update(summary={_first(t): {"mean": 0.5, "std": -1, "seeds": 2}}) or t, r"\['std'\] is -1"),
    (lambda t: t.update(summary=[]) or t, r"summary is \[\], expected an object"),
    (lambda t: t.update(selected=[_first(t)]) or t, r"selected is \[.*\], expected a list of at least 2 distinct"),
    (lambda t: t.update(selected=[_first(t), _first(t)]) or t, r"expected a list of at least 2 distinct"),
    (lambda t: t.update(selected="all") or t, r"selected is \"all\", expected a list"),
    (lambda t: t.update(selected=[_first(t), "f" * 16]) or t, r"selected lists \"f{16}\", which archs does not"),
])
def test_a_bad_ground_truth_table_is_refused_with_one_line(tmp_path, space, damage, match):
    path = write_json(tmp_path / "gt.json", damage(ground_truth(space)))
    with pytest.raises(EstimatorError, match=match) as err:
        load_ground_truth(path)
    assert "\n" not in str(err.value) and "train_standalone.py" in str(err.value)


@pytest.mark.parametrize("content, match", [
    (b"{\"meta\": ", "is not readable JSON"),
    (b"[" * 100_000, "is not readable JSON \\(nested too deeply\\)"),
    (b"\xff\xfe{}", "is not readable JSON"),
])
def test_an_unreadable_ground_truth_file_is_refused(tmp_path, content, match):
    path = tmp_path / "gt.json"
    path.write_bytes(content)
    with pytest.raises(EstimatorError, match=match):
        load_ground_truth(path)


def test_a_ground_truth_path_that_is_a_fifo_or_folder_is_refused_at_once(tmp_path):
    fifo = tmp_path / "gt.fifo"
    os.mkfifo(fifo)
    with pytest.raises(EstimatorError, match="is not a regular file"):
        load_ground_truth(fifo)
    with pytest.raises(EstimatorError, match="is a folder"):
        load_ground_truth(tmp_path)
    with pytest.raises(EstimatorError, match="does not exist"):
        load_ground_truth(tmp_path / "none.json")


def test_an_architecture_listed_under_another_hash_is_refused(tmp_path, space):
    table = ground_truth(space)
    a, b = list(table["archs"])[:2]
    table["archs"][a]["arch"], table["archs"][b]["arch"] = table["archs"][b]["arch"], table["archs"][a]["arch"]
    loaded = load_ground_truth(write_json(tmp_path / "gt.json", table))
    with pytest.raises(EstimatorError, match=f"archs\\['{min(a, b)}'\\] holds an architecture with hash"):
        ground_truth_archs(loaded, space, sorted([a, b]))


def test_train_standalone_refuses_a_bad_table_to_resume_with_one_line(tmp_path, space, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import train_standalone

    table = ground_truth(space)
    table["runs"][0]["test_accuracy"] = "high"
    path = write_json(tmp_path / "gt.json", table)
    with pytest.raises(SystemExit) as exit_:
        train_standalone.load_table(path, table["meta"])
    text = str(exit_.value.code)
    assert text.startswith("train_standalone: error: ground-truth table") and "test_accuracy" in text
    assert "\n" not in text
    good = ground_truth(space)
    assert train_standalone.load_table(write_json(tmp_path / "ok.json", good), good["meta"])["runs"] == good["runs"]
    assert train_standalone.load_table(tmp_path / "new.json", good["meta"])["runs"] == []


# ------------------------------------------------------------------ plausible damage: the content digest
DIGEST = "is damaged: its rows and meta do not match the digest stored when it was written"
INT64_MAX = 2 ** 63 - 1


def refused_by_cli(path, match, capsys):
    capsys.readouterr()
    assert graphnas.cli.main(["lookup", "--table", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    err = err.strip()
    assert err.startswith("graphnas: error:") and "\n" not in err and "Traceback" not in err and out == ""
    assert re.search(match, err), err


@pytest.mark.parametrize("damage", [
    f"UPDATE archs SET params = {INT64_MAX} WHERE idx = 15",
    f"UPDATE archs SET madds = {INT64_MAX} WHERE idx = 15",
    "UPDATE archs SET madds = madds + 1 WHERE idx = 15",
    "UPDATE archs SET latency = latency * 1.001 WHERE idx = 7",
    f"UPDATE archs SET predicted = predicted + 0.001, score = score + 0.001 WHERE idx = {UNMEASURED}",
    f"UPDATE archs SET predicted = predicted - 0.001 WHERE idx = {MEASURED}",
    f"UPDATE archs SET measured = 0.5, score = 0.5 WHERE idx = {MEASURED}",
    f"UPDATE archs SET measured = NULL, tier = 0, score = predicted WHERE idx = {MEASURED}",
    set_meta("predictor", "'\"gcn v9\"'"),
    set_meta("build_seconds", "'12.5'"),
    "INSERT INTO meta VALUES ('note', '\"added later\"')",
])
def test_plausible_damage_is_refused_by_the_digest(table_path, tmp_path, damage, capsys):
    path = damaged_copy(table_path, tmp_path, damage)
    text = refused(path, DIGEST)
    assert "delete it and rebuild it" in text
    refused_by_cli(path, DIGEST, capsys)


def test_a_byte_flipped_inside_a_real_cell_is_refused(table_path, tmp_path, capsys):
    value = 0.123456789012345  # a value no other cell holds, in a genuine (re-digested) table
    path = damaged_copy(table_path, tmp_path, f"UPDATE archs SET predicted = {value} WHERE idx = {MEASURED}",
                        forged=True)
    with LookupTable.open(path) as t:
        t.verify()
    data = bytearray(path.read_bytes())
    cell = struct.pack(">d", value)  # SQLite stores REAL values as big-endian IEEE doubles
    assert data.count(cell) == 1
    at = data.index(cell) + 7
    data[at] ^= 0x01  # one ulp: still a plausible accuracy
    path.write_bytes(bytes(data))
    refused(path, DIGEST)
    refused_by_cli(path, DIGEST, capsys)


@pytest.mark.parametrize("damage, match", [
    ("DELETE FROM meta WHERE key = 'digest'", "is damaged: meta key 'digest' is missing"),
    (set_meta("digest", "'\"abc\"'"), "is damaged: meta 'digest' is \"abc\", expected a digest"),
    (set_meta("digest", "'\"" + "0" * 32 + "\"'"), DIGEST),
])
def test_a_missing_or_wrong_digest_is_refused(table_path, tmp_path, damage, match, capsys):
    path = damaged_copy(table_path, tmp_path, damage)
    refused(path, match)
    refused_by_cli(path, match, capsys)


def test_a_table_of_the_previous_format_is_refused_saying_to_rebuild_it(table_path, tmp_path, capsys):
    path = damaged_copy(table_path, tmp_path, set_meta("format", "'\"graphnas-lookup-2\"'"),
                        "DELETE FROM meta WHERE key = 'digest'")
    text = refused(path, "was written by an older graphnas \\(format graphnas-lookup-2, without a digest")
    assert "delete it and rebuild it" in text
    refused_by_cli(path, "older graphnas", capsys)
    with pytest.raises(LookupTableError, match="not a lookup table to resume.*older graphnas"):
        build(path, graphnas.get_space("nb201", **SCALE))


def test_a_more_specific_check_names_the_damage_before_the_digest(table_path, tmp_path):
    refused(damaged_copy(table_path, tmp_path, "DELETE FROM archs WHERE idx = 3"), "it holds 15624 rows")
    refused(damaged_copy(table_path, tmp_path, "UPDATE archs SET hash = 'ffffffffffffffff' WHERE idx = 12345"),
            "row 12345 holds hash 'ffffffffffffffff'")  # found on opening, by the rows checked after the mismatch


def test_genuine_tables_open_built_resumed_and_without_latency(tmp_path, space, table_path, monkeypatch,
                                                               interrupt_after):
    from graphnas.lookup import build as lookup_build

    path = tmp_path / "resumed.db"
    interrupt_after(lookup_build, "batch_costs", 2)  # killed in the third batch: two committed
    with pytest.raises(KeyboardInterrupt):
        build(path, space)
    monkeypatch.undo()
    with build(path, space) as t:  # resumed; opening it checked its digest
        assert t.verify() is t and "digest" in t.meta
    with LookupTable.open(path) as t, LookupTable.open(table_path) as whole:
        assert [r.to_dict() for r in t.query(top=20)] == [r.to_dict() for r in whole.query(top=20)]
    nolat = tmp_path / "nolat.db"
    build(nolat, space, with_latency=False).close()
    with LookupTable.open(nolat) as t:
        assert t.verify() is t
