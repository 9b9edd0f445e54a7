"""In-degree constraints (on a hand-built toy space) and the DARTS space: size, sampling, ranking,
variation, compile/supernet/cost agreement, genotypes, rendering and JSON, at tiny scale.

``toy`` (4 nodes, all 8 ch at reduction 1; in_degree {2: 1, 3: 2})::

    e0  0->1  stem    (mbconv_k3_e1, identity)
    e1  0->2  branch  (none, identity, avg_pool_3x3)     node 2 keeps exactly 1 input:
    e2  1->2  branch  (none, mbconv_k3_e1)               2 + 1 = 3 configurations
    e3  0->3  branch  (none, identity)                   node 3 keeps exactly 2 inputs:
    e4  1->3  branch  (none, identity, mbconv_k3_e1)     1*2 + 1*1 + 2*1 = 5 configurations
    e5  2->3  branch  (none, avg_pool_3x3)

Size 2 * 3 * 5 = 30 (of 2 * 3 * 2 * 2 * 3 * 2 = 144 unconstrained vectors).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter

import numpy as np
import pytest
import torch

from graphnas import ArchitectureError, ChoiceEdge, Node, SearchSpace, SpaceError, Stem, Supernet, arch_cost, count_module, get_space
from graphnas.nets import compile
from graphnas.cost.model import extreme_archs, op_cost
from graphnas.render.dag import render, to_dot
from spaces import darts

TOY_SIZE = 30


def make_toy(in_degree=None) -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(4)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e1", "identity")),
             ChoiceEdge(0, 2, "branch", ("none", "identity", "avg_pool_3x3")),
             ChoiceEdge(1, 2, "branch", ("none", "mbconv_k3_e1")),
             ChoiceEdge(0, 3, "branch", ("none", "identity")),
             ChoiceEdge(1, 3, "branch", ("none", "identity", "mbconv_k3_e1")),
             ChoiceEdge(2, 3, "branch", ("none", "avg_pool_3x3"))]
    return SearchSpace("toy", nodes, edges, input_shape=(1, 8, 8), num_classes=3, stem=Stem(8),
                       in_degree={2: 1, 3: 2} if in_degree is None else in_degree)


@pytest.fixture(scope="module")
def toy():
    return make_toy()


def brute_force(space: SearchSpace) -> list[tuple[int, ...]]:
    """Valid choice vectors in lexicographic order, by filtering every unconstrained vector."""
    out = []
    for choices in itertools.product(*(range(int(r)) for r in space.radices)):
        present = Counter(space.edges[i].dst for i, c in enumerate(choices) if space.edges[i].candidates[c] != "none")
        if all(present[n] == k for n, k in space.in_degree.items()):
            out.append(choices)
    return out


@pytest.fixture(scope="module")
def small():
    return get_space("darts", resolution=8, channels=4, layers=4)


# ---------------------------------------------------------------- in-degree constraints (toy)
def test_toy_size_matches_enumeration(toy):
    valid = brute_force(toy)
    assert toy.size == len(valid) == TOY_SIZE
    assert [a.choices for a in toy.enumerate()] == valid  # index order is lexicographic here
    assert toy.num_topologies == 2 * 3  # node 2: one of 2 edges; node 3: two of 3 (e0 is a stem edge)
    assert toy.describe()["in_degree"] == {"2": 1, "3": 2}


def test_toy_index_round_trip(toy):
    for i, arch in enumerate(toy.enumerate()):
        assert toy.index(arch) == i
        assert toy.from_index(i) == arch
    with pytest.raises(ArchitectureError, match="outside space 'toy'"):
        toy.from_index(TOY_SIZE)


def test_toy_sampling_is_uniform_over_valid(toy):
    rng = np.random.default_rng(0)
    n = 9000
    counts = Counter(toy.index(toy.sample(rng)) for _ in range(n))
    assert set(counts) == set(range(TOY_SIZE))
    expected = n / TOY_SIZE
    chi2 = sum((counts[i] - expected) ** 2 / expected for i in range(TOY_SIZE))
    assert chi2 < 58.3  # the 99.9% quantile of chi-square with 29 degrees of freedom


def test_toy_mutate_and_crossover_stay_valid(toy):
    rng = np.random.default_rng(1)
    archs = [toy.sample(rng) for _ in range(20)]
    changed = 0
    for a in archs:
        for prob in (0.3, 1.0):
            child = toy.mutate(a, prob, rng)  # Architecture() validates the constraint
            changed += child != a
        b = archs[int(rng.integers(len(archs)))]
        child = toy.crossover(a, b, rng)
        for node in (2, 3):  # a constrained node's edges come from one parent
            idx = [i for i, e in enumerate(toy.edges) if e.dst == node]
            assert [child.choices[i] for i in idx] in ([a.choices[i] for i in idx], [b.choices[i] for i in idx])
    assert changed >= 30
    seen = {toy.mutate(archs[0], 0.5, rng) for _ in range(200)}
    assert len(seen) > 5


def test_toy_invalid_vector_names_node_and_count(toy):
    with pytest.raises(ArchitectureError, match=r"node 2 of space 'toy' has 2 present incoming edge\(s\) "
                                                r"\(0->2, 1->2\) but needs exactly 1"):
        toy.arch([0, 1, 1, 1, 1, 0])
    with pytest.raises(ArchitectureError, match=r"node 3 .* has 1 present .* needs exactly 2"):
        toy.from_ops(["identity", "identity", "none", "identity", "none", "none"])


def test_toy_neighbours_are_valid(toy):
    for arch in toy.enumerate():
        nbrs = list(arch.neighbours())
        assert all(arch.hamming(n) == 1 for n in nbrs)
        # e0 (2 candidates) always has one neighbour; constrained edges only swap real operators
        expected = 1 + sum(len([c for c in toy.edges[i].candidates if c != "none"]) - 1
                           for i in range(1, 6) if arch.ops[i] != "none")
        assert len(nbrs) == expected


def test_fingerprint_only_changes_with_a_constraint(toy):
    free = make_toy(in_degree={})
    blob = json.dumps(["toy", [[e.src, e.dst, e.kind, list(e.candidates)] for e in free.edges]])
    assert free.fingerprint == hashlib.sha256(blob.encode()).hexdigest()[:16]  # the pre-constraint formula
    assert toy.fingerprint != free.fingerprint
    assert free.size == 144 and len(list(free.enumerate())) == 144


def test_constraint_validation_and_subspaces(toy):
    with pytest.raises(SpaceError, match="in_degree names node 9"):
        make_toy(in_degree={9: 1})
    with pytest.raises(SpaceError, match="node 2 must keep exactly 3 present incoming edges"):
        make_toy(in_degree={2: 3})
    sub = toy.subspace(fixed={(0, 3): "none"})
    assert sub.in_degree == toy.in_degree
    assert sub.size == 2 * 3 * 2  # node 3 must then read 1->3 and 2->3
    assert all(a.ops[3] == "none" for a in sub.enumerate())
    with pytest.raises(SpaceError, match="node 3 must keep exactly 2"):
        toy.subspace(fixed={(0, 3): "none", (2, 3): "none"})


def test_toy_compiles_and_costs(toy):
    x = torch.randn(2, 1, 8, 8)
    for arch in toy.enumerate():
        net = compile(arch)
        assert net(x).shape == (2, 3)
        assert arch_cost(arch) == count_module(net, (1, 8, 8))


# ---------------------------------------------------------------- the DARTS space
def test_darts_exact_size():
    space = get_space("darts")
    per_cell = 1 * 3 * 6 * 10 * 7 ** 8
    assert per_cell == 180 * 7 ** 8 == 1_037_664_180
    assert space.size == per_cell ** 2 == 1_076_746_950_455_072_400
    assert space.num_edges == 28 and space.num_topologies == 180 ** 2
    assert [t.name for t in space.templates] == ["normal", "reduce"]
    assert [b.template for b in space.body] == [0, 0, 1, 0, 0, 1, 0, 0]
    assert [out for _, _, out in space.blocks] == ([(64, 1)] * 2 + [(128, 2)] * 3 + [(256, 4)] * 3)
    assert all(space.stride(i) == (2 if i >= 14 and space.edges[i].src in (7, 8) else 1) for i in range(28))


def test_darts_scale_errors():
    with pytest.raises(SpaceError, match="^darts: resolution=2 is too small for the 2 reduction cells"):
        darts.make_space(resolution=2)
    with pytest.raises(SpaceError, match="^darts: layers=2 must be at least 3"):
        darts.make_space(layers=2)
    with pytest.raises(SpaceError, match="^darts: channels=1 must be at least 2"):
        darts.make_space(channels=1)


def test_darts_index_round_trip_and_validity(small):
    rng = np.random.default_rng(2)
    for _ in range(30):
        arch = small.sample(rng)
        assert all(sum(arch.ops[i] != "none" for i, e in enumerate(small.edges) if e.dst == n) == 2
                   for n in small.in_degree)
        assert small.from_index(small.index(arch)) == arch
        small.mutate(arch, 0.2, rng)
        small.crossover(arch, small.sample(rng), rng)
        assert len(list(arch.neighbours())) == 2 * 8 * 6  # every present edge to the 6 other operators
    assert small.index(small.from_index(small.size - 1)) == small.size - 1


def test_darts_forward_extract_and_cost(small):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    sn = Supernet(small)
    rng = np.random.default_rng(3)
    archs = [small.sample(rng) for _ in range(3)] + [darts.from_genotype(small, darts.DARTS_V2)]
    for arch in archs:
        net = compile(arch)
        assert net(x).shape == (2, 10)
        cost = arch_cost(arch)
        counted = count_module(net, (3, 8, 8))
        assert abs(cost.madds - counted.madds) <= 0.01 * counted.madds
        assert abs(cost.params - counted.params) <= 0.01 * counted.params
        assert count_module(sn, (3, 8, 8), arch) == counted
        sn.train()
        y = sn(x, arch)
        same = sn.extract(arch)
        assert torch.allclose(same(x), y, atol=1e-5)
        sn.eval()
        same = sn.extract(arch).eval()
        with torch.no_grad():
            assert torch.allclose(same(x), sn(x, arch), atol=1e-5)
        names = set(sn.path_modules(arch))
        assert {f"body.{k}.pre.{j}" for k in range(4) for j in (0, 1)} <= names
        assert {n for n, _ in same.named_modules() if n.count(".") == 3 and ".edges." in n} == \
            {n for n in names if ".edges." in n}


def test_darts_preprocessing_shapes(small):
    net = compile(small.sample(0))
    # cell 3 (normal after the reduction at 2... here layers=4: N R R N) reads cell 1 at twice the resolution
    kinds = [[type(net.body[k].pre[str(j)]).__name__ for j in (0, 1)] for k in range(4)]
    assert kinds == [["ReLUConvBN", "ReLUConvBN"], ["ReLUConvBN", "ReLUConvBN"],
                     ["FactorizedReduce", "ReLUConvBN"], ["FactorizedReduce", "ReLUConvBN"]]


def test_darts_op_costs_match_counting():
    from graphnas import get_op

    for op in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "darts_skip", "darts_preprocess"):
        for c_in, c_out, stride, res in ((4, 4, 1, 8), (4, 4, 2, 9), (6, 8, 2, 8), (8, 4, 1, 7)):
            if get_op(op).fits(c_in, c_out, stride):
                module = get_op(op).factory(c_in, c_out, stride)
                assert op_cost(op, c_in, c_out, stride, res) == count_module(module, (c_in, res, res)), (op, c_in)


def test_darts_genotype_round_trip(small):
    arch = darts.from_genotype(small, darts.DARTS_V2)
    geno = darts.to_genotype(arch)
    assert darts.from_genotype(small, geno) == arch
    for mine, paper in ((geno.normal, darts.DARTS_V2.normal), (geno.reduce, darts.DARTS_V2.reduce)):
        assert [sorted(mine[2 * j:2 * j + 2], key=lambda p: p[1]) for j in range(4)] == \
            [sorted(paper[2 * j:2 * j + 2], key=lambda p: p[1]) for j in range(4)]
    assert arch.ops.count("darts_skip") == 2 + 3 and arch.ops.count("none") == 28 - 16
    rng = np.random.default_rng(4)
    for _ in range(10):
        a = small.sample(rng)
        assert darts.from_genotype(small, darts.to_genotype(a)) == a
    as_dict = {"normal": list(darts.DARTS_V2.normal), "reduce": list(darts.DARTS_V2.reduce)}
    assert darts.from_genotype(small, as_dict) == arch


def test_darts_genotype_errors(small):
    bad_op = darts.DARTS_V2._replace(normal=[("conv_9x9", 0)] + darts.DARTS_V2.normal[1:])
    with pytest.raises(ArchitectureError, match="normal entry 0 has operator 'conv_9x9'"):
        darts.from_genotype(small, bad_op)
    twice = darts.DARTS_V2._replace(reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 0)] + darts.DARTS_V2.reduce[2:])
    with pytest.raises(ArchitectureError, match="reduce node 0 reads input 0 twice"):
        darts.from_genotype(small, twice)
    with pytest.raises(ArchitectureError, match="node 1 reads inputs 0..2"):
        darts.from_genotype(small, darts.DARTS_V2._replace(normal=darts.DARTS_V2.normal[:2] +
                                                           [("sep_conv_3x3", 3)] + darts.DARTS_V2.normal[3:]))
    with pytest.raises(ArchitectureError, match="must be a list of 8"):
        darts.from_genotype(small, darts.DARTS_V2._replace(normal=darts.DARTS_V2.normal[:6]))
    with pytest.raises(ArchitectureError, match="not a DARTS cell space"):
        darts.to_genotype(make_toy().sample(0))


def test_darts_json_round_trip(small):
    arch = small.sample(5)
    again = small.from_json(arch.to_json())
    assert again == arch and again.hash == arch.hash
    big = get_space("darts", resolution=32, channels=16, layers=8)
    assert big.from_json(arch.to_json()) == big.from_ops(arch.ops)  # same structure at another scale


def test_darts_render_draws_both_cells(small, tmp_path):
    arch = darts.from_genotype(small, darts.DARTS_V2)
    source = to_dot(arch).source
    assert "normal cell" in source and "reduce cell" in source
    assert source.count("style=dotted") == 16  # 8 chosen edges per cell, all branch edges
    assert source.count("style=dashed") == 8  # intermediate nodes into the two concatenations
    assert "c_{k-2}" in source and "sep_conv_3x3" in source and "max_pool_3x3" in source
    files = render(arch, tmp_path / "v2", formats=("svg",))
    assert (tmp_path / "v2.dot").read_text().count("cluster_template") == 2
    assert [f.suffix for f in files] == [".dot", ".svg"]
    assert "14 edges" not in to_dot(small).source and "7 ops | none" in to_dot(small).source


def test_darts_extreme_archs_are_valid(small):
    low, high = extreme_archs(small)
    assert arch_cost(low).madds < arch_cost(high).madds
    assert set(high.ops) - {"none"} == {"sep_conv_5x5"}
    assert set(low.ops) - {"none"} <= {"max_pool_3x3", "avg_pool_3x3", "darts_skip"}
