"""The reliability harness (tools/bench_reliability.py): its classifier and mutations, then its quick slice,
which must find no traceback, hang, code execution, silent wrong answer, lost result, orphan or double writer."""

from __future__ import annotations

import json
import pickle
import random
import sqlite3
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import bench_reliability as br  # noqa: E402
import fuzzlib as fz  # noqa: E402

from graphnas.errors import CheckpointError  # noqa: E402


# ---------------------------------------------------------------------- the classifier
def test_classify_call_outcomes(tmp_path):
    marker = tmp_path / "marker"
    ref = fz.canonical([1, 2])

    def refuse():
        raise CheckpointError("checkpoint x is damaged; delete it")

    def two_lines():
        raise CheckpointError("line one\nline two")

    def crash():
        return {}["missing"]

    def spin():
        while True:
            pass

    def execute():
        marker.write_text("ran")
        return [1, 2]

    assert fz.classify_call(refuse, ref, marker, 5)[0] == "refused"
    assert fz.classify_call(two_lines, ref, marker, 5)[0] == "traceback"
    outcome, detail = fz.classify_call(crash, ref, marker, 5)
    assert outcome == "traceback" and detail.startswith("KeyError") and "test_reliability.py" in detail
    assert fz.classify_call(lambda: [1, 2], ref, marker, 5) == ("same", "")
    outcome, detail = fz.classify_call(lambda: [1, 3], ref, marker, 5)
    assert outcome == "wrong" and "[1] = 3, not 2" in detail
    assert fz.classify_call(spin, ref, marker, 0.2)[0] == "hang"
    assert fz.classify_call(execute, ref, marker, 5)[0] == "code_executed"


def test_cli_verdict():
    assert fz.cli_verdict(2, "", "graphnas: error: bad file; fix it\n") == ("refused", "graphnas: error: bad file; fix it")
    assert fz.cli_verdict(2, "", "usage: graphnas\ngraphnas: error: x\n")[0] == "traceback"
    assert fz.cli_verdict(1, "", "Traceback (most recent call last):\n  File \"graphnas/x.py\"\nKeyError: 'a'\n")[0] \
        == "traceback"
    assert fz.cli_verdict(0, "{}", "") is None


def test_race_verdict():
    loser = "graphnas: error: training folder x is being written by another graphnas process (pid 7: graphnas train)\n"
    assert br._race_verdict([(0, "", 2.0), (2, loser, 1.0)])[0] == "refused"
    assert br._race_verdict([(0, "", 2.0), (2, loser, 3.0)])[0] == "both_writers"  # it waited, then failed
    assert br._race_verdict([(0, "", 2.0), (0, "", 3.0)])[0] == "both_writers"
    assert br._race_verdict([(0, "", 2.0), (1, "sqlite3.OperationalError: database is locked", 1.0)])[0] \
        == "both_writers"
    assert br._race_verdict([(0, "", 2.0), (2, "graphnas: error: busy\n", 1.0)])[0] == "both_writers"


# ---------------------------------------------------------------------- mutations and payloads
def test_mutations_are_seeded_and_damage():
    data = bytes(range(256)) * 4
    for fn in fz.BYTE_MUTATIONS:
        a, b = fn(data, random.Random(3)), fn(data, random.Random(3))
        assert a == b and a[0] != data
    doc = json.dumps({"format": "x", "ops": ["a", "b"], "n": 1.5, "opt": None})
    texts = {fz.mutate_json(doc, random.Random(i))[0] for i in range(40)}
    assert len(texts) > 20 and doc not in texts
    for i in range(200):  # a wrong value is never of the field's own type (so accepting it is never right)
        rng = random.Random(i)
        for original in ("x", 1.5, None, [1], {"a": 1}, True):
            value = fz.wrong_value(original, rng)
            assert value in fz.INVALID_VALUES or fz.json_type(value) != fz.json_type(original)


def test_tamper_sqlite_applies_one_change(tmp_path):
    src = tmp_path / "t.db"
    conn = sqlite3.connect(src)
    with conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("CREATE TABLE archs (idx INTEGER PRIMARY KEY, hash TEXT NOT NULL, predicted REAL NOT NULL)")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("format", '"f"'), ("rows", "3")])
        conn.executemany("INSERT INTO archs VALUES (?, ?, ?)", [(i, f"h{i}", i / 10) for i in range(3)])
    conn.close()
    dump = lambda p: list(sqlite3.connect(p).iterdump())  # noqa: E731
    changed = 0
    for i in range(30):
        dst = tmp_path / f"m{i}.db"
        label = fz.tamper_sqlite(src, dst, random.Random(i), hash_column="hash")
        assert label and "not applied" not in label, label
        changed += dump(dst) != dump(src)
    assert changed >= 25


def test_payloads_are_live_and_torch_refuses_them(tmp_path):
    """The crafted files would run code if unpickled: the harness's 'code executed' check is not vacuous."""
    marker = tmp_path / "marker"
    pickle.loads(fz.pickle_payload(marker))
    assert marker.exists()
    marker.unlink()
    fz.torch_payload(marker, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "evil.pt", weights_only=True)
    assert not marker.exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_leftover_temporaries(tmp_path):
    (tmp_path / ".checkpoint.pt.123.abcd_123.tmp").write_text("")
    (tmp_path / "checkpoint.pt").write_text("")
    (tmp_path / ".graphnas.lock").write_text("")
    assert [Path(p).name for p in fz.leftover_temporaries(tmp_path)] == [".checkpoint.pt.123.abcd_123.tmp"]


# ---------------------------------------------------------------------- the quick slice (what CI runs)
def test_quick_slice_finds_no_failure(tmp_path):
    lines = []
    tally, _ = br.run(seed=0, out=tmp_path / "work", quick=True, log=lines.append)
    fuzzed = [a for a in tally.attempts if a.kind == "fuzz"]
    assert len(fuzzed) >= 100 and tally.kills >= 1
    assert len({a.target for a in fuzzed}) >= 10  # every loader was reached
    fails = tally.failures()
    assert not fails, f"{len(fails)} failures of {len(tally.attempts)} attempts:\n" + "\n".join(a.line() for a in fails)
