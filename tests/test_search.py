"""Search strategies on synthetic objectives: constraints, budgets, no re-evaluation, seeding, Pareto fronts."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import graphnas
from graphnas import ConstraintError, arch_cost
from graphnas.cost.limits import Limit
from graphnas.search import STRATEGIES, Record, SearchResult, evolution, pareto_front, random_search, sample_feasible
from graphnas.jobs import restrict_ops

from conftest import CPU_SCALE


def madds_limit(value: float) -> Limit:
    return Limit("madds", value, lambda a: arch_cost(a).madds)


class Counter:
    """``evaluate``: minus the Hamming distance to a hidden target; counts calls and the archs it saw."""

    def __init__(self, target) -> None:
        self.target, self.calls, self.seen = target, 0, []

    def __call__(self, arch) -> float:
        self.calls += 1
        self.seen.append(arch.hash)
        return -float(arch.hamming(self.target))


@pytest.fixture(scope="module")
def st16():
    """st_nas at 16 px restricted to two operators (54 edges, ~1.1e18 architectures)."""
    space = graphnas.get_space("st_nas", **{**CPU_SCALE, "resolution": 16})
    return restrict_ops(space, ["mbconv_k3_e3_se", "identity"])


@pytest.fixture(scope="module")
def st16_problem(st16):
    """A MAdds limit at the median of 50 random architectures and a feasible hidden target."""
    madds = sorted(arch_cost(st16.sample(i)).madds for i in range(50))
    limit = madds_limit(madds[25])
    target = next(a for a in (st16.sample(1000 + i) for i in range(100)) if limit(a))
    return limit, target


@pytest.fixture(scope="module")
def tiny_problem():
    from conftest import build_tiny

    space = build_tiny()
    costs = sorted(arch_cost(a).madds for a in space.enumerate())
    limit = madds_limit(costs[48])  # about half the 96 architectures are feasible
    target = space.arch([1, 0, 1, 1, 0, 0, 2])
    assert limit(target)
    return space, limit, target


# ---------------------------------------------------------------------- evolution finds / beats
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_finds_the_optimum_on_tiny(tiny_problem, seed):
    space, limit, target = tiny_problem
    feasible = sum(limit(a) for a in space.enumerate())
    ev = Counter(target)
    result = evolution(space, ev, [limit], budget=24, rng=seed, population=6, parents=3, mutation_prob=0.3,
                       progress=False)
    assert 24 < feasible
    assert result.best.score == 0.0
    assert result.best.arch == target
    assert len(result.history) == 24


def test_evolution_beats_random_search(st16, st16_problem):
    limit, target = st16_problem
    gaps = []
    for seed in range(4):
        kw = dict(budget=120, rng=seed, progress=False)
        evo = evolution(st16, Counter(target), [limit], population=10, parents=3, mutation_prob=0.05, **kw)
        rnd = random_search(st16, Counter(target), [limit], **kw)
        gaps.append(evo.best.score - rnd.best.score)
    assert min(gaps) > 0 and np.mean(gaps) > 5  # Hamming distance several edges closer, every seed


@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_every_record_meets_the_limit_and_budget(st16, st16_problem, strategy):
    limit, target = st16_problem
    ev = Counter(target)
    opts = {"population": 8} if strategy == "evolution" else {}
    result = STRATEGIES[strategy](st16, ev, [limit], budget=40, rng=3, progress=False, **opts)
    assert result.strategy == strategy
    assert len(result.history) == 40
    assert ev.calls == len(result.history)  # never evaluated twice
    hashes = [r.arch.hash for r in result.history]
    assert len(set(hashes)) == len(hashes)
    assert hashes == ev.seen
    for r in result.history:
        assert r.costs["madds"] == arch_cost(r.arch).madds <= limit.value
        assert r.costs["params"] == arch_cost(r.arch).params
        assert r.score == -r.arch.hamming(target)
    assert result.best.score == max(r.score for r in result.history)
    assert result.constraints == [limit]


def test_limit_bites_in_the_subspace(st16, st16_problem):
    limit, _ = st16_problem
    archs = [st16.sample(i) for i in range(50)]
    assert 10 < sum(limit(a) for a in archs) < 40


@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_results_reproducible_from_seed(tiny_problem, strategy):
    space, limit, target = tiny_problem
    runs = []
    for seed in (5, 5, 6):
        result = STRATEGIES[strategy](space, Counter(target), [limit], budget=20, rng=seed, progress=False)
        runs.append([(r.arch.hash, r.score) for r in result.history])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_random_search_stops_at_the_feasible_space(tiny_problem):
    space, limit, target = tiny_problem
    feasible = {a.hash for a in space.enumerate() if limit(a)}
    ev = Counter(target)
    result = random_search(space, ev, [limit], budget=len(feasible) + 5, rng=0, progress=False)
    assert {r.arch.hash for r in result.history} == feasible
    assert ev.calls == len(feasible)


def test_evolution_exhausts_a_tiny_space_without_constraints(make_tiny):
    space = make_tiny()
    ev = Counter(space.sample(0))
    result = evolution(space, ev, [], budget=500, rng=0, population=8, progress=False)
    assert len(result.history) <= space.size
    assert ev.calls == len(result.history) == len({r.arch.hash for r in result.history})


def test_evolution_with_limit_stops_when_feasible_archs_are_exhausted(tiny_problem):
    space, limit, target = tiny_problem
    feasible = {a.hash for a in space.enumerate() if limit(a)}
    ev = Counter(target)
    result = evolution(space, ev, [limit], budget=200, rng=0, population=8, progress=False)
    assert {r.arch.hash for r in result.history} <= feasible
    assert ev.calls == len(result.history)
    assert result.best.score == 0.0


def test_budget_smaller_than_population(tiny_problem):
    space, limit, target = tiny_problem
    ev = Counter(target)
    result = evolution(space, ev, [limit], budget=3, rng=0, population=8, progress=False)
    assert len(result.history) == ev.calls == 3


# ---------------------------------------------------------------------- Pareto front
def _records(space, pairs):
    archs = list(itertools.islice(space.enumerate(), len(pairs)))
    return [Record(a, score, {"madds": cost, "params": 1000 - cost}) for a, (cost, score) in zip(archs, pairs)]


def test_pareto_front_hand_made(make_tiny):
    pairs = [(10, 0.5), (20, 0.7), (15, 0.4), (20, 0.6), (30, 0.7), (5, 0.1), (40, 0.9), (12, 0.5), (7, 0.05)]
    recs = _records(make_tiny(), pairs)
    front = pareto_front(recs)
    assert [(r.costs["madds"], r.score) for r in front] == [(5, 0.1), (10, 0.5), (20, 0.7), (40, 0.9)]
    assert all(any(f is r for r in recs) for f in front)
    # the same front from any order of the records
    assert [id(r) for r in pareto_front(recs[::-1])] == [id(r) for r in front]
    result = SearchResult("hand", recs)
    assert [id(r) for r in result.pareto] == [id(r) for r in front]
    assert result.best.score == 0.9


def test_pareto_front_by_another_cost(make_tiny):
    pairs = [(10, 0.5), (20, 0.7), (30, 0.2)]  # params = 1000 - madds: 990, 980, 970
    front = pareto_front(_records(make_tiny(), pairs), cost="params")
    assert [(r.costs["params"], r.score) for r in front] == [(970, 0.2), (980, 0.7)]


def test_pareto_front_brute_force(tiny_problem):
    space, limit, target = tiny_problem
    rng = np.random.default_rng(0)
    archs = list(space.enumerate())
    recs = [Record(a, float(rng.integers(0, 6)), {"madds": arch_cost(a).madds}) for a in archs]

    def dominated(r):
        return any(o.score >= r.score and o.costs["madds"] <= r.costs["madds"]
                   and (o.score > r.score or o.costs["madds"] < r.costs["madds"]) for o in recs)

    expected = sorted({(r.costs["madds"], r.score) for r in recs if not dominated(r)})
    front = pareto_front(recs)
    assert [(r.costs["madds"], r.score) for r in front] == expected
    assert [r.costs["madds"] for r in front] == sorted(r.costs["madds"] for r in front)


# ---------------------------------------------------------------------- sample_feasible
def test_sample_feasible_impossible_limit_names_the_smallest_value(make_tiny):
    space = make_tiny()
    archs = list(space.enumerate())
    cycle = itertools.cycle(archs)
    smallest = min(arch_cost(a).madds for a in archs)
    with pytest.raises(ConstraintError) as info:
        sample_feasible(lambda: next(cycle), [madds_limit(1000.0)], tries=200)
    msg = str(info.value)
    assert f"smallest seen {smallest:g}" in msg
    assert "madds <= 1000" in msg
    assert "200 tries" in msg
    assert "\n" not in msg


def test_sample_feasible_names_every_limit(make_tiny):
    space = make_tiny()
    archs = list(space.enumerate())
    cycle = itertools.cycle(archs)
    params = Limit("params", 10.0, lambda a: arch_cost(a).params)
    with pytest.raises(ConstraintError) as info:
        sample_feasible(lambda: next(cycle), [madds_limit(1e12), params], tries=96)
    smallest = min(arch_cost(a).params for a in archs)
    assert f"params <= 10 (smallest seen {smallest:g})" in str(info.value)


def test_sample_feasible_returns_first_feasible(make_tiny):
    space = make_tiny()
    archs = sorted(space.enumerate(), key=lambda a: -arch_cost(a).madds)
    it = iter(archs)
    calls = []

    def propose():
        calls.append(1)
        return next(it)

    cheapest = arch_cost(archs[-1]).madds
    got = sample_feasible(propose, [madds_limit(cheapest)])
    assert arch_cost(got).madds == cheapest
    assert len(calls) == next(i for i, a in enumerate(archs) if arch_cost(a).madds <= cheapest) + 1


def test_sample_feasible_without_constraints_takes_first():
    assert sample_feasible(lambda: "x", []) == "x"


# ---------------------------------------------------------------------- serialisation
def test_search_result_to_dict_is_json(tiny_problem):
    space, limit, target = tiny_problem
    latency = Limit("latency", 1e9, lambda a: float(np.float64(len(a.live_edges))))
    result = evolution(space, Counter(target), [limit, latency], budget=10, rng=0, population=4, progress=False)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["strategy"] == "evolution"
    assert d["evaluations"] == 10 == len(d["history"])
    assert d["constraints"] == [repr(limit), repr(latency)]
    assert d["best"]["hash"] == result.best.arch.hash
    assert d["best"]["ops"] == list(result.best.arch.ops)
    assert set(d["best"]["costs"]) == {"madds", "params", "latency"}
    assert [p["hash"] for p in d["pareto"]] == [r.arch.hash for r in result.pareto]
    assert d["history"][0]["score"] == result.history[0].score
