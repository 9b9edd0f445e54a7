"""SearchSpace: exact sizes, sampling, mutation, crossover, ranking, subspaces and validation."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import graphnas
from graphnas import ArchitectureError, ChoiceEdge, Node, SearchSpace, SpaceError, Stem
from graphnas.space import registry

from conftest import CPU_SCALE, build_dead, build_unreach

ST_OPS = tuple(f"mbconv_k{k}_e{e}_se" for k in (3, 5, 7) for e in (3, 4, 6))


# ---------------------------------------------------------------------- sizes
def test_size_equals_enumeration(tiny, dead, unreach):
    for space, size in ((tiny, 96), (dead, 4), (unreach, 4)):
        assert type(space.size) is int
        assert space.size == size
        assert sum(1 for _ in space.enumerate()) == size
    assert tiny.num_edges == 7
    assert tiny.num_topologies == 2 ** 3
    assert dead.num_topologies == 4


def test_enumerate_yields_distinct_archs(tiny):
    archs = list(tiny.enumerate())
    assert len({a.choices for a in archs}) == 96


@pytest.mark.parametrize("scale", [{}, CPU_SCALE])
def test_st_nas_size_exact(scale):
    space = graphnas.get_space("st_nas", **scale)
    stages = [n.stage for n in space.nodes]
    assert len(space.nodes) == 20
    assert Counter(stages) == {0: 2, 1: 2, 2: 4, 3: 8, 4: 4}
    stem = [e for e in space.edges if e.kind == "stem"]
    branch = [e for e in space.edges if e.kind == "branch"]
    assert len(stem) == 19 and len(branch) == 35 and space.num_edges == 54
    assert [(e.src, e.dst) for e in stem] == [(i, i + 1) for i in range(19)]
    assert sorted((e.src, e.dst) for e in branch) == sorted((i, i + d) for d in (2, 3) for i in range(20 - d))
    counts = Counter()
    for e in space.edges:
        within = stages[e.src] == stages[e.dst]
        counts[(e.kind, within)] += 1
        if e.kind == "stem":
            assert e.candidates == (ST_OPS + ("identity",) if within else ST_OPS)
            assert len(e.candidates) == (10 if within else 9)
        else:
            assert e.candidates == (("none",) + ST_OPS + ("identity",) if within else ("none",) + ST_OPS)
            assert len(e.candidates) == (11 if within else 10)
    assert counts == {("stem", True): 15, ("stem", False): 4, ("branch", True): 17, ("branch", False): 18}
    expected = 10 ** 15 * 9 ** 4 * 11 ** 17 * 10 ** 18
    assert expected == 3316237953983866431531 * 10 ** 33
    assert type(space.size) is int
    assert space.size == expected
    assert space.size > 2 ** 100  # beyond int64 and exact beyond float precision
    assert space.num_topologies == 2 ** 35
    d = space.describe()
    assert (d["choice_edges"], d["stem_edges"], d["branch_edges"], d["topologies"], d["size"]) == \
        (54, 19, 35, 2 ** 35, expected)


def test_st_nas_paper_scale_shapes(st_paper):
    assert st_paper.input_shape == (3, 224, 224)
    assert [n.channels for n in st_paper.nodes] == [16] * 2 + [24] * 2 + [40] * 4 + [80] * 8 + [160] * 4
    assert [n.resolution for n in st_paper.nodes] == [112] * 2 + [56] * 2 + [28] * 4 + [14] * 8 + [7] * 4
    assert st_paper.stem == graphnas.Stem(32, 2)
    assert st_paper.head.channels == 1280


# ---------------------------------------------------------------------- sampling
def test_sample_reproducible(tiny, st_small):
    for space in (tiny, st_small):
        assert space.sample(7) == space.sample(7)
        assert space.sample(7) == space.sample(np.random.default_rng(7))
        assert len({space.sample(s).choices for s in range(20)}) > 10
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    assert [st_small.sample(rng1).choices for _ in range(5)] == [st_small.sample(rng2).choices for _ in range(5)]


def test_sample_covers_every_candidate_uniformly(st_small):
    rng = np.random.default_rng(0)
    n = 3000
    choices = np.array([st_small.sample(rng).choices for _ in range(n)])
    for i, r in enumerate(st_small.radices.tolist()):
        counts = np.bincount(choices[:, i], minlength=r)
        assert len(counts) == r
        expected = n / r
        assert counts.min() > 0.7 * expected and counts.max() < 1.3 * expected, (i, counts)


def test_sample_all_tiny_archs_reachable(tiny):
    rng = np.random.default_rng(1)
    seen = {tiny.sample(rng).choices for _ in range(2000)}
    assert len(seen) == 96


# ---------------------------------------------------------------------- mutation and crossover
def test_mutate_prob_one_changes_every_multi_candidate_edge(tiny, st_small):
    for space in (tiny, st_small):
        for seed in range(5):
            arch = space.sample(seed)
            child = space.mutate(arch, prob=1.0, rng=seed)
            for i, r in enumerate(space.radices.tolist()):
                if r > 1:
                    assert child.choices[i] != arch.choices[i]
                else:
                    assert child.choices[i] == arch.choices[i] == 0
    assert tiny.mutate(tiny.arch([0] * 7), prob=1.0, rng=0).choices[:6] == (1, 1, 1, 1, 1, 0)


def test_mutate_prob_zero_changes_nothing(tiny, st_small):
    for space in (tiny, st_small):
        for seed in range(5):
            arch = space.sample(seed)
            assert space.mutate(arch, prob=0.0, rng=seed) == arch


def test_mutate_reaches_every_other_candidate_and_is_reproducible(tiny):
    arch = tiny.arch([0] * 7)
    rng = np.random.default_rng(0)
    last = Counter(tiny.mutate(arch, prob=1.0, rng=rng).choices[6] for _ in range(200))
    assert set(last) == {1, 2}
    assert tiny.mutate(arch, 0.5, rng=11) == tiny.mutate(arch, 0.5, rng=11)


def test_crossover_takes_each_position_from_a_parent(tiny, st_small):
    a = st_small.arch([0] * 54)
    b = st_small.arch([1] * 54)
    child = st_small.crossover(a, b, rng=0)
    assert set(child.choices) == {0, 1}  # both parents contribute
    assert child == st_small.crossover(a, b, rng=0)
    for seed in range(10):
        x, y = st_small.sample(seed), st_small.sample(seed + 100)
        c = st_small.crossover(x, y, rng=seed)
        assert all(ci in (xi, yi) for ci, xi, yi in zip(c.choices, x.choices, y.choices))
    t = tiny.sample(0)
    assert tiny.crossover(t, t, rng=1) == t


def test_crossover_refuses_other_space(tiny, dead):
    with pytest.raises(ArchitectureError):
        tiny.crossover(tiny.sample(0), dead.sample(0))
    with pytest.raises(ArchitectureError):
        tiny.mutate(dead.sample(0))


# ---------------------------------------------------------------------- ranking
def test_enumerate_order_is_index_order(tiny):
    for k, arch in enumerate(tiny.enumerate()):
        assert tiny.index(arch) == k
        assert tiny.from_index(k) == arch


def test_index_is_mixed_radix_edge0_most_significant(tiny):
    assert tiny.from_index(0).choices == (0,) * 7
    assert tiny.from_index(1).choices == (0, 0, 0, 0, 0, 0, 1)
    assert tiny.from_index(3).choices == (0, 0, 0, 0, 1, 0, 0)
    assert tiny.from_index(48).choices == (1, 0, 0, 0, 0, 0, 0)
    assert tiny.from_index(95).choices == (1, 1, 1, 1, 1, 0, 2)


def test_index_round_trip_large_space(st_small):
    for seed in range(10):
        arch = st_small.sample(seed)
        k = st_small.index(arch)
        assert type(k) is int and 0 <= k < st_small.size
        assert st_small.from_index(k) == arch
    last = st_small.from_index(st_small.size - 1)
    assert list(last.choices) == [r - 1 for r in st_small.radices.tolist()]
    assert st_small.index(last) == st_small.size - 1 > 2 ** 63
    with pytest.raises(ArchitectureError, match="outside space"):
        st_small.from_index(st_small.size)
    with pytest.raises(ArchitectureError, match="outside space"):
        st_small.from_index(-1)


def test_index_refuses_other_space(tiny, make_tiny):
    other = make_tiny("tiny_other")
    with pytest.raises(ArchitectureError, match="belongs to space 'tiny_other'"):
        tiny.index(other.arch([0] * 7))
    assert tiny.index(make_tiny().arch([0, 0, 0, 0, 0, 0, 2])) == 2  # another build of the same space is fine


def test_enumerate_too_large_space(st_small, tiny):
    with pytest.raises(SpaceError, match="more than limit"):
        next(iter(st_small.enumerate()))
    with pytest.raises(SpaceError, match="has 96 architectures, more than limit=95"):
        list(tiny.enumerate(limit=95))
    assert len(list(tiny.enumerate(limit=96))) == 96


# ---------------------------------------------------------------------- subspaces
def test_subspace_fixed_and_allowed(tiny):
    sub = tiny.subspace(fixed={0: "identity"}, allowed={(2, 4): ["none", "avg_pool_3x3"]})
    assert sub.parent is tiny
    assert sub.name == "tiny/sub"
    assert sub.edges[0].candidates == ("identity",)
    assert sub.edges[6].candidates == ("none", "avg_pool_3x3")
    assert sub.edges[6].kind == "branch"
    assert sub.num_edges == 7
    assert sub.size == 96 // 2 // 3 * 2 == 32
    archs = list(sub.enumerate())
    assert len(archs) == 32
    assert sub.gray_widths.tolist() == [0, 1, 1, 1, 1, 0, 1]
    for a in archs:
        p = sub.to_parent(a)
        assert p.space is tiny
        assert p.ops == a.ops
        assert sub.from_parent(p) == a
        assert p.ops[0] == "identity" and p.ops[6] in ("none", "avg_pool_3x3")
    # hamming neighbours of a subspace arch only move over the kept candidates
    assert len(list(archs[0].neighbours())) == 5


def test_subspace_fixing_a_branch_edge_makes_it_stem(tiny):
    sub = tiny.subspace(fixed={(0, 2): "mbconv_k3_e1"}, name="fixed")
    assert sub.name == "fixed"
    assert sub.edges[2].kind == "stem" and sub.edges[2].candidates == ("mbconv_k3_e1",)
    assert sub.num_topologies == 4
    assert sub.size == 48


def test_from_parent_with_dropped_op(tiny):
    sub = tiny.subspace(fixed={0: "identity"})
    parent_arch = tiny.arch([0, 0, 0, 0, 0, 0, 0])  # edge 0 = mbconv_k3_e3, dropped from sub
    with pytest.raises(ArchitectureError, match="'mbconv_k3_e3' is not a candidate of edge 0"):
        sub.from_parent(parent_arch)
    with pytest.raises(ArchitectureError):
        sub.from_parent(sub.arch([0] * 7))  # not a parent arch


def test_subspace_bad_arguments(tiny):
    with pytest.raises(ArchitectureError, match="'max_pool_3x3' is not a candidate of edge 6"):
        tiny.subspace(allowed={6: ["none", "max_pool_3x3"]})
    with pytest.raises(SpaceError, match="no choice edge 4->0"):
        tiny.subspace(fixed={(4, 0): "identity"})
    with pytest.raises(SpaceError, match="edges 0..6, not 7"):
        tiny.subspace(fixed={7: "identity"})
    with pytest.raises(SpaceError, match="not a subspace"):
        tiny.to_parent(tiny.arch([0] * 7))
    with pytest.raises(SpaceError, match="not a subspace"):
        tiny.from_parent(tiny.arch([0] * 7))


# ---------------------------------------------------------------------- validation
NODES3 = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]


def make(edges, nodes=NODES3, **kw):
    kw.setdefault("input_shape", (1, 8, 8))
    kw.setdefault("stem", Stem(8))
    return SearchSpace("bad", nodes, edges, **kw)


def test_valid_three_node_space():
    space = make([ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
                  ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
                  ChoiceEdge(0, 2, "branch", ("mbconv_k3_e3", "none"))])
    assert space.size == 8
    assert space.edges[2].candidates == ("none", "mbconv_k3_e3")  # 'none' moved first
    assert [n.resolution for n in space.nodes] == [8, 8, 4]
    assert space.stride(1) == 2 and space.stride(0) == 1


@pytest.mark.parametrize("edges, message", [
    ([ChoiceEdge(1, 0, "stem", ("mbconv_k3_e3",))], r"edge 1->0 must go forward"),
    ([ChoiceEdge(1, 1, "stem", ("mbconv_k3_e3",))], r"edge 1->1 must go forward"),
    ([ChoiceEdge(0, 3, "stem", ("mbconv_k3_e3",))], r"edge 0->3 must go forward between nodes 0..2"),
    ([ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3",)), ChoiceEdge(0, 1, "stem", ("identity",))],
     r"two choice edges join 0->1"),
    ([ChoiceEdge(0, 1, "stem", ("none", "mbconv_k3_e3"))], r"stem edge 0->1 offers 'none'"),
    ([ChoiceEdge(0, 1, "branch", ("identity", "mbconv_k3_e3"))], r"branch edge 0->1 must offer 'none'"),
    ([ChoiceEdge(0, 2, "stem", ("mbconv_k3_e3", "identity"))],
     r"operator 'identity' cannot join node 0 \(8 ch\) to node 2 \(16 ch\) at stride 2"),
    ([ChoiceEdge(1, 2, "stem", ("avg_pool_3x3",))], r"operator 'avg_pool_3x3' cannot join"),
    ([ChoiceEdge(0, 1, "skip", ("identity",))], r"has kind 'skip'"),
])
def test_space_errors(edges, message):
    with pytest.raises(SpaceError, match=message):
        make(edges)


def test_drop_unfit():
    space = make([ChoiceEdge(0, 2, "branch", ("none", "identity", "mbconv_k3_e1", "max_pool_3x3"))],
                 drop_unfit=True)
    assert space.edges[0].candidates == ("none", "mbconv_k3_e1")
    with pytest.raises(SpaceError, match="no candidate operator left"):
        make([ChoiceEdge(0, 2, "stem", ("identity",))], drop_unfit=True)


def test_node_and_stem_errors():
    edge = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3",))]
    with pytest.raises(SpaceError, match="resolution 8 is too small for reduction x16; use a resolution of at least 16"):
        make(edge, nodes=[Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 16)])
    with pytest.raises(SpaceError, match="node ids must be 0..2 in order, found id 2 at position 1"):
        make(edge, nodes=[Node(0, 0, 8, 1), Node(2, 0, 8, 1), Node(1, 1, 16, 2)])
    with pytest.raises(SpaceError, match="the stem reduces x2 but node 0 is at reduction x1"):
        make(edge, stem=Stem(8, 2))
    with pytest.raises(SpaceError, match="must be square"):
        make(edge, input_shape=(1, 8, 16))
    with pytest.raises(SpaceError, match="reductions must grow"):
        make([ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3",))],
             nodes=[Node(0, 0, 8, 2), Node(1, 0, 8, 1), Node(2, 1, 16, 2)], stem=Stem(8, 2))


def test_st_nas_resolution_too_small():
    with pytest.raises(SpaceError, match="resolution 8 is too small"):
        graphnas.get_space("st_nas", resolution=8, stem_stride=2)
    graphnas.get_space("st_nas", resolution=32, stem_stride=2)  # exactly the total reduction is fine


def test_get_space_unknown_name():
    with pytest.raises(SpaceError, match=r"unknown space 'no_such_space'; available: .*st_nas"):
        graphnas.get_space("no_such_space")
    with pytest.raises(SpaceError, match="does not exist"):
        graphnas.get_space("no/such/file.py")


def test_get_space_unknown_scale_argument():
    with pytest.raises(SpaceError, match=r"space 'st_nas' has no scale argument 'depth'; it takes: resolution"):
        graphnas.get_space("st_nas", depth=3)
    with pytest.raises(SpaceError, match="width > 0"):
        graphnas.get_space("st_nas", width=0)


def test_register_space(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", {})
    graphnas.register_space("dead_space", lambda: build_dead())
    assert "dead_space" in graphnas.space_names() and "st_nas" in graphnas.space_names()
    assert graphnas.get_space("dead_space").size == 4
    with pytest.raises(SpaceError, match="already registered"):
        graphnas.register_space("dead_space", build_unreach)
    with pytest.raises(SpaceError, match="already registered"):
        graphnas.register_space("st_nas", build_unreach)
    graphnas.register_space("dead_space", build_unreach, overwrite=True)
    assert graphnas.get_space("dead_space").name == "unreach"


def test_space_equality_ignores_scale(st_small, st_paper, tiny, make_tiny):
    assert st_small == st_paper and hash(st_small) == hash(st_paper)
    assert tiny == make_tiny() and tiny != make_tiny("other")
    assert tiny.edge_index(2, 4) == 6
    with pytest.raises(SpaceError):
        tiny.edge_index(0, 4)
