"""Cost: the closed-form model against hook counting, hand-computed costs, dead edges."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import graphnas
from graphnas import Cost, Supernet, arch_cost, count_module, get_op, op_names
from graphnas.nets import compile
from graphnas.cost import conv_cost, edge_cost, head_cost, linear_cost, op_cost, out_resolution, stem_cost
from graphnas.ops import LinearBottleneck


def counted(arch) -> Cost:
    return count_module(compile(arch), arch.space.input_shape)


# ---------------------------------------------------------------------- model == counter
def test_arch_cost_matches_counter_st_nas_cpu_scale(st_small):
    sn = Supernet(st_small)
    for seed in range(6):
        arch = st_small.sample(seed)
        cost = arch_cost(arch)
        assert isinstance(cost.madds, int) and isinstance(cost.params, int)
        assert cost == counted(arch), seed
        assert cost == count_module(sn, st_small.input_shape, arch), seed  # the supernet counts its path


def test_arch_cost_matches_counter_st_nas_paper_scale(st_paper):
    for seed in range(2):
        arch = st_paper.sample(seed)
        assert arch_cost(arch) == counted(arch)


def test_arch_cost_matches_counter_odd_resolution():
    space = graphnas.get_space("st_nas", resolution=44, width=0.5, num_classes=7, in_channels=3, stem_stride=2,
                               head_channels=64)
    for seed in range(3):
        arch = space.sample(seed)
        assert arch_cost(arch) == counted(arch)


def test_arch_cost_matches_counter_every_tiny_arch(tiny):
    costs = set()
    for arch in tiny.enumerate():
        cost = arch_cost(arch)
        assert cost == counted(arch), arch.choices
        costs.add(cost)
    assert len(costs) > 20


def test_cost_scales_with_size(st_small, st_paper):
    arch = st_small.sample(0)
    small, paper = arch_cost(arch), arch_cost(st_paper.from_ops(arch.ops))
    assert paper.madds > 20 * small.madds
    assert paper.params > small.params


# ---------------------------------------------------------------------- hand-computed costs
def test_mbconv_k3_e3_by_hand():
    # mbconv_k3_e3, 8 -> 16 channels, stride 2, 8 x 8 input; hidden width 8 * 3 = 24
    expand = Cost(madds=8 * 24 * 8 * 8, params=8 * 24 + 2 * 24)           # 1x1 conv at 8x8 + BN
    depthwise = Cost(madds=3 * 3 * 24 * 4 * 4, params=3 * 3 * 24 + 2 * 24)  # 3x3 dw, stride 2 -> 4x4 + BN
    project = Cost(madds=24 * 16 * 4 * 4, params=24 * 16 + 2 * 16)         # 1x1 conv at 4x4 + BN
    expected = Cost(12288 + 3456 + 6144, 240 + 264 + 416)
    assert expand + depthwise + project == expected == Cost(21888, 920)
    spec = get_op("mbconv_k3_e3")
    assert spec.cost(8, 16, 2, 8) == expected
    assert op_cost("mbconv_k3_e3", 8, 16, 2, 8) == expected
    assert LinearBottleneck.cost(8, 16, 2, 8, kernel=3, expand=3) == expected
    assert count_module(spec.factory(8, 16, 2), (8, 8, 8)) == expected


def test_mbconv_k3_e3_se_by_hand():
    # as above plus squeeze-excitation on 24 channels: hidden make_divisible(24 / 4) = 8, both 1x1 with bias
    se = Cost(madds=24 * 8 + 8 * 24, params=24 * 8 + 8 + 8 * 24 + 24)
    expected = Cost(21888, 920) + se
    assert expected == Cost(22272, 1336)
    assert op_cost("mbconv_k3_e3_se", 8, 16, 2, 8) == expected
    assert count_module(get_op("mbconv_k3_e3_se").factory(8, 16, 2), (8, 8, 8)) == expected


def test_mbconv_k3_e6_se_by_hand():
    # mbconv_k3_e6_se, 8 -> 8, stride 1, 4 x 4; hidden 48; SE width make_divisible(48 / 4 = 12, 8) = 16
    from graphnas.ops import SqueezeExcite

    assert SqueezeExcite.hidden(48) == 16
    expand = Cost(8 * 48 * 16, 8 * 48 + 96)
    depthwise = Cost(9 * 48 * 16, 9 * 48 + 96)
    se = Cost(48 * 16 + 16 * 48, 48 * 16 + 16 + 16 * 48 + 48)
    project = Cost(48 * 8 * 16, 48 * 8 + 16)
    expected = expand + depthwise + se + project
    assert expected == Cost(20736, 3008)
    module = get_op("mbconv_k3_e6_se").factory(8, 8, 1)
    assert module.se.reduce.out_channels == 16
    assert op_cost("mbconv_k3_e6_se", 8, 8, 1, 4) == expected
    assert count_module(module, (8, 4, 4)) == expected


def test_mbconv_e1_has_no_expansion_by_hand():
    # mbconv_k5_e1, 16 -> 16, stride 1, 4 x 4: depthwise 5x5 + BN, project 1x1 + BN
    expected = Cost(madds=25 * 16 * 16 + 16 * 16 * 16, params=25 * 16 + 32 + 16 * 16 + 32)
    assert expected == Cost(10496, 720)
    assert op_cost("mbconv_k5_e1", 16, 16, 1, 4) == expected
    assert count_module(get_op("mbconv_k5_e1").factory(16, 16, 1), (16, 4, 4)) == expected


def test_stem_and_head_by_hand(st_paper):
    # stem at 224: conv3x3 3->32 s2 (+BN) at 112x112, dw3x3 32 (+BN), 1x1 32->16 (+BN)
    r = 112 * 112
    stem = Cost(madds=(27 * 32 + 9 * 32 + 32 * 16) * r, params=27 * 32 + 64 + 9 * 32 + 64 + 32 * 16 + 32)
    assert stem == Cost(20873216, 1824)
    assert stem_cost(st_paper) == stem
    # head: 1x1 160->1280 (+BN) at 7x7, pool, linear 1280->1000 with bias
    head = Cost(madds=160 * 1280 * 49 + 1280 * 1000, params=160 * 1280 + 2 * 1280 + 1280 * 1000 + 1000)
    assert head == Cost(11315200, 1488360)
    assert head_cost(st_paper) == head


def test_primitives():
    assert out_resolution(7, 2) == 4 and out_resolution(8, 2) == 4 and out_resolution(9, 4) == 3
    assert conv_cost(8, 16, 3, 2, 7) == Cost(madds=9 * 8 * 16 * 16, params=9 * 8 * 16)
    assert conv_cost(16, 16, 3, 1, 5, groups=16) == Cost(madds=9 * 16 * 25, params=9 * 16)
    assert conv_cost(4, 2, 1, 1, 1, bias=True) == Cost(8, 10)
    assert linear_cost(10, 3) == Cost(30, 33)
    assert linear_cost(10, 3, bias=False) == Cost(30, 30)


@pytest.mark.parametrize("op", op_names())
def test_every_op_closed_form_matches_counter(op):
    spec = get_op(op)
    checked = 0
    for c_in, c_out, stride, res in [(8, 8, 1, 8), (8, 16, 2, 7), (16, 16, 2, 9), (8, 24, 4, 9), (16, 16, 4, 5)]:
        if not spec.fits(c_in, c_out, stride):
            continue
        assert spec.cost(c_in, c_out, stride, res) == count_module(spec.factory(c_in, c_out, stride),
                                                                   (c_in, res, res)), (c_in, c_out, stride, res)
        checked += 1
    assert checked >= 1


def test_op_cost_follows_an_overwritten_op(monkeypatch):
    from graphnas.ops import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    @graphnas.register_op("conv_cost_test", cost=lambda c_in, c_out, stride, res: conv_cost(c_in, c_out, 1, stride, res))
    def conv1x1(c_in, c_out, stride):
        return torch.nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)

    assert op_cost("conv_cost_test", 8, 8, 1, 4) == Cost(8 * 8 * 16, 64)

    @graphnas.register_op("conv_cost_test", overwrite=True,
                          cost=lambda c_in, c_out, stride, res: conv_cost(c_in, c_out, 3, stride, res))
    def conv3x3(c_in, c_out, stride):
        return torch.nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)

    assert get_op("conv_cost_test").cost(8, 8, 1, 4) == Cost(9 * 8 * 8 * 16, 9 * 64)
    assert op_cost("conv_cost_test", 8, 8, 1, 4) == Cost(9 * 8 * 8 * 16, 9 * 64)


# ---------------------------------------------------------------------- Cost arithmetic
def test_cost_addition():
    assert Cost(10, 2) + Cost(5, 1) == Cost(15, 3)
    assert Cost() == Cost(0, 0)
    assert sum([Cost(1, 2), Cost(3, 4), Cost(5, 6)]) == Cost(9, 12)
    total = Cost(1, 1)
    total += Cost(2, 3)
    assert total == Cost(3, 4)
    big = Cost(2 ** 62, 1) + Cost(2 ** 62, 1)
    assert big.madds == 2 ** 63  # Python ints: no overflow
    with pytest.raises(dataclasses.FrozenInstanceError):
        Cost().madds = 1  # type: ignore[misc]


# ---------------------------------------------------------------------- dead edges
def test_dead_edges_not_counted(dead):
    base = arch_cost(dead.arch([0, 0, 0, 0]))
    dead_end = dead.arch([0, 0, 1, 0])        # e2 leads into a node that cannot reach the output
    no_source = dead.arch([0, 0, 0, 1])       # e3 leaves a node that is never computed (identity: free anyway)
    both = dead.arch([0, 0, 1, 1])
    e2 = edge_cost(dead, 2, "mbconv_k3_e1")
    assert e2.madds > 0 and e2.params > 0
    assert arch_cost(dead_end) == base == counted(dead_end)
    assert arch_cost(no_source) == base
    assert arch_cost(both) == base + e2 == counted(both)


def test_edge_from_unreachable_source_not_counted():
    # like `dead`, but the edge out of node 2 is a costly mbconv
    nodes = [graphnas.Node(i, 0, 8, 1) for i in range(4)]
    edges = [graphnas.ChoiceEdge(0, 1, "stem", ("mbconv_k3_e1",)),
             graphnas.ChoiceEdge(1, 3, "stem", ("mbconv_k3_e1",)),
             graphnas.ChoiceEdge(0, 2, "branch", ("none", "identity")),
             graphnas.ChoiceEdge(2, 3, "branch", ("none", "mbconv_k5_e6"))]
    space = graphnas.SearchSpace("dead2", nodes, edges, input_shape=(1, 8, 8), num_classes=3,
                                 stem=graphnas.Stem(8))
    base = arch_cost(space.arch([0, 0, 0, 0]))
    unreachable_src = space.arch([0, 0, 0, 1])  # the mbconv on 2->3 never runs
    assert arch_cost(unreachable_src) == base == counted(unreachable_src)
    live = space.arch([0, 0, 1, 1])
    assert arch_cost(live) == base + edge_cost(space, 3, "mbconv_k5_e6") == counted(live)


def test_deep_dead_chains_not_counted(chain):
    base = arch_cost(chain.arch([0, 0, 0, 0, 0]))
    side = edge_cost(chain, 2, "mbconv_k3_e1") + edge_cost(chain, 3, "mbconv_k3_e1")
    for choices in ([0, 0, 1, 1, 0], [0, 0, 0, 1, 1], [0, 0, 1, 0, 1]):
        arch = chain.arch(choices)
        assert arch_cost(arch) == base == counted(arch), choices
    full = chain.arch([0, 0, 1, 1, 1])
    assert arch_cost(full) == base + side == counted(full)


def test_unreachable_output_costs_stem_and_head(unreach):
    arch = unreach.arch([0, 0, 0])
    assert arch_cost(arch) == stem_cost(unreach) + head_cost(unreach) == counted(arch)
    full = unreach.arch([0, 1, 1])
    assert arch_cost(full) == counted(full)
    assert arch_cost(full) == (stem_cost(unreach) + head_cost(unreach) + edge_cost(unreach, 0, "mbconv_k3_e1")
                               + edge_cost(unreach, 1, "mbconv_k3_e1") + edge_cost(unreach, 2, "mbconv_k3_e1"))


def test_cost_tables_are_kept_with_their_space_not_copied_by_replace():
    from dataclasses import replace

    from graphnas.cost.terms import TermTable

    space = graphnas.get_space("nb201", resolution=16, channels=8, cells_per_stage=1)
    arch_cost(space.sample(0))
    table = space.derived("cost_table", lambda: 1 / 0)  # built once already: not built again
    assert isinstance(table, TermTable) and table.fields == ("madds", "params", "bitops")
    other = replace(space, name="nb201-copy")
    assert other.derived("cost_table", lambda: "fresh") == "fresh"
