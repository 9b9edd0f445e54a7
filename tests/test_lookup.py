"""Lookup tables: answers equal a brute-force scan, resume after an interruption, refusals, the CLI.

The space is NAS-Bench-201 at 16 px with 8 channels and one cell per stage (15,625 architectures);
predicted accuracies are a seeded random array rounded to 3 decimals (so ties occur and the tie
break by index is exercised) and latency comes from a synthetic model (arbitrary entry timings, no
timing runs). Every query is checked against numpy over the same arrays.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys

import numpy as np
import pytest

import graphnas
from graphnas import lookup as lk
from graphnas.cost.model import batch_cost
from graphnas.cli.lookup import add_lookup_parser
from graphnas.cost import arch_cost
from graphnas.cost.latency import LatencyModel, space_entries
from graphnas.cost.limits import parse_count, parse_latency
from graphnas.cost.timing import Measurement
from graphnas.errors import ConstraintError, GraphnasError, LookupTableError
from graphnas.lookup import LookupTable
from graphnas.lookup import build as lookup_build
from graphnas.space.encoding import choices_of

SCALE = dict(resolution=16, channels=8, cells_per_stage=1)


def synthetic_latency(space, seed: int = 0) -> LatencyModel:
    """A latency model with arbitrary known entry timings (as tests/test_latency.py builds one)."""
    rng = np.random.default_rng(seed)
    entries = {e.key: Measurement(float(rng.uniform(0.1, 2.0)), 0.0, 1, True) for e in space_entries(space)}
    return LatencyModel.for_space(space, entries, 0.25, 0.01, device={"backend": "test"}, path="synthetic")


@pytest.fixture(scope="module")
def space():
    return graphnas.get_space("nb201", **SCALE)


@pytest.fixture(scope="module")
def inputs(space):
    n = space.size
    rng = np.random.default_rng(0)
    predicted = np.round(rng.random(n), 3)
    measured = np.where(rng.random(n) < 0.1, np.round(rng.random(n), 4), np.nan)
    model = synthetic_latency(space)
    choices = choices_of(space, np.arange(n))
    costs = {"madds": batch_cost(space, choices, "madds"), "params": batch_cost(space, choices, "params"),
             "latency": model.batch_latency(space, choices)}
    return predicted, measured, model, choices, costs


@pytest.fixture(scope="module")
def table_path(tmp_path_factory, space, inputs):
    predicted, measured, model, _, _ = inputs
    path = tmp_path_factory.mktemp("lookup") / "nb201.db"
    LookupTable.build(path, space, predicted, measured=measured, latency_model=model,
                      meta={"predictor": "seeded random (test)", "supernet": "abc123"}, batch=4000).close()
    return path


@pytest.fixture(scope="module")
def table(table_path, space):
    with LookupTable.open(table_path, space) as t:
        yield t


def brute(predicted, costs, limits: dict, top: int, index=None, measured=None) -> np.ndarray:
    """Indices of the top rows among those within the limits: measured ones first by measured accuracy, then
    the rest by predicted accuracy; ties by index."""
    index = np.arange(len(predicted)) if index is None else index
    known = np.zeros(len(predicted), dtype=bool) if measured is None else ~np.isnan(measured)
    score = np.where(known, np.nan_to_num(measured if measured is not None else predicted), predicted)
    mask = np.ones(len(predicted), dtype=bool)
    for m, v in limits.items():
        mask &= costs[m] <= v
    rows = np.flatnonzero(mask)
    order = np.lexsort((index[rows], -score[rows], ~known[rows]))
    return rows[order[:top]]


# ---------------------------------------------------------------------- contents and queries
def test_rows_hold_the_architectures_and_their_exact_costs(table, space, inputs):
    predicted, measured, model, _, _ = inputs
    assert len(table) == space.size == 15625
    for i in np.random.default_rng(1).choice(space.size, 40, replace=False).tolist():
        row = table.row(i)
        arch = space.from_index(i)
        cost = arch_cost(arch)
        assert row.index == i and row.choices == arch.choices and row.hash == arch.hash
        assert (row.madds, row.params) == (cost.madds, cost.params)
        assert row.latency == pytest.approx(model.latency(arch), rel=1e-12)
        assert row.predicted == predicted[i]
        assert (row.measured is None) == bool(np.isnan(measured[i]))
        assert table.arch(row).hash == arch.hash


def test_answer_curve_is_the_best_answer_under_every_limit(table, inputs, tmp_path):
    from graphnas.lookup.plot import answer_curve, plot_table

    _, _, _, _, costs = inputs
    limits, ids = answer_curve(table, "latency")
    assert (np.diff(limits) > 0).all() and limits[0] == costs["latency"].min()
    rng = np.random.default_rng(4)
    probes = np.concatenate([limits[:20], rng.choice(costs["latency"], 30), [costs["latency"].max()]])
    for limit in probes.tolist():
        k = np.searchsorted(limits, limit, side="right") - 1
        assert table.best(latency=limit).index == ids[k]
    out = plot_table(table, tmp_path / "t.svg", "latency", mark=int(ids[-1]))
    assert "<svg" in out.read_text()
    with pytest.raises(LookupTableError, match="use a .png"):
        plot_table(table, tmp_path / "t.txt")


def test_columns_read_whole_in_index_order(table, inputs):
    predicted, measured, _, _, costs = inputs
    assert np.array_equal(table.column("predicted"), predicted)
    assert np.array_equal(table.column("measured"), measured, equal_nan=True)
    for m in ("madds", "params", "latency"):
        assert np.array_equal(table.column(m), costs[m])
    with pytest.raises(LookupTableError, match="unknown column 'hash'"):
        table.column("hash")


def test_meta_records_space_predictor_latency_and_completion(table, space):
    m = table.meta
    assert m["format"] == lk.FORMAT and m["complete"] is True and m["done"] == m["rows"] == space.size
    assert (m["space"], m["fingerprint"], m["scale"]) == (space.name, space.fingerprint, space.scale)
    assert m["predictor"] == "seeded random (test)" and m["supernet"] == "abc123"
    assert m["latency"]["table"] == "synthetic" and m["latency"]["device"] == {"backend": "test"}
    assert m["radices"] == space.radices.tolist() and m["created"]


def test_queries_equal_a_brute_force_scan(table, inputs):
    predicted, measured, _, choices, costs = inputs
    rng = np.random.default_rng(2)
    kinds = [("madds",), ("params",), ("latency",), ("madds", "latency"), ("madds", "params", "latency"), ()]
    plans = set()
    for trial in range(60):
        kind = kinds[trial % len(kinds)]
        limits = {m: float(np.quantile(costs[m], 10 ** rng.uniform(-3, 0))) for m in kind}
        top = int(rng.integers(1, 25))
        want = brute(predicted, costs, limits, top, measured=measured)
        if not len(want):
            with pytest.raises(ConstraintError):
                table.query(**limits, top=top)
            continue
        got = table.query(**limits, top=top)
        assert [r.index for r in got] == want.tolist(), (limits, top)
        plans.add(table.plan(**limits)[0].split()[0])  # SCAN (covering index) or SEARCH (a metric's range)
        for r, i in zip(got, want.tolist()):
            assert r.choices == tuple(choices[i]) and r.predicted == predicted[i]
            assert (r.madds, r.params, r.latency) == (costs["madds"][i], costs["params"][i], costs["latency"][i])
            assert r.measured == (None if np.isnan(measured[i]) else measured[i])
    assert plans == {"SCAN", "SEARCH"}  # both plans were checked


def test_string_limits_are_parsed_with_their_units(table, inputs):
    predicted, measured, _, _, costs = inputs
    want = brute(predicted, costs, {"madds": 1.5e6, "latency": 6.5}, 5, measured=measured)
    assert [r.index for r in table.query(madds="1.5M", latency="6500us", top=5)] == want.tolist()
    assert [r.index for r in table.query(madds="1500K", latency="6.5ms", top=5)] == want.tolist()
    assert table.best(madds="1.5M", latency="6.5ms").index == want[0]


def test_query_plan_walks_the_covering_index_or_a_narrow_metric_range(table, inputs):
    _, _, _, _, costs = inputs
    assert table.switch_rows == 1000
    for limits in ({}, {"madds": "2M"}, {"madds": "2M", "latency": "30ms", "params": "90K"}):
        plan = " | ".join(table.plan(**limits))
        assert plan == "SCAN archs USING INDEX archs_rank", plan  # answer order: no sort, stops at the k-th match
    tight = float(np.sort(costs["latency"])[500])  # 501 rows, fewer than switch_rows
    plan = " | ".join(table.plan(madds="2M", latency=tight))
    assert plan == "SEARCH archs USING INDEX archs_latency (latency<?) | USE TEMP B-TREE FOR ORDER BY", plan


def test_measured_rows_rank_first_and_ties_break_by_index(table, inputs):
    _, measured, _, _, _ = inputs
    known = int((~np.isnan(measured)).sum())
    top = table.query(top=known + 30)
    head, tail = top[:known], top[known:]
    assert all(r.measured is not None for r in head) and all(r.measured is None for r in tail)
    keys = [(-r.measured, r.index) for r in head]
    assert keys == sorted(keys) and len({r.measured for r in head}) < len(head)  # by measured accuracy, ties ordered
    keys = [(-r.predicted, r.index) for r in tail]
    assert keys == sorted(keys) and len({r.predicted for r in tail}) < len(tail)  # then by predicted accuracy


# ---------------------------------------------------------------------- limits no architecture meets, bad limits
def test_unmeetable_limit_reports_the_smallest_value(table, inputs):
    _, _, _, _, costs = inputs
    low = costs["madds"].min()
    with pytest.raises(ConstraintError, match="smallest MAdds is") as err:
        table.query(madds=low - 1)
    assert err.value.smallest == {"madds": low}
    assert lk.format_limit("madds", low) in str(err.value) and "\n" not in str(err.value)
    assert table.query(madds=low)[0].madds == low  # the reported value is achievable
    printed = lk.format_limit("madds", low)
    assert parse_count(printed) == pytest.approx(low, rel=1e-12)  # printed exactly, a limit the user can pass back
    assert table.query(madds=printed)[0].madds == low and table.limits(madds=printed) == {"madds": low}
    with pytest.raises(ConstraintError) as err:
        table.query(latency=costs["latency"].min() * 0.99)
    fastest = costs["latency"].min()
    assert err.value.smallest == {"latency": fastest}
    printed = lk.format_limit("latency", fastest)
    assert f"the smallest latency is {printed}" in str(err.value)
    assert fastest <= parse_latency(printed) < fastest + 1e-3  # never rounded down
    assert table.query(latency=printed)[0].latency == fastest


def test_unmeetable_combination_reports_the_smallest_value_within_the_other_limits(tmp_path, space, inputs):
    predicted, _, model, choices, costs = inputs
    # the cheapest architectures are cheapest on every metric; leave out those under both limits
    madds, lat = float(np.quantile(costs["madds"], 0.3)), float(np.quantile(costs["latency"], 0.3))
    keep = ~((costs["madds"] <= madds) & (costs["latency"] <= lat))
    assert ((costs["madds"] <= madds) & keep).any() and ((costs["latency"] <= lat) & keep).any()
    c = {m: v[keep] for m, v in costs.items()}
    with LookupTable.build(tmp_path / "t.db", space, predicted[keep], choices=choices[keep], latency_model=model) as t:
        with pytest.raises(ConstraintError) as err:
            t.query(madds=madds, latency=lat)
    e = err.value
    assert e.smallest == {"madds": c["madds"].min(), "latency": c["latency"].min()}
    assert e.smallest_within_others == {"madds": c["madds"][c["latency"] <= lat].min(),
                                        "latency": c["latency"][c["madds"] <= madds].min()}
    assert f"the smallest MAdds is {lk.format_limit('madds', e.smallest['madds'])} (with latency <= " \
        f"{lk.format_limit('latency', lat)}: {lk.format_limit('madds', e.smallest_within_others['madds'])})" in str(e)
    assert "\n" not in str(e)


@pytest.mark.parametrize("limits, match", [
    ({"latency": "17"}, "write 17ms"),
    ({"madds": "330"}, "has no unit"),
    ({"madds": "-5M"}, "negative"),
    ({"params": -1.0}, "negative"),
    ({"latency": float("nan")}, "NaN"),
    ({"madds": "lots"}, "not a number"),
    ({"flops": "330M"}, "unknown limit metric 'flops'"),
])
def test_bad_limits_are_refused_with_one_line(table, limits, match):
    with pytest.raises(ConstraintError, match=match) as err:
        table.query(**limits)
    assert "\n" not in str(err.value)


def test_top_must_be_positive(table):
    with pytest.raises(ConstraintError, match="positive"):
        table.query(top=0)


# ---------------------------------------------------------------------- building: resume, inputs, refusals
def _dump(path) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM archs ORDER BY idx").fetchall()
    finally:
        conn.close()


def test_interrupted_build_resumes_from_the_last_committed_batch(tmp_path, monkeypatch, space, inputs, table_path):
    predicted, measured, model, _, _ = inputs
    path = tmp_path / "t.db"
    real = lk.arch_hashes
    calls = []

    def failing(sp, ch):
        calls.append(len(ch))
        if len(calls) == 3:  # dies inside the third batch's transaction, after some rows went in
            def rows():
                yield from real(sp, ch[:100])
                raise KeyboardInterrupt("killed")
            return rows()
        return real(sp, ch)

    monkeypatch.setattr(lookup_build, "arch_hashes", failing)
    build = dict(measured=measured, latency_model=model, meta={"predictor": "seeded random (test)",
                                                               "supernet": "abc123"}, batch=4000)
    with pytest.raises(KeyboardInterrupt):
        LookupTable.build(path, space, predicted, **build)
    assert len(_dump(path)) == 8000  # two committed batches; the third's 100 rows were rolled back
    with pytest.raises(LookupTableError, match=r"incomplete \(8000 of 15625 rows written\).*build"):
        LookupTable.open(path)
    calls.clear()
    monkeypatch.setattr(lookup_build, "arch_hashes", lambda sp, ch: calls.append(len(ch)) or real(sp, ch))
    LookupTable.build(path, space, predicted, **build).close()
    assert calls == [4000, 3625]  # only the batches not committed before
    assert _dump(path) == _dump(table_path)  # same rows as the uninterrupted build
    with pytest.raises(LookupTableError, match="other inputs"):
        LookupTable.build(path, space, predicted + 0.001, **build)


def test_build_from_given_choice_vectors(tmp_path, space, inputs):
    predicted, _, _, choices, costs = inputs
    rng = np.random.default_rng(3)
    pick = rng.choice(space.size, 3000, replace=False)  # a subset, in no order
    sub_pred = rng.random(3000)
    with LookupTable.build(tmp_path / "sub.db", space, sub_pred, choices=choices[pick], batch=1000) as t:
        assert len(t) == 3000 and not t.has_latency
        sub_costs = {m: costs[m][pick] for m in ("madds", "params")}
        for limits in ({"madds": float(np.quantile(sub_costs["madds"], 0.2))},
                       {"params": float(np.quantile(sub_costs["params"], 0.5)), "madds": 2e6}):
            want = brute(sub_pred, sub_costs, limits, 7, index=pick)
            assert [r.index for r in t.query(**limits, top=7)] == pick[want].tolist()
        with pytest.raises(LookupTableError, match=r"latency unknown: this table was built without a latency "
                                                  r"model; rebuild with one \(graphnas latency build \.\.\.\)"):
            t.query(latency="17ms")


@pytest.mark.parametrize("kwargs, match", [
    (dict(predicted=np.zeros(10)), "10 predicted accuracies for space"),
    (dict(predicted=np.full(15625, np.nan)), "finite"),
    (dict(predicted=np.zeros(2), choices=np.zeros((2, 6), dtype=int)), "same architecture"),
    (dict(predicted=np.zeros(2), choices=np.zeros((2, 5), dtype=int)), "shape"),
    (dict(predicted=np.zeros(1), choices=np.full((1, 6), 9)), "outside 0..4"),
    (dict(predicted=np.zeros(15625), meta={"complete": True}), "written by the build itself"),
])
def test_bad_build_inputs_are_refused(tmp_path, space, kwargs, match):
    with pytest.raises(LookupTableError, match=match):
        LookupTable.build(tmp_path / "bad.db", space, **kwargs)
    assert not (tmp_path / "bad.db").exists()


def test_subspace_table_rebuilds_its_space_from_metadata(tmp_path, space):
    sub = space.subspace(fixed={0: "nor_conv_3x3", 3: "skip_connect"})
    pred = np.random.default_rng(4).random(sub.size)
    LookupTable.build(tmp_path / "sub.db", sub, pred).close()
    with LookupTable.open(tmp_path / "sub.db") as t:  # no space given
        assert t.space.fingerprint == sub.fingerprint and t.space.name == sub.name
        best = t.best()
        assert best.index == int(np.argmax(pred)) and t.arch(best).hash == sub.from_index(best.index).hash


# ---------------------------------------------------------------------- refusing files
def test_missing_corrupt_foreign_and_incomplete_files_are_refused(tmp_path, table_path, space):
    with pytest.raises(LookupTableError, match="does not exist"):
        LookupTable.open(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LookupTableError, match="not a readable SQLite file"):
        LookupTable.open(junk)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    conn.close()
    with pytest.raises(LookupTableError, match="not a graphnas lookup table"):
        LookupTable.open(other)
    with pytest.raises(LookupTableError, match="exists and is not a lookup table"):
        LookupTable.build(other, space, np.zeros(space.size))
    truncated = tmp_path / "truncated.db"
    data = table_path.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(LookupTableError, match="corrupt|not a readable"):
        with LookupTable.open(truncated) as t:
            t.query(madds="1K")  # rows past the cut are missing: refused, not answered


def test_a_table_for_another_space_or_scale_is_refused(table_path):
    with pytest.raises(LookupTableError, match="was built for space 'nb201'.*at scale"):
        LookupTable.open(table_path, graphnas.get_space("nb201", **{**SCALE, "resolution": 32}))
    with pytest.raises(LookupTableError, match="was built for space 'nb201'"):
        LookupTable.open(table_path, graphnas.get_space("fairnas", resolution=16, width=0.25, stem_stride=1))
    assert LookupTable.open(table_path, graphnas.get_space("nb201", **SCALE)).meta["complete"]


# ---------------------------------------------------------------------- CLI
def cli(argv, capsys):
    """``graphnas lookup ARGV`` as graphnas.cli.main runs it: (status, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="graphnas")
    add_lookup_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lookup", *argv])
    try:
        rc = args.func(args)
    except GraphnasError as err:
        print(f"graphnas: error: {err}", file=sys.stderr)
        rc = 2
    out, errs = capsys.readouterr()
    return rc, out, errs


def test_cli_json_output_parses_and_matches_the_query(table_path, table, capsys):
    rc, out, _ = cli(["--table", str(table_path), "--flops", "1.5M", "--latency", "6.5ms", "--top", "3", "--json"],
                     capsys)
    assert rc == 0
    data = json.loads(out)
    rows = table.query(madds="1.5M", latency="6.5ms", top=3)
    assert [r["index"] for r in data["rows"]] == [r.index for r in rows]
    assert data["rows"][0]["ops"] == list(table.arch(rows[0]).ops)
    assert data["limits"]["madds"] == {"given": "1.5M", "value": 1.5e6}
    rc, text, _ = cli(["--table", str(table_path), "--madds", "1.5M", "--latency", "6.5ms", "--top", "3"], capsys)
    assert rc == 0 and rows[0].hash in text.splitlines()[3] and "MAdds <= 1.5M" in text


@pytest.mark.parametrize("argv, match", [
    (["--latency", "17"], "write 17ms"),
    (["--madds=-1M"], "negative"),
    (["--madds", "1K"], "smallest MAdds is"),
])
def test_cli_errors_are_one_line_with_nothing_on_stdout(table_path, capsys, argv, match):
    rc, out, err = cli(["--table", str(table_path), *argv, "--json"], capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("graphnas: error: ") and match in err


def test_cli_refuses_madds_and_flops_together(table_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(["--table", str(table_path), "--madds", "1M", "--flops", "1M"], capsys)
    assert exit_.value.code == 2


def test_cli_renders_the_best_architecture(table_path, table, tmp_path, capsys):
    out = tmp_path / "best.svg"
    rc, text, err = cli(["--table", str(table_path), "--params", "100K", "--render", str(out)], capsys)
    if shutil.which("dot") is None:
        assert rc == 2 and text == "" and "dot" in err and not out.exists()
        return
    assert rc == 0 and out.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert table.best(params="100K").hash in text


def test_cli_plots_the_table(table_path, tmp_path, capsys):
    out = tmp_path / "table.png"
    rc, text, err = cli(["--table", str(table_path), "--madds", "1.5M", "--plot", str(out)], capsys)
    assert rc == 0 and out.read_bytes()[:4] == b"\x89PNG" and f"wrote {out}" in text
    rc, text, err = cli(["--table", str(table_path), "--plot", str(tmp_path / "t.txt")], capsys)
    assert rc == 2 and "use a .png" in err and not (tmp_path / "t.txt").exists()


# ---------------------------------------------------------------------- in-degree constraints
def test_a_space_with_in_degree_constraints_ranks_by_its_constrained_index(tmp_path):
    from test_darts import make_toy

    toy = make_toy()  # 30 valid of 144 vectors
    pred = np.random.default_rng(5).random(toy.size)
    archs = list(toy.enumerate())
    madds = np.array([arch_cost(a).madds for a in archs])
    with LookupTable.build(tmp_path / "toy.db", toy, pred) as t:
        limit = float(np.median(madds))
        want = brute(pred, {"madds": madds}, {"madds": limit}, 5)
        got = t.query(madds=limit, top=5)
        assert [r.index for r in got] == want.tolist()
        assert [r.choices for r in got] == [archs[i].choices for i in want]
    with LookupTable.open(tmp_path / "toy.db") as t:  # 'toy' is no registered space: decoding needs it
        with pytest.raises(LookupTableError, match=r"pass it: LookupTable.open\(path, space\)"):
            t.query()
    bad = np.array([archs[0].choices, archs[1].choices])
    bad[1] = [0, 0, 0, 0, 0, 0]  # node 2 and node 3 keep no input
    with pytest.raises(LookupTableError, match="choices:"):
        LookupTable.build(tmp_path / "bad.db", toy, np.zeros(2), choices=bad)


def test_latency_given_as_an_array(tmp_path, space):
    rng = np.random.default_rng(5)
    predicted = rng.random(space.size)
    latency = rng.uniform(5.0, 25.0, space.size)
    table = LookupTable.build(tmp_path / "given.db", space, predicted, latency=latency,
                              latency_source="a benchmark's measured latency")
    assert table.has_latency and table.meta["latency"]["describe"] == "a benchmark's measured latency"
    for limit in (6.0, 12.5, 20.0):
        got = table.query(latency=f"{limit}ms", top=3)
        ok = np.flatnonzero(latency <= limit)
        want = ok[np.lexsort((ok, -predicted[ok]))][:3]
        assert [r.index for r in got] == want.tolist()
        assert [r.latency for r in got] == pytest.approx(latency[want].tolist())
    with pytest.raises(LookupTableError, match="not both"):
        LookupTable.build(tmp_path / "both.db", space, predicted, latency=latency,
                          latency_model=synthetic_latency(space))
    with pytest.raises(LookupTableError, match="finite non-negative"):
        LookupTable.build(tmp_path / "bad.db", space, predicted, latency=-latency)
