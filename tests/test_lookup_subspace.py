"""Lookup tables of a subspace around one architecture, labelled by an estimator (graphnas.lookup.subspace)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kendalltau

import graphnas
from graphnas.cost.model import batch_cost
from graphnas.cost.latency import LatencyModel, space_entries
from graphnas.cost.timing import Measurement
from graphnas.errors import LookupTableError
from graphnas.lookup import LookupTable, front_layers, label_and_predict
from graphnas.lookup.subspace import build_from_estimator, cost_spread, lookup_subspace
from graphnas.space.encoding import choices_of
from graphnas.space.registry import space_info
from graphnas.jobs.search import example_latency

FAST = {"epochs": 60, "patience": 30, "hidden": (64, 64)}


@pytest.fixture(scope="module")
def space():
    return graphnas.get_space("fairnas", **space_info("fairnas").cpu_scale)


@pytest.fixture(scope="module")
def model(space):
    rng = np.random.default_rng(0)
    entries = {e.key: Measurement(float(rng.uniform(0.1, 2.0)), 0.0, 1, True) for e in space_entries(space)}
    return LatencyModel.for_space(space, entries, 0.25, 0.01, device={"backend": "test"}, path="synthetic")


def additive(space, seed=0):
    """A smooth known objective: a score per (edge, choice), summed."""
    w = np.random.default_rng(seed).normal(size=(space.num_edges, int(space.radices.max())))
    calls = []

    def f(arch):
        assert arch.space is space  # the estimator sees architectures of the space it scores
        calls.append(arch.hash)
        return float(w[np.arange(space.num_edges), arch.choices].sum())

    return f, calls


def test_cost_spread_is_the_range_of_one_edge_changes(space, model):
    base = space.sample(3)
    for cost, metric in ((cost_spread(space, base), "madds"), (cost_spread(space, base, model), "latency")):
        for i in (0, 7, 18):
            rows = np.tile(np.array(base.choices), (int(space.radices[i]), 1))
            rows[:, i] = np.arange(space.radices[i])
            values = model.batch_latency(space, rows) if metric == "latency" else batch_cost(space, rows, metric)
            assert cost[i] == pytest.approx(values.max() - values.min())
        assert (cost >= 0).all() and cost.max() > 0


def test_lookup_subspace_keeps_the_edges_that_move_cost_most(space, model):
    base = space.sample(1)
    spread = cost_spread(space, base, model)
    sub = lookup_subspace(space, base, max_nodes=1000, latency_model=model)
    free = np.flatnonzero(sub.radices > 1).tolist()
    assert sub.size <= 1000 and sub.size == 6 ** 3 and len(free) == 3  # 6^4 = 1296 would not fit
    assert sorted(free) == sorted(sorted(range(space.num_edges), key=lambda i: (-spread[i], i))[:3])
    assert sub.parent is space and sub.name == f"{space.name}/lookup"
    for i in set(range(space.num_edges)) - set(free):  # every other edge keeps the base's operator
        assert sub.edges[i].candidates == (base.ops[i],)
    assert sub.to_parent(sub.from_parent(base)).hash == base.hash  # the base is one of its rows
    with pytest.raises(LookupTableError, match="max_nodes"):
        lookup_subspace(space, base, max_nodes=1)


def test_build_from_estimator_labels_predicts_and_tabulates(tmp_path, space, model):
    f, calls = additive(space)
    base = space.sample(2)
    table, info = build_from_estimator(tmp_path / "t.db", space, f, base, labels=120, max_nodes=1300,
                                       latency_model=model, rng=0, predictor=FAST, meta={"supernet": "abc"},
                                       progress=False)
    with table:
        sub = table.space
        assert len(table) == sub.size == info["subspace"]["size"] == 1296 and info["labels"] == 120
        assert (info["random"], info["front"], len(info["fits"])) == (96, 24, 3)  # a fifth on the front, 2 rounds
        assert len(calls) == len(set(calls)) == 120
        measured = table.column("measured")
        scored = np.flatnonzero(~np.isnan(measured))
        assert len(scored) == 120
        truth = np.array([f(sub.to_parent(sub.from_index(int(v)))) for v in range(sub.size)])
        assert measured[scored] == pytest.approx(truth[scored])  # the estimator's scores are kept as measured
        predicted = table.column("predicted")
        assert kendalltau(predicted, truth)[0] > 0.5  # the GCN learnt the smooth objective from 120 labels
        choices = table.choices(np.arange(sub.size))
        assert table.column("latency") == pytest.approx(model.batch_latency(sub, choices))
        assert table.column("madds") == pytest.approx(batch_cost(sub, choices, "madds"))
        assert table.meta["supernet"] == "abc" and table.meta["predictor"] == "gcn"
        assert all(f["best_val_tau"] is not None for f in info["fits"])
        limit = example_latency(table.column("latency"))
        best = table.best(latency=f"{limit}ms")
        lat = table.column("latency")
        within = np.flatnonzero(lat <= limit)
        assert 0 < len(within) < sub.size
        known = within[~np.isnan(measured[within])]
        assert best.index == known[np.argmax(measured[known])]  # the best measured row within the limit
        assert np.mean(truth[within] > truth[best.index]) <= 0.02  # and truly among the best 2% there


def test_a_small_subspace_is_scored_whole_without_a_predictor(tmp_path, space):
    f, calls = additive(space)
    table, info = build_from_estimator(tmp_path / "t.db", space, f, space.sample(0), labels=40, max_nodes=36,
                                       rng=0, progress=False)
    with table:
        assert len(table) == 36 and info["fits"] == [] and len(calls) == 36
        assert table.column("predicted") == pytest.approx(table.column("measured"))
        assert not table.has_latency and np.isnan(table.column("latency")).all()
    with pytest.raises(LookupTableError, match="labels=4"):
        build_from_estimator(tmp_path / "u.db", space, f, space.sample(0), labels=4)


def test_example_latency_rounds_the_median_up_to_two_digits():
    assert example_latency([0.5, 0.6123, 0.9]) == 0.62
    assert example_latency([12.01, 13.0, 20.0]) == 13
    assert example_latency([0.0412]) == 0.042
    assert math.isclose(example_latency([1.7]), 1.7)


def pareto(cost, score, ids):
    """Brute force: rows of ``ids`` that no other row of ``ids`` beats: cost <= and score >, or cost < and score
    ==, or (a duplicate) the same cost and score at a lower id."""
    def beats(j, i):
        return ((cost[j] <= cost[i] and score[j] > score[i]) or (cost[j] < cost[i] and score[j] == score[i])
                or (cost[j] == cost[i] and score[j] == score[i] and j < i))

    return {int(i) for i in ids if not any(beats(j, i) for j in ids if j != i)}


def test_front_layers_peel_pareto_fronts_in_order():
    rng = np.random.default_rng(0)
    cost, score = rng.integers(0, 30, 200).astype(float), rng.integers(0, 40, 200).astype(float)
    picked = front_layers(cost, score, 60, exclude=[5, 6])
    assert len(picked) == len(set(picked.tolist())) == 60 and not {5, 6} & set(picked.tolist())
    left, done = [i for i in range(200) if i not in (5, 6)], 0
    while done < 60:  # every layer is the Pareto set of what is left, best scores first
        layer = pareto(cost, score, left)
        got = picked[done:done + len(layer)].tolist()
        assert set(got) <= layer and (len(got) == len(layer) or done + len(got) == 60)
        assert [score[i] for i in got] == sorted((score[i] for i in got), reverse=True)
        left = [i for i in left if i not in layer]
        done += len(got)
    assert front_layers(cost, score, 500).size == 200  # no more rows than there are


def test_label_and_predict_measures_random_then_front(space, model):
    sub = lookup_subspace(space, space.sample(4), max_nodes=1300, latency_model=model)
    f, calls = additive(space, seed=1)
    truth = np.array([f(sub.to_parent(sub.from_index(v))) for v in range(sub.size)])
    calls.clear()
    cost = model.batch_latency(sub, choices_of(sub, np.arange(sub.size)))
    pred, measured, info = label_and_predict(sub, lambda v: truth[v], 100, cost=cost, reevaluate=30, rounds=3,
                                             rng=1, predictor=FAST, progress=False)
    known = np.flatnonzero(~np.isnan(measured))
    assert len(known) == 100 and measured[known] == pytest.approx(truth[known])
    assert (info["random"], info["front"], [f["labels"] for f in info["fits"]]) == (70, 30, [70, 80, 90, 100])
    assert pred.shape == (sub.size,) and kendalltau(pred, truth)[0] > 0.5
    front = pareto(cost, truth, range(sub.size))  # the true front: found far more often than at random
    assert len(front & set(known.tolist())) / len(front) > 3 * 100 / sub.size
    with pytest.raises(LookupTableError, match="reevaluate=100"):
        label_and_predict(sub, lambda v: truth[v], 100, cost=cost, reevaluate=100)
    with pytest.raises(LookupTableError, match="one value per architecture"):
        label_and_predict(sub, lambda v: truth[v], 100, cost=cost[:5])


def test_a_space_with_in_degree_constraints_keeps_its_base_topology(tmp_path):
    """DARTS cells: edges into a constrained node choose operators, not presence, so every row is valid."""
    darts = graphnas.get_space("darts", **space_info("darts").cpu_scale)
    base = darts.sample(0)
    seen = []

    def f(arch):
        assert arch.space is darts  # scored as an architecture of the constrained space (in-degree checked)
        seen.append(arch)
        return float(len(arch.hash) + int(arch.hash[:4], 16) % 97)

    table, info = build_from_estimator(tmp_path / "d.db", darts, f, base, labels=20, max_nodes=200, rng=0,
                                       predictor=FAST, progress=False)
    path = table.path
    with table:
        sub = table.space
        assert not sub.in_degree and 20 < len(table) <= 200 and len(seen) == 20
        for v in range(0, len(table), 7):  # every row: the base's present edges, operators changed
            ops = darts.from_ops(table.arch(v).ops).ops
            assert [op == "none" for op in ops] == [op == "none" for op in base.ops]
    with LookupTable.open(path) as again:  # rebuilt from the metadata alone (for graphnas lookup --render)
        assert again.space.fingerprint == sub.fingerprint and not again.space.in_degree
        assert again.arch(3).ops == sub.from_index(3).ops
