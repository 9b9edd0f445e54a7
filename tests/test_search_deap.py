"""The DEAP-driven strategies: hard limits never crossed, batches, optima found, NSGA-II's front, exact resume,
one-line errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import graphnas
from graphnas import ConstraintError, GraphnasError, arch_cost
from graphnas.cost.limits import Limit, bound_range, make_limit
from graphnas.search import STRATEGIES, evolution, nsga2, random_search
from graphnas.search.history import SearchHistory
from graphnas.search.pareto import nondominated
from graphnas.search.plot import plot_front
from graphnas.search.toolbox import make_classes, parse_objectives

from conftest import build_tiny


def madds(a):
    return arch_cost(a).madds


class Scorer:
    """A known objective: minus the Hamming distance to ``target``; asserts that every architecture it is asked
    to score meets ``limits``, counts calls and batches."""

    def __init__(self, target, limits=()) -> None:
        self.target, self.limits = target, list(limits)
        self.calls, self.batches, self.seen = 0, [], []

    def __call__(self, arch) -> float:
        return self.score_many([arch])[0]

    def score_many(self, archs):
        archs = list(archs)
        self.batches.append(len(archs))
        out = []
        for a in archs:
            assert all(lim(a) for lim in self.limits), f"{a.hash} violates a limit and was evaluated"
            self.calls += 1
            self.seen.append(a.hash)
            out.append(-float(a.hamming(self.target)))
        return out


@pytest.fixture(scope="module")
def tiny_all():
    space = build_tiny()
    archs = list(space.enumerate())
    return space, archs, np.array([madds(a) for a in archs])


@pytest.fixture(scope="module")
def chain8():
    """A chain space big enough that search matters: st_nas restricted to two operators (~1e18 architectures)."""
    from graphnas.jobs import restrict_ops
    from conftest import CPU_SCALE

    space = graphnas.get_space("st_nas", **{**CPU_SCALE, "resolution": 16})
    return restrict_ops(space, ["mbconv_k3_e3_se", "identity"])


# ---------------------------------------------------------------------- hard limits
@pytest.mark.parametrize("strategy", ["evolution", "nsga2", "random"])
def test_no_architecture_outside_the_limits_is_ever_evaluated_or_returned(chain8, strategy):
    costs = sorted(madds(chain8.sample(1000 + i)) for i in range(60))
    band = Limit("madds", costs[40], madds, lower=costs[20])  # a band around the middle: both bounds bite
    params = sorted(arch_cost(chain8.sample(2000 + i)).params for i in range(60))
    cap = Limit("params", params[45], lambda a: arch_cost(a).params)
    for seed in range(6):
        target = chain8.sample(seed)
        scorer = Scorer(target, [band, cap])
        result = STRATEGIES[strategy](chain8, scorer, [band, cap], budget=40, rng=seed, progress=False,
                                      **({} if strategy == "random" else {"population": 10}))
        assert len(result.history) == scorer.calls == 40 == len(set(scorer.seen))  # nothing twice
        assert all(band.lower <= r.costs["madds"] <= band.value and r.costs["params"] <= cap.value
                   for r in result.history)
        if strategy != "random":
            assert scorer.batches[0] == 10 and max(scorer.batches) == 10  # a generation is one batch


def test_unsatisfiable_limits_fail_at_once_naming_the_extreme_value(tiny_all):
    space, archs, cost = tiny_all
    with pytest.raises(ConstraintError, match=f"smallest architecture has madds {cost.min():g}"):
        evolution(space, Scorer(archs[0]), [Limit("madds", cost.min() - 1, madds)], budget=5, progress=False)
    with pytest.raises(ConstraintError, match=f"largest architecture has madds {cost.max():g}.*lower bound"):
        nsga2(space, Scorer(archs[0]), [Limit("madds", cost.max() + 10, madds, lower=cost.max() + 1)], budget=5,
              progress=False)
    # a measure graphnas cannot prove extremes for: rejection, then repair, then the values seen
    odd = Limit("odd", 0.5, lambda a: 1.0 + sum(a.choices) % 1)
    with pytest.raises(ConstraintError, match=r"no architecture met odd <= 0.5 \(smallest seen 1\)"):
        random_search(space, Scorer(archs[0]), [odd], budget=5, progress=False)


def test_ranges_read_by_the_one_parser():
    assert bound_range("madds", "200M:330M") == (200e6, 330e6)
    assert bound_range("latency", "2ms:3ms") == (2.0, 3.0) and bound_range("params", (1.5, 10)) == (2.0, 10.0) and bound_range("params", "1.5K:2K") == (1500.0, 2000.0)
    lim = make_limit("madds", "1M:2M")
    assert (lim.lower, lim.value) == (1e6, 2e6) and repr(lim) == "Limit(1e+06 <= madds <= 2e+06)"
    for bad, msg in (("2M:1M", "is empty"), ("1M:", "is not LOW:HIGH"), ("1:2:3", "is not LOW:HIGH"),
                     ("1:2M", "has no unit")):
        with pytest.raises(ConstraintError, match=msg):
            make_limit("madds", bad)


def test_repair_finds_the_narrow_feasible_band(chain8):
    """A band so narrow that random draws almost never land in it: the repair walks into it."""
    costs = sorted(madds(chain8.sample(i)) for i in range(400))
    mid = costs[200]
    band = Limit("madds", mid + 2000, madds, lower=mid - 2000)
    hits = sum(band(chain8.sample(5000 + i)) for i in range(100))
    result = random_search(chain8, Scorer(chain8.sample(0), [band]), [band], budget=15, rng=0, progress=False)
    assert hits <= 5 and len(result.history) == 15


# ---------------------------------------------------------------------- each strategy beats its start
@pytest.mark.parametrize("strategy", ["evolution", "nsga2"])
def test_each_strategy_beats_its_initial_population(chain8, strategy):
    costs = sorted(madds(chain8.sample(i)) for i in range(60))
    limit = Limit("madds", costs[40], madds)
    for seed in range(3):
        target = next(a for a in (chain8.sample(100 + seed * 50 + i) for i in range(50)) if limit(a))
        result = STRATEGIES[strategy](chain8, Scorer(target), [limit], budget=300, population=20, rng=seed,
                                      progress=False)
        first = max(r.score for r in result.history[:20])
        assert result.best.score >= first + 8, (first, result.best.score)  # 8+ edges closer to the optimum


def test_evolution_finds_the_known_optimum_of_a_small_space(tiny_all):
    space, archs, cost = tiny_all
    limit = Limit("madds", float(np.median(cost)), madds)
    feasible = [a for a in archs if limit(a)]
    target = feasible[len(feasible) // 2]
    found = [evolution(space, Scorer(target), [limit], budget=30, population=6, parents=3, mutation_prob=0.3,
                       rng=seed, progress=False).best.arch == target for seed in range(5)]
    assert len(feasible) > 30 and sum(found) >= 4


def test_nsga2_finds_most_of_the_true_front_of_a_small_space(tiny_all):
    space, archs, cost = tiny_all
    rng = np.random.default_rng(0)
    acc = {a.hash: float(v) for a, v in zip(archs, rng.random(len(archs)))}
    truth = nondominated([[acc[a.hash], c] for a, c in zip(archs, cost)])
    true_front = {archs[i].hash for i in truth}
    result = nsga2(space, lambda a: acc[a.hash], budget=60, population=12, rng=1, progress=False)
    got = {r.arch.hash for r in result.front()}
    assert len(got & true_front) >= 0.8 * len(true_front)
    # the front is exactly the non-dominated set of what was evaluated (brute force)
    pts = [(r.score, r.costs["madds"]) for r in result.history]
    brute = {r.arch.hash for r, p in zip(result.history, pts)
             if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in pts)}
    assert got == brute


def test_nsga2_picks_the_top_two_per_cost_level_and_draws_its_front(tmp_path, chain8):
    result = nsga2(chain8, Scorer(chain8.sample(3)), budget=60, population=12, rng=0,
                   objectives="accuracy,madds,params", progress=False)
    assert result.objectives == ("accuracy", "madds", "params")
    levels = sorted({r.costs["madds"] for r in result.history})[10::20]
    for pick in result.picks(levels):
        within = [r for r in result.history if r.costs["madds"] <= pick["level"]]
        assert [r.score for r in pick["records"]] == sorted((r.score for r in within), reverse=True)[:2]
    doc = result.to_dict()
    assert {r["hash"] for r in doc["front"]} == {r.arch.hash for r in result.front()}
    path = plot_front(result, tmp_path / "front.png", true_front={"madds": ([1e6, 2e6], [-10, -5])})
    assert path.stat().st_size > 5000


# ---------------------------------------------------------------------- resume
class Killed(Exception):
    pass


class KillAfter(Scorer):
    def __init__(self, target, n) -> None:
        super().__init__(target)
        self.n = n

    def score_many(self, archs):
        if self.calls + len(archs) > self.n:
            raise Killed
        return super().score_many(archs)


@pytest.mark.parametrize("strategy", ["evolution", "nsga2", "random"])
def test_a_killed_search_resumed_evaluates_nothing_twice_and_ends_the_same(tmp_path, chain8, strategy):
    target = chain8.sample(7)
    opts = dict(budget=60, rng=4, progress=False, population=10)
    whole = STRATEGIES[strategy](chain8, Scorer(target), **opts)
    path = tmp_path / "history.json"
    killed = KillAfter(target, 35)
    with pytest.raises(Killed):
        STRATEGIES[strategy](chain8, SearchHistory(killed, chain8, path), **opts)
    done = json.loads(path.read_text())["records"]
    assert 0 < len(done) <= 35
    again = Scorer(target)
    history = SearchHistory(again, chain8, path, resume=True)
    resumed = STRATEGIES[strategy](chain8, history, **opts)
    assert [r.arch.hash for r in resumed.history] == [r.arch.hash for r in whole.history]
    assert [r.score for r in resumed.history] == [r.score for r in whole.history]
    assert again.calls + len(done) == 60 and not set(again.seen) & {h for h, _, _ in done}


def test_a_history_of_another_space_or_scorer_or_damaged_is_one_line(tmp_path, chain8, tiny_all):
    path = tmp_path / "h.json"
    random_search(chain8, SearchHistory(Scorer(chain8.sample(0)), chain8, path, meta={"supernet": "a"}), budget=5,
                  progress=False)
    space, archs, _ = tiny_all
    cases = [(lambda: SearchHistory(len, space, path, resume=True, meta={"supernet": "a"}), "belongs to another space"),
             (lambda: SearchHistory(len, chain8, path, resume=True, meta={"supernet": "b"}), "another supernet")]
    doc = json.loads(path.read_text())
    for mutate, msg in ((lambda d: d["records"][0].__setitem__(2, 0.5), "damaged"),
                        (lambda d: d.__setitem__("records", {}), "no list of records"),
                        (lambda d: d.__setitem__("format", "x"), "not a graphnas search history")):
        bad = json.loads(json.dumps(doc))
        mutate(bad)
        p = tmp_path / f"bad{len(cases)}.json"
        p.write_text(json.dumps(bad))
        cases.append((lambda p=p: SearchHistory(len, chain8, p, resume=True, meta={"supernet": "a"}), msg))
    forged = json.loads(json.dumps(doc))
    forged["records"][0][1] = [9] * len(forged["records"][0][1])
    from graphnas.digest import content_digest

    forged["digest"] = content_digest(forged["records"])
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    cases.append((lambda: SearchHistory(len, chain8, tmp_path / "forged.json", resume=True, meta={"supernet": "a"}),
                  "not an architecture of the space"))
    (tmp_path / "bin.json").write_bytes(b"\xff{")
    cases.append((lambda: SearchHistory(len, chain8, tmp_path / "bin.json", resume=True), "is not JSON"))
    (tmp_path / "huge.json").write_text('{"records": [[0, 1' + "0" * 5000 + ']]}')  # past Python's int-text limit
    cases.append((lambda: SearchHistory(len, chain8, tmp_path / "huge.json", resume=True), "is not JSON"))
    for make, msg in cases:
        with pytest.raises(GraphnasError, match=msg) as info:
            make()
        assert "\n" not in str(info.value) and "without --resume" in str(info.value)


# ---------------------------------------------------------------------- DEAP pieces and bad input
def test_deap_classes_are_made_on_demand_and_reused():
    from deap import creator

    f1, i1 = make_classes(2)
    f2, i2 = make_classes(2)
    assert (f1, i1) == (f2, i2) and f1.weights == (1.0, -1.0, -1.0) and getattr(creator, i1.__name__) is i1


def test_one_point_crossover_takes_a_prefix_and_a_suffix(chain8):
    a, b = chain8.arch([0] * chain8.num_edges), chain8.arch([r - 1 for r in chain8.radices])
    for seed in range(20):
        child = chain8.crossover(a, b, seed, kind="one_point")
        differ = [i for i in range(chain8.num_edges) if a.choices[i] != b.choices[i]]
        from_a = [child.choices[i] == a.choices[i] for i in differ]
        cut = from_a.index(False) if False in from_a else len(from_a)
        assert all(from_a[:cut]) and not any(from_a[cut:])
        assert all(child.choices[i] == a.choices[i] for i in range(chain8.num_edges) if i not in differ)
    with pytest.raises(graphnas.SpaceError, match="unknown crossover kind 'two'"):
        chain8.crossover(a, b, 0, kind="two")


@pytest.mark.parametrize("objectives, msg", [
    ("accuracy,flops", "unknown objective 'flops'"), ("madds,accuracy", "must be accuracy followed by"),
    ("accuracy", "must be accuracy followed by"), ("accuracy,madds,madds", "must be accuracy followed by")])
def test_bad_objectives_are_one_line(objectives, msg):
    with pytest.raises(GraphnasError, match=msg):
        parse_objectives(objectives)


def test_a_latency_objective_without_a_table_names_the_fix(chain8):
    with pytest.raises(GraphnasError, match="objective latency has no cost model: pass a latency table"):
        nsga2(chain8, Scorer(chain8.sample(0)), objectives="accuracy,latency", budget=4, progress=False)


def test_nondominated_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pts = rng.integers(0, 5, size=(30, 3)).astype(float)
        got = set(nondominated(pts).tolist())
        want = {i for i, p in enumerate(pts) if not any(
            q[0] >= p[0] and (q[1:] <= p[1:]).all() and (q != p).any() for q in pts)}
        assert got == want
    assert list(itertools.islice(nondominated([[1, 1], [1, 1]]), 2)) == [0, 1]


def test_hypervolume_is_the_dominated_area():
    from graphnas.search.pareto import hypervolume

    assert hypervolume([0.9, 0.5], [3.0, 1.0], ref_score=0.0, ref_cost=4.0) == pytest.approx(1.9)
    rng = np.random.default_rng(1)
    score, cost = rng.random(15), rng.random(15)
    # Monte-Carlo-free check on a fine grid: a cell counts when some point dominates its corner
    xs = (np.arange(400) + 0.5) / 400
    dominated = (score[None, None, :] >= xs[None, :, None]) & (cost[None, None, :] <= xs[:, None, None])
    area = dominated.any(axis=2).mean()
    assert hypervolume(score, cost, 0.0, 1.0) == pytest.approx(area, abs=5e-3)
    assert hypervolume([0.5], [2.0], 0.0, 1.0) == 0.0  # beyond the reference point: nothing
