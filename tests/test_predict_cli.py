"""``graphnas predict``: labels from JSON or CSV, a lookup table over the space, one line per bad input; the
predictor recipes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from graphnas.cli.main import main
from graphnas.errors import PredictorError
from graphnas.lookup import LookupTable
from graphnas.lookup.label_file import read_labels
from graphnas.predictor.recipes import RECIPES, recipe
from graphnas.space.registry import get_space

SPACE = '''
from graphnas import ChoiceEdge, Node, SearchSpace, Stem


def make_space(resolution=8, num_classes=10):
    nodes = [Node(i, 0, 8, 1) for i in range(6)]
    ops = ("mbconv_k3_e1", "mbconv_k3_e3", "identity")
    edges = [ChoiceEdge(i, i + 1, "stem", ops) for i in range(5)]
    return SearchSpace("chain5", nodes, edges, input_shape=(1, resolution, resolution), num_classes=num_classes,
                       stem=Stem(8))
'''


@pytest.fixture
def space_file(tmp_path) -> Path:
    path = tmp_path / "chain5.py"
    path.write_text(SPACE)
    return path


def truth(space) -> np.ndarray:
    """A smooth made-up accuracy per architecture: each block's operator adds its own amount."""
    w = np.array([[0.02, 0.05, 0.0], [0.01, 0.04, 0.0], [0.03, 0.01, 0.0], [0.0, 0.02, 0.01], [0.01, 0.0, 0.02]])
    return np.array([0.6 + w[np.arange(5), space.from_index(i).choices].sum() for i in range(space.size)])


def write_labels(path: Path, space, ids, acc, how: str) -> Path:
    if how == "ops":
        path.write_text(json.dumps([{"ops": list(space.from_index(int(i)).ops), "accuracy": float(acc[i])}
                                    for i in ids]))
    elif how == "hash":
        path.write_text(json.dumps({space.from_index(int(i)).hash: float(acc[i]) for i in ids}))
    else:
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["hash" if how == "csv-hash" else "ops", "accuracy"])
            for i in ids:
                a = space.from_index(int(i))
                w.writerow([a.hash if how == "csv-hash" else " ".join(a.ops), float(acc[i])])
    return path


@pytest.mark.parametrize("how,suffix", [("ops", ".json"), ("hash", ".json"), ("csv-ops", ".csv"),
                                        ("csv-hash", ".csv")])
def test_read_labels_takes_ops_or_hashes_from_json_or_csv(tmp_path, space_file, how, suffix):
    space = get_space(str(space_file))
    acc = truth(space)
    ids = [3, 17, 42, 100, 200, 150, 9, 77, 240]
    labels = read_labels(write_labels(tmp_path / f"l{suffix}", space, ids, acc, how), space)
    assert labels == {i: pytest.approx(acc[i]) for i in ids}


def test_predict_writes_a_lookup_table_that_lookup_answers(tmp_path, space_file, capsys):
    space = get_space(str(space_file))
    acc = truth(space)
    ids = np.random.default_rng(0).choice(space.size, 60, replace=False)
    labels = write_labels(tmp_path / "labels.json", space, ids, acc, "ops")
    out = tmp_path / "pred.db"
    assert main(["predict", "--space", str(space_file), "--labels", str(labels), "--out", str(out),
                 "--recipe", "fast", "--epochs", "60"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}: 243 architectures of space chain5, 60 labelled; answer order" in text
    assert "python tools/lookup.py --table" in text
    with LookupTable.open(out, space) as table:
        measured = table.column("measured")
        assert np.isfinite(measured).sum() == 60 and np.allclose(measured[ids], acc[ids])
        assert table.meta["order"]["asked"] == "shrinkage" and "recipe fast" in table.meta["predictor"]
        from graphnas.estimate.ranking import kendall_tau

        rest = np.isnan(measured)
        assert kendall_tau(table.column("predicted")[rest], acc[rest]) > 0.5
        best = table.best(madds="100M")
    assert main(["lookup", "--table", str(out), "--space", str(space_file), "--top", "1"]) == 0
    assert str(best.index) in capsys.readouterr().out
    # a second run with the same arguments finds the complete table and leaves it as it is
    assert main(["predict", "--space", str(space_file), "--labels", str(labels), "--out", str(out),
                 "--recipe", "fast", "--epochs", "60"]) == 0


def one_line(capsys, rc) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("graphnas: error: "), err
    return err[0]


def test_bad_labels_get_one_line_each(tmp_path, space_file, capsys):
    space = get_space(str(space_file))
    acc = truth(space)
    good = [{"ops": list(space.from_index(i).ops), "accuracy": float(acc[i])} for i in range(10)]
    cases = {
        "outside.json": (good + [{"ops": ["mbconv_k7_e6"] * 5, "accuracy": 0.5}], "entry 10: .*mbconv_k7_e6"),
        "unknown_hash.json": ({"0123456789abcdef": 0.5, **{space.from_index(i).hash: 0.6 for i in range(9)}},
                              "hash '0123456789abcdef' is not an architecture of space 'chain5'"),
        "duplicate.json": (good + [good[3]], "entry 10: the architecture of entry 3 again"),
        "nan.json": (good[:5] + [{**good[5], "accuracy": float("nan")}] + good[6:], "entry 5: accuracy nan is not"),
        "text.json": (good[:2] + [{**good[2], "accuracy": "high"}], "entry 2: accuracy 'high' is not a finite"),
        "few.json": (good[:5], "labels 5 architectures; a predictor needs at least 8"),
        "both.json": ([{**good[0], "hash": "x"}], "entry 0: needs accuracy and one of ops or hash"),
        "scalar.json": (3, "holds a int"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(data))
        rc = main(["predict", "--space", str(space_file), "--labels", str(path), "--out", str(tmp_path / "x.db")])
        assert message.split(".*")[0] in one_line(capsys, rc), name
        assert not (tmp_path / "x.db").exists()
    h = [space.from_index(i).hash for i in range(9)]
    (tmp_path / "twice.json").write_text("{" + ", ".join(f'"{k}": 0.5' for k in h + [h[2]]) + "}")
    assert f"gives key '{h[2]}' twice in one object" in one_line(capsys, main(
        ["predict", "--space", str(space_file), "--labels", str(tmp_path / "twice.json"), "--out", "x.db"]))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "is not valid JSON (nested too deeply)" in one_line(capsys, main(
        ["predict", "--space", str(space_file), "--labels", str(tmp_path / "deep.json"), "--out", "x.db"]))
    (tmp_path / "bad.json").write_text("[{")
    assert "is not valid JSON" in one_line(capsys, main(["predict", "--space", str(space_file), "--labels",
                                                         str(tmp_path / "bad.json"), "--out", str(tmp_path / "x.db")]))
    (tmp_path / "l.txt").write_text("x")
    assert "must end in .json or .csv" in one_line(capsys, main(["predict", "--space", str(space_file), "--labels",
                                                                 str(tmp_path / "l.txt"), "--out", "x.db"]))
    (tmp_path / "cols.csv").write_text("arch,acc\na,1\n")
    assert "it needs accuracy and one of ops or hash" in one_line(
        capsys, main(["predict", "--space", str(space_file), "--labels", str(tmp_path / "cols.csv"), "--out", "x.db"]))
    assert "does not exist" in one_line(capsys, main(["predict", "--space", str(space_file), "--labels",
                                                      str(tmp_path / "missing.json"), "--out", "x.db"]))
    assert "invalid choice: 'best'" in one_line(capsys, main(["predict", "--space", str(space_file), "--labels",
                                                              "l.json", "--out", "x.db", "--recipe", "best"]))


def test_the_parser_names_the_recipes_and_orders_without_importing_them():
    import subprocess
    import sys

    from graphnas.cli.predict import ORDER_NAMES, RECIPE_NAMES
    from graphnas.lookup.orders import ORDERS

    assert set(RECIPE_NAMES) == set(RECIPES) and set(ORDER_NAMES) == set(ORDERS)
    code = ("import sys; from graphnas.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch_geometric', 'graphnas.predictor', 'graphnas.lookup') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_recipes_fit_the_space():
    nb201 = get_space("nb201")
    assert recipe("accurate", nb201)["features"] == "onehot+cost+path" and recipe("accurate")["ensemble"] == 5
    fairnas = get_space("fairnas")
    assert recipe("accurate", fairnas)["features"] == "onehot+cost"  # 6^19 paths: no path encoding
    assert recipe("fast", nb201.radices)["features"] == "onehot"  # radices: no cost, no path
    assert recipe("gcn-nas") == {"features": "gray"} and set(RECIPES) == {"gcn-nas", "accurate", "fast"}
    r = recipe("fast")
    r["epochs"] = 1
    assert RECIPES["fast"]["epochs"] == 300  # a copy
    with pytest.raises(PredictorError, match="unknown predictor recipe 'best'"):
        recipe("best")
