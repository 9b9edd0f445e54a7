"""Samplers: determinism from the rng, ST-NAS drop rates, p_drop calibration, limits, pools, make_sampler."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

import graphnas
from graphnas import ChoiceEdge, Node, SearchSpace, Stem, arch_cost
from graphnas.cost.limits import Limit
from graphnas.errors import ArchitectureError, ConstraintError, GraphnasError, SpaceError
from graphnas.cost.model import batch_cost
from graphnas.train.samplers import (SAMPLERS, Calibration, ConstrainedSampler, PoolSampler, STNASSampler, UniformSampler,
                               calibrate, calibrate_p_drop, expected_cost, make_sampler)

ST_CPU = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None, in_channels=1, num_classes=10)


@pytest.fixture(scope="module")
def st_cpu():
    return graphnas.get_space("st_nas", **ST_CPU)


def build_side() -> SearchSpace:
    """A main path 0->1->4 and a side chain 0->2->3->4 whose edges die together (liveness matters)::

        e0  0->1  stem    (mbconv_k3_e1, mbconv_k5_e3)
        e1  1->4  stem    (mbconv_k3_e1,)
        e2  0->2  branch  (none, mbconv_k3_e1, mbconv_k5_e3)
        e3  2->3  branch  (none, mbconv_k3_e1)
        e4  3->4  branch  (none, identity, mbconv_k3_e3)
    """
    nodes = [Node(i, 0, 8, 1) for i in range(5)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e1", "mbconv_k5_e3")),
             ChoiceEdge(1, 4, "stem", ("mbconv_k3_e1",)),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1", "mbconv_k5_e3")),
             ChoiceEdge(2, 3, "branch", ("none", "mbconv_k3_e1")),
             ChoiceEdge(3, 4, "branch", ("none", "identity", "mbconv_k3_e3"))]
    return SearchSpace("side", nodes, edges, input_shape=(1, 8, 8), num_classes=3, stem=Stem(8))


def stnas_prob(arch, p: float) -> float:
    """Probability of ``arch`` under ST-NAS sampling, edge by edge."""
    prob = 1.0
    for e, op in zip(arch.space.edges, arch.ops):
        real = sum(c != "none" for c in e.candidates)
        if "none" not in e.candidates:
            prob /= real
        else:
            prob *= p if op == "none" else (1 - p) / real
    return prob


def exact_expected_madds(space, p: float) -> float:
    return sum(stnas_prob(a, p) * arch_cost(a).madds for a in space.enumerate())


def madds_limit(value):
    return Limit("madds", value, lambda a: arch_cost(a).madds)


# ---------------------------------------------------------------------- determinism and describe
@pytest.mark.parametrize("kind", ["uniform", "stnas", "constrained", "pool"])
def test_samplers_are_functions_of_the_rng(kind, st_cpu):
    options = {"stnas": dict(p_drop=0.4), "constrained": dict(madds="2.2M"),
               "pool": dict(archs=[st_cpu.sample(k) for k in range(5)])}.get(kind, {})
    sampler = make_sampler(kind, st_cpu, **options)
    before = sampler.describe()
    a = [sampler(np.random.default_rng(7)) for _ in range(2)]
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    seq1 = [sampler(rng1) for _ in range(10)]
    seq2 = [sampler(rng2) for _ in range(10)]
    assert a[0] == a[1] and seq1 == seq2
    assert len({x.hash for x in seq1}) > 1
    assert sampler.describe() == before  # no state changed by drawing
    d = json.loads(json.dumps(sampler.describe()))
    assert d["kind"] == kind


def test_describe_contents(st_cpu):
    assert UniformSampler(st_cpu).describe() == {"kind": "uniform", "space": "st_nas",
                                                 "fingerprint": st_cpu.fingerprint}
    assert STNASSampler(st_cpu, 0.25).describe()["p_drop"] == 0.25
    d = ConstrainedSampler(STNASSampler(st_cpu, 0.5), [madds_limit(2.5e6)], max_tries=50).describe()
    assert d == {"kind": "constrained", "base": STNASSampler(st_cpu, 0.5).describe(), "max_tries": 50,
                 "limits": [{"metric": "madds", "value": 2.5e6}]}
    archs = [st_cpu.sample(k) for k in range(3)]
    d = PoolSampler(archs, [1, 2, 3]).describe()
    assert d["choices"] == [list(a.choices) for a in archs] and d["weights"] == [1.0, 2.0, 3.0] and d["size"] == 3
    assert repr(STNASSampler(st_cpu, 0.25)) == "STNASSampler(space='st_nas', p_drop=0.25)"


# ---------------------------------------------------------------------- ST-NAS
def test_stnas_call_equals_first_row_of_draw(st_cpu):
    s = STNASSampler(st_cpu, 0.3)
    assert s(np.random.default_rng(5)).choices == tuple(s.draw(np.random.default_rng(5), 1)[0])


def test_stnas_drop_rate_and_uniform_operators(st_cpu):
    p, n = 0.3, 20000
    choices = STNASSampler(st_cpu, p).draw(np.random.default_rng(0), n)
    branch = np.array([e.kind == "branch" for e in st_cpu.edges])
    dropped = choices == 0  # none is candidate 0 of every branch edge
    rates = dropped[:, branch].mean(axis=0)
    assert np.all(np.abs(rates - p) < 0.02), rates  # 6 standard errors per edge
    assert abs(dropped[:, branch].mean() - p) < 0.004
    stem_ops = np.array([[st_cpu.edges[i].candidates[c] for i, c in enumerate(row) if not branch[i]]
                         for row in choices[:200]])
    assert "none" not in stem_ops
    for i in (int(np.flatnonzero(branch)[0]), int(np.flatnonzero(~branch)[0])):
        real = [j for j, op in enumerate(st_cpu.edges[i].candidates) if op != "none"]
        freq = np.bincount(choices[:, i], minlength=len(st_cpu.edges[i].candidates))[real] / n
        expect = (1 - p if branch[i] else 1.0) / len(real)
        assert np.all(np.abs(freq - expect) < 6 * math.sqrt(expect / n)), (i, freq, expect)


def test_stnas_extreme_p(st_cpu):
    branch = np.array([e.kind == "branch" for e in st_cpu.edges])
    never = STNASSampler(st_cpu, 0.0).draw(np.random.default_rng(1), 2000)
    always = STNASSampler(st_cpu, 1.0).draw(np.random.default_rng(1), 2000)
    assert not np.any(never[:, branch] == 0)
    assert np.all(always[:, branch] == 0)
    assert np.array_equal(never[:, ~branch], always[:, ~branch])  # same variates, same stem choices


def test_stnas_edge_fixed_to_none_stays_none(st_cpu):
    i = next(i for i, e in enumerate(st_cpu.edges) if e.kind == "branch")
    sub = st_cpu.subspace(fixed={i: "none"})
    choices = STNASSampler(sub, 0.0).draw(np.random.default_rng(0), 100)
    assert np.all(choices[:, i] == 0)


def test_stnas_refuses_in_degree_spaces_and_bad_p():
    darts = graphnas.get_space("darts", resolution=16, channels=4, layers=5)
    with pytest.raises(SpaceError, match="in-degree.*'uniform'"):
        STNASSampler(darts, 0.5)
    tiny = build_side()
    for bad in (-0.1, 1.5, "0.3", True, float("nan")):
        with pytest.raises(GraphnasError, match=r"p_drop must be a probability in \[0, 1\]"):
            STNASSampler(tiny, bad)


# ---------------------------------------------------------------------- batch cost
@pytest.mark.parametrize("name", ["st_cpu", "side", "chain", "dead", "unreach", "darts", "nb201"])
def test_batch_cost_matches_arch_cost(name, st_cpu, request):
    space = {"st_cpu": st_cpu, "side": build_side(),
             "darts": graphnas.get_space("darts", resolution=16, channels=4, layers=5),
             "nb201": graphnas.get_space("nb201", resolution=16, channels=4, cells_per_stage=1)}.get(name)
    space = space or request.getfixturevalue(name)
    archs = [space.sample(k) for k in range(200)]
    choices = np.array([a.choices for a in archs])
    for metric in ("madds", "params"):
        assert batch_cost(space, choices, metric).tolist() == [getattr(arch_cost(a), metric) for a in archs]


# ---------------------------------------------------------------------- calibration
def test_calibrate_st_nas_hits_target(st_cpu):
    cal = calibrate(st_cpu, "2M", tol=1e-3)
    assert isinstance(cal, Calibration)
    assert abs(cal.achieved - 2e6) <= 1e-3 * 2e6
    assert 0 < cal.p_drop < 1 and cal.range[0] < 2e6 < cal.range[1]
    # every edge of st_nas is live, so the true expectation is linear in p (module docstring)
    table = graphnas.cost.model.cost_table(st_cpu)
    means = [np.mean([row[c][0] for c, op in enumerate(e.candidates) if op != "none"])
             for e, row in zip(st_cpu.edges, table.edges)]
    exact = table.fixed.madds + sum(m * (1 - cal.p_drop if e.kind == "branch" else 1)
                                    for m, e in zip(means, st_cpu.edges))
    assert abs(exact - cal.achieved) < 4 * cal.stderr + 1e-3 * 2e6
    assert calibrate_p_drop(st_cpu, 2e6) == cal.p_drop  # same default rng, same variates
    assert json.loads(json.dumps(cal.to_dict()))["p_drop"] == cal.p_drop


def test_calibrate_matches_enumeration_with_dead_edges():
    space = build_side()
    lo, hi = exact_expected_madds(space, 1.0), exact_expected_madds(space, 0.0)
    target = lo + 0.4 * (hi - lo)
    cal = calibrate(space, target, samples=20000, tol=1e-3, rng=1)
    assert abs(cal.achieved - target) <= 1e-3 * target
    assert abs(exact_expected_madds(space, cal.p_drop) - target) < 4 * cal.stderr + 1e-3 * target
    mean, stderr = expected_cost(space, cal.p_drop, samples=20000, rng=1)
    assert mean == cal.achieved and stderr == pytest.approx(cal.stderr)


def test_expected_cost_is_monotone_in_p():
    for space in (build_side(), graphnas.get_space("st_nas", **ST_CPU)):
        means = [expected_cost(space, p, samples=500, rng=4)[0] for p in np.linspace(0, 1, 41)]
        assert all(a >= b for a, b in zip(means, means[1:]))
        assert means[0] > means[-1]


@pytest.mark.parametrize("target", ["0.5M", "10M"])
def test_calibrate_out_of_range_names_the_range(st_cpu, target):
    with pytest.raises(ConstraintError) as info:
        calibrate_p_drop(st_cpu, target)
    msg = str(info.value)
    lo, hi = expected_cost(st_cpu, 1.0, rng=0)[0], expected_cost(st_cpu, 0.0, rng=0)[0]
    assert f"[{lo / 1e6:.4g}M at p_drop=1, {hi / 1e6:.4g}M at p_drop=0]" in msg
    assert "choose a target in that range" in msg and "\n" not in msg


def test_calibrate_bad_targets_and_coarse_estimates(st_cpu):
    with pytest.raises(ConstraintError, match="has no unit"):
        calibrate_p_drop(st_cpu, "2")
    with pytest.raises(ConstraintError, match="positive count"):
        calibrate_p_drop(st_cpu, -1)
    with pytest.raises(GraphnasError, match="samples must be a positive integer"):
        calibrate_p_drop(st_cpu, "2M", samples=0)
    with pytest.raises(ConstraintError, match="raise samples"):  # two draws: steps far coarser than 1e-6
        calibrate(st_cpu, "2M", samples=2, tol=1e-6)
    # at an end of the range the end itself is returned
    assert calibrate(st_cpu, expected_cost(st_cpu, 0.0)[0]).p_drop == 0.0
    assert calibrate(st_cpu, expected_cost(st_cpu, 1.0)[0]).p_drop == 1.0


# ---------------------------------------------------------------------- constrained
def test_constrained_samples_meet_every_limit(st_cpu):
    limits = [madds_limit(2.8e6), Limit("params", 650e3, lambda a: arch_cost(a).params)]
    sampler = ConstrainedSampler(st_cpu, limits)
    rng = np.random.default_rng(0)
    archs = [sampler(rng) for _ in range(30)]
    assert all(lim(a) for a in archs for lim in limits)
    assert len({a.hash for a in archs}) == 30


def test_constrained_unsatisfiable_limit_fails_up_front(st_cpu, make_tiny):
    tiny = make_tiny()
    every = list(tiny.enumerate())
    for metric in ("madds", "params"):
        smallest = min(getattr(arch_cost(a), metric) for a in every)
        lim = Limit(metric, smallest - 1, lambda a, m=metric: getattr(arch_cost(a), m))
        with pytest.raises(ConstraintError) as info:
            ConstrainedSampler(tiny, [lim])
        assert f"smallest architecture has {metric} {smallest:g}" in str(info.value)
        assert "must be at least that" in str(info.value)
        ConstrainedSampler(tiny, [Limit(metric, smallest, lim.measure)])  # exactly the minimum fits
    with pytest.raises(ConstraintError, match="space 'st_nas'"):
        ConstrainedSampler(STNASSampler(st_cpu, 0.5), [madds_limit(1e5)])


def test_constrained_gives_up_after_max_tries(st_cpu):
    low = min(arch_cost(st_cpu.sample(k)).madds for k in range(50))
    # STNAS with p_drop=0 keeps every branch edge, so it never reaches the cheap end the space has
    sampler = ConstrainedSampler(STNASSampler(st_cpu, 0.0), [madds_limit(low * 0.8)], max_tries=20)
    with pytest.raises(ConstraintError, match=r"smallest seen .* in 20 tries; loosen the limit or raise max_tries"):
        sampler(np.random.default_rng(0))


def test_constrained_over_a_pool_checks_the_pool(st_cpu):
    archs = [st_cpu.sample(k) for k in range(4)]
    least = min(arch_cost(a).madds for a in archs)
    with pytest.raises(ConstraintError, match="pool of 4 architectures"):
        ConstrainedSampler(PoolSampler(archs), [madds_limit(least - 1)])
    got = ConstrainedSampler(PoolSampler(archs), [madds_limit(least)])(np.random.default_rng(0))
    assert arch_cost(got).madds == least


def test_constrained_bad_arguments(st_cpu):
    with pytest.raises(GraphnasError, match="max_tries must be a positive integer"):
        ConstrainedSampler(st_cpu, [], max_tries=0)
    with pytest.raises(GraphnasError, match="needs a SearchSpace or a sampler"):
        ConstrainedSampler(3, [])


# ---------------------------------------------------------------------- pool
def test_pool_frequencies(st_cpu):
    archs = [st_cpu.sample(k) for k in range(4)]
    n = 8000
    for weights, expect in ((None, [0.25] * 4), ([1, 0, 3, 4], [0.125, 0, 0.375, 0.5])):
        sampler = PoolSampler(archs, weights)
        rng = np.random.default_rng(0)
        index = {a.hash: k for k, a in enumerate(archs)}
        freq = np.bincount([index[sampler(rng).hash] for _ in range(n)], minlength=4) / n
        assert np.all(np.abs(freq - expect) < 6 * np.sqrt(np.array(expect) / n) + 1e-12), freq


def test_pool_errors(st_cpu, make_tiny):
    with pytest.raises(ArchitectureError, match="pool is empty"):
        PoolSampler([])
    with pytest.raises(ArchitectureError, match="entry 1 is from space 'tiny'.*one space"):
        PoolSampler([st_cpu.sample(0), make_tiny().sample(0)])
    with pytest.raises(ArchitectureError, match="entry 0 is list"):
        PoolSampler([[0, 1]])
    for bad in ([1], [1, -1], [0, 0], [1, float("inf")]):
        with pytest.raises(GraphnasError, match="pool weights must be 2 finite non-negative numbers"):
            PoolSampler([st_cpu.sample(0), st_cpu.sample(1)], bad)


# ---------------------------------------------------------------------- make_sampler
def test_make_sampler_builds_each_kind(st_cpu, make_tiny):
    assert set(SAMPLERS) == {"uniform", "constrained", "stnas", "pool"}
    assert isinstance(make_sampler("uniform", st_cpu), UniformSampler)
    s = make_sampler("stnas", st_cpu, target_madds="2M")
    assert s.p_drop == calibrate_p_drop(st_cpu, "2M")
    c = make_sampler("constrained", st_cpu, madds="2.5M", params=80_000, base="stnas", p_drop=0.5)
    assert isinstance(c.base, STNASSampler) and c.base.p_drop == 0.5
    assert [(lim.metric, lim.value) for lim in c.limits] == [("madds", 2.5e6), ("params", 8e4)]
    tiny = make_tiny()
    a = tiny.sample(0)
    pool = make_sampler("pool", tiny, archs=[a, list(a.ops), list(a.choices)], weights=[1, 1, 2])
    assert pool.archs == (a, a, a)


def test_make_sampler_errors(st_cpu):
    with pytest.raises(GraphnasError, match="unknown sampler 'spos'; choose one of constrained, pool, stnas, uniform"):
        make_sampler("spos", st_cpu)
    with pytest.raises(GraphnasError, match="bad options for sampler 'uniform'.*its options: none"):
        make_sampler("uniform", st_cpu, p_drop=0.3)
    with pytest.raises(GraphnasError, match="bad options for sampler 'pool'.*archs, weights"):
        make_sampler("pool", st_cpu)
    with pytest.raises(GraphnasError, match="exactly one of p_drop"):
        make_sampler("stnas", st_cpu)
    with pytest.raises(GraphnasError, match="needs a limit"):
        make_sampler("constrained", st_cpu)
    with pytest.raises(ConstraintError, match="has no unit"):
        make_sampler("constrained", st_cpu, madds="300")
    with pytest.raises(GraphnasError, match="bad options for sampler 'stnas'"):
        make_sampler("constrained", st_cpu, madds="3M", base="stnas", p_dropp=0.2)


def test_enumeration_helper_is_a_distribution():
    space = build_side()
    for p in (0.0, 0.3, 1.0):
        assert sum(stnas_prob(a, p) for a in space.enumerate()) == pytest.approx(1.0)
    assert len(list(itertools.islice(space.enumerate(), 3))) == 3
