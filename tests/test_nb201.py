"""NAS-Bench-201: the space, its string form, compile/supernet, and its costs against the benchmark's own.

Ground truth is ``../shared/data/nasbench201_cifar10.csv`` (one row per cell, ``hp_x0..hp_x5`` = the
six edges in the benchmark's order, ``metric_flops`` in MFLOPs, ``metric_params`` in millions; the
figures are stored as float32). The comparison (at 32 px, C = 16, 10 classes):

* 15,475 of the 15,625 rows agree exactly: params equal graphnas's count; FLOPs equal graphnas's
  MAdds + 10 (float32-rounded), i.e. max relative error 1.3e-6, max absolute 20 (10 + float32
  rounding of the stored MFLOPs). The constant 10 is the classifier's bias: the benchmark's counter
  adds one FLOP per output of a Linear with bias (64 x 10 + 10), graphnas counts multiply-adds only.
  Neither counts batch norm, pooling or additions (an all-``avg_pool_3x3`` cell costs what an
  all-``none`` one does: 7.78305 MFLOPs in the benchmark).
* 150 rows carry the cost of a different network: exactly one ``nor_conv_3x3`` edge (x15 cells:
  35,389,440 MAdds, 243,040 params) or one ``nor_conv_1x1`` edge (3,932,160; 28,000) more or fewer
  than the row's own operators, in FLOPs and params alike. Every one of them equals the cost of
  another cell that is the same function up to ``skip_connect`` (e.g. ``conv~0`` then ``skip~1`` vs a
  second conv reading node 0), i.e. the 200-epoch record was made from an isomorphic cell with
  another number of conv edges. This is a known defect of the benchmark's 200-epoch cost records
  (NATS-Bench issue #36, "get_cost_info(hp='200') returns weird value": for
  ``|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|`` the
  12-epoch record says 0.802426 M params, graphnas's count, the 200-epoch seeds disagree), not of
  graphnas: the test pins the count and the explanation of every such row.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import graphnas
from graphnas import ArchitectureError, SpaceError, Supernet, arch_cost, count_module
from graphnas.nets import compile
from graphnas.nets.compile import CellBody
from graphnas.cost.model import op_cost
from graphnas.ops import get_op
from graphnas.ops.nb201 import ReLUConvBN, ResBlock
from spaces.nb201 import EDGES, OPS, from_nb201_string, make_space, to_nb201_string

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nasbench201_cifar10.csv"
CONV3_EDGE = (35_389_440, 243_040)  # one nor_conv_3x3 edge in all 15 cells (C = 16, 32 px): MAdds, params
CONV1_EDGE = (3_932_160, 28_000)    # one nor_conv_1x1 edge


@pytest.fixture(scope="module")
def space():
    return make_space()


@pytest.fixture(scope="module")
def small():
    return make_space(resolution=8, channels=4, cells_per_stage=2)


# ---------------------------------------------------------------------- structure
def test_space_shape(space):
    assert space.name == "nb201" and space.size == 5 ** 6 == 15_625
    assert [e.key for e in space.edges] == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)] == list(EDGES)
    assert all(e.kind == "branch" and e.candidates == OPS for e in space.edges)
    assert OPS[0] == "none" and space.prune_dead is False
    kinds = [type(b).__name__ for b in space.body]
    assert kinds == ["Cell"] * 5 + ["Fixed"] + ["Cell"] * 5 + ["Fixed"] + ["Cell"] * 5
    assert [out for _, _, out in space.blocks] == [(16, 1)] * 5 + [(32, 2)] * 6 + [(64, 4)] * 6
    assert space.out_shape == (64, 8) and space.stem == graphnas.Stem(16, 1) and space.head.bn
    assert graphnas.get_space("nb201", resolution=16).scale["resolution"] == 16


def test_enumerate_distinct(space):
    archs = list(space.enumerate())
    assert len(archs) == 15_625
    assert len({a.choices for a in archs}) == len({a.hash for a in archs}) == 15_625


@pytest.mark.parametrize("scale, word", [
    (dict(resolution=3), "resolution=3"), (dict(channels=0), "channels=0"),
    (dict(cells_per_stage=0), "cells_per_stage=0"), (dict(num_classes=1), "num_classes=1"),
    (dict(in_channels=0), "in_channels=0")])
def test_bad_scale(scale, word):
    with pytest.raises(SpaceError, match=word):
        make_space(**scale)


def test_dead_edges_run_and_cost(space):
    # 1<-0 none: node 1 reads as zeros, yet 2<-1 and 3<-1 still run and cost, as in the benchmark.
    arch = space.from_ops(["none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "none"])
    assert arch.live_edges == (1, 2, 3, 4)
    base = arch_cost(space.from_ops(["none"] * 6))
    assert arch_cost(arch).madds - base.madds == CONV3_EDGE[0] + CONV1_EDGE[0]


# ---------------------------------------------------------------------- string form
def test_string_form(space):
    arch = space.from_ops(["skip_connect", "none", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_3x3"])
    text = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert to_nb201_string(arch) == text
    assert from_nb201_string(space, text) == arch
    # the benchmark's 12-epoch record of this cell (NATS-Bench issue #36): 0.802426 M params
    assert arch_cost(arch).params == 802_426
    # inputs in another order and surrounding blanks are accepted
    shuffled = "  |skip_connect~0|+|nor_conv_3x3~1|none~0|+|nor_conv_3x3~2|avg_pool_3x3~0|nor_conv_3x3~1| "
    assert from_nb201_string(space, shuffled) == arch


def test_string_round_trip_all(space):
    seen = set()
    for arch in space.enumerate():
        text = to_nb201_string(arch)
        assert from_nb201_string(space, text) == arch
        seen.add(text)
    assert len(seen) == 15_625


@pytest.mark.parametrize("text, match", [
    ("|none~0|+|none~0|none~1|", "2 node group"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "4 node group"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "start and end with '\\|'"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "'none0' is not 'op~input'"),
    ("|none~x|+|none~0|none~1|+|none~0|none~1|none~2|", "'none~x' is not 'op~input'"),
    ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "node 2 reads input 2"),
    ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "node 2 lists input 0 twice"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 does not list input\\(s\\) 1"),
    ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operator 'conv_3x3' on edge 1<-0"),
    ("||+|none~0|none~1|+|none~0|none~1|none~2|", "'' is not 'op~input'"),
    ("", "1 node group"),
])
def test_bad_strings(space, text, match):
    with pytest.raises(ArchitectureError, match=match):
        from_nb201_string(space, text)


def test_string_needs_nb201_space(small):
    with pytest.raises(ArchitectureError, match="str like"):
        from_nb201_string(small, None)
    tiny = graphnas.SearchSpace("other", [graphnas.Node(i, 0, 8, 1) for i in range(3)],
                                [graphnas.ChoiceEdge(0, 1, "stem", ("identity",)),
                                 graphnas.ChoiceEdge(1, 2, "stem", ("identity",))],
                                input_shape=(1, 8, 8), stem=graphnas.Stem(8))
    with pytest.raises(ArchitectureError, match="not a NAS-Bench-201 cell space"):
        to_nb201_string(tiny.arch([0, 0]))


def test_subspace_string(space):
    sub = space.subspace(allowed={i: ["none", "nor_conv_3x3"] for i in range(6)})
    arch = sub.from_ops(["nor_conv_3x3", "none"] * 3)
    assert from_nb201_string(sub, to_nb201_string(arch)) == arch
    with pytest.raises(ArchitectureError, match="unknown operator 'skip_connect' on edge 2<-0.*none, nor_conv_3x3"):
        from_nb201_string(sub, "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|")


# ---------------------------------------------------------------------- operators
@pytest.mark.parametrize("c_in, c_out, stride, res", [(4, 8, 2, 8), (4, 8, 2, 9), (8, 8, 1, 5), (4, 8, 1, 6),
                                                     (4, 8, 4, 9)])
def test_resblock(c_in, c_out, stride, res):
    block = get_op("nb201_resblock").factory(c_in, c_out, stride)
    assert isinstance(block, ResBlock)
    out = -(-res // stride)
    assert block(torch.randn(2, c_in, res, res)).shape == (2, c_out, out, out)
    assert op_cost("nb201_resblock", c_in, c_out, stride, res) == count_module(block, (c_in, res, res))
    if stride == 2 and res % 2 == 0:  # the benchmark's block, layer for layer
        assert [type(m).__name__ for m in block.shortcut] == ["AvgPool2d", "Conv2d"]
        block.eval()
        x = torch.randn(2, c_in, res, res)
        ref = block.conv_b(block.conv_a(x)) + block.shortcut[1](nn.functional.avg_pool2d(x, 2, 2))
        assert torch.allclose(block(x), ref)


@pytest.mark.parametrize("op, kernel", [("nor_conv_1x1", 1), ("nor_conv_3x3", 3)])
@pytest.mark.parametrize("c_in, c_out, stride, res", [(8, 8, 1, 8), (4, 8, 2, 9)])
def test_relu_conv_bn(op, kernel, c_in, c_out, stride, res):
    module = get_op(op).factory(c_in, c_out, stride)
    assert isinstance(module, ReLUConvBN) and module.conv.kernel_size == (kernel, kernel) and module.conv.bias is None
    assert op_cost(op, c_in, c_out, stride, res) == count_module(module, (c_in, res, res))
    x = torch.randn(2, c_in, res, res)
    x0 = x.clone()
    module(x)
    assert torch.equal(x, x0)  # the ReLU is not in place: other edges read the same node
    assert get_op("skip_connect").fits(8, 8, 1) and not get_op("skip_connect").fits(8, 8, 2)
    assert not get_op("skip_connect").fits(8, 16, 1)


# ---------------------------------------------------------------------- compile and supernet
@pytest.mark.parametrize("resolution", [8, 10, 16])
def test_compile_forward(resolution):
    space = make_space(resolution=resolution, channels=4, cells_per_stage=2)
    for seed in range(3):
        net = compile(space.sample(seed))
        assert sum(isinstance(b, CellBody) for b in net.body) == 6
        assert sum(isinstance(b, ResBlock) for b in net.body) == 2
        assert net(torch.randn(3, *space.input_shape)).shape == (3, 10)
    full = compile(make_space(resolution=resolution).from_ops(["nor_conv_3x3"] * 6))
    assert full(torch.randn(2, 3, resolution, resolution)).shape == (2, 10)


def test_supernet_extract(small):
    sn = Supernet(small)
    sn.train()
    with torch.no_grad():  # non-trivial BN running statistics
        for seed in range(3):
            sn(torch.randn(4, *small.input_shape) * 2 + 0.5, small.sample(100 + seed))
    sn.eval()
    for arch in (small.from_ops(["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none",
                                 "nor_conv_3x3"]), small.sample(7)):
        net = sn.extract(arch)
        x = torch.randn(4, *small.input_shape)
        with torch.no_grad():
            y_net, y_sn = net(x), sn(x, arch)
        assert y_net.shape == (4, 10)
        assert torch.allclose(y_net, y_sn, atol=1e-5), (y_net - y_sn).abs().max()


# ---------------------------------------------------------------------- cost
@pytest.mark.parametrize("ops", [["none"] * 6, ["nor_conv_3x3"] * 6, ["skip_connect"] * 6, ["avg_pool_3x3"] * 6,
                                 ["nor_conv_1x1", "none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none"],
                                 ["none", "nor_conv_3x3", "none", "none", "nor_conv_1x1", "nor_conv_3x3"]])
def test_cost_matches_counter(space, ops):
    arch = space.from_ops(ops)
    assert arch_cost(arch) == count_module(compile(arch), space.input_shape)


def test_cost_extremes(space):
    assert arch_cost(space.from_ops(["none"] * 6)) == graphnas.Cost(7_783_040, 73_306)
    assert arch_cost(space.from_ops(["nor_conv_3x3"] * 6)) == graphnas.Cost(220_119_680, 1_531_546)
    small = make_space(resolution=8, channels=4, cells_per_stage=2)
    arch = small.sample(3)
    assert arch_cost(arch) == count_module(compile(arch), small.input_shape)


# ---------------------------------------------------------------------- ground truth
def _skip_canonical(ops) -> str:
    """The cell's function up to skip_connect (NAS-Bench-201's unique string, zeros kept)."""
    chosen, nodes = dict(zip(EDGES, ops)), {0: "0"}
    for dst in (1, 2, 3):
        terms = [nodes[src] if chosen[(src, dst)] == "skip_connect" else f"({nodes[src]})@{chosen[(src, dst)]}"
                 for src in range(dst)]
        nodes[dst] = "+".join(sorted(terms))
    return nodes[3]


@pytest.fixture(scope="module")
def table(space):
    if not DATA.is_file():
        pytest.skip(f"NAS-Bench-201 ground truth not found at {DATA} (the shared data folder is absent)")
    with DATA.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    ops = [tuple(r[f"hp_x{i}"] for i in range(6)) for r in rows]
    archs = [space.from_ops(o) for o in ops]
    costs = [arch_cost(a) for a in archs]
    return dict(ops=ops, archs=archs, madds=np.array([c.madds for c in costs], dtype=np.int64),
                params=np.array([c.params for c in costs], dtype=np.int64),
                flops=np.array([float(r["metric_flops"]) for r in rows]),
                mparams=np.array([float(r["metric_params"]) for r in rows]))


def test_ground_truth_covers_space(table):
    assert len(table["archs"]) == 15_625
    assert len({a.hash for a in table["archs"]}) == 15_625


def test_ground_truth_costs(table):
    madds, params = table["madds"], table["params"]
    flops, mparams = table["flops"] * 1e6, table["mparams"] * 1e6
    d_flops, d_params = flops - madds, np.rint(mparams).astype(np.int64) - params
    ok = np.abs(d_flops) < 1_000

    # 15,475 rows: params exact; FLOPs = MAdds + 10 (classifier bias), as stored (float32).
    assert ok.sum() == 15_475
    assert (d_params[ok] == 0).all()
    assert (np.float32(table["mparams"][ok]) == np.float32(params[ok] / 1e6)).all()
    assert (np.float32(table["flops"][ok]) == np.float32((madds[ok] + 10) / 1e6)).all()
    rel = np.abs(d_flops[ok]) / flops[ok]
    assert np.abs(d_flops[ok]).max() <= 20 and rel.max() < 1.3e-6  # 10 + float32 rounding
    assert (np.abs(d_flops[ok] - 10) / flops[ok]).max() < 1e-7

    # 150 rows: the benchmark's figures are those of a skip-equivalent cell with one conv edge more or fewer.
    bad = np.flatnonzero(~ok)
    assert len(bad) == 150
    for k in bad:
        step = [s for s in (CONV3_EDGE, CONV1_EDGE)
                if abs(abs(d_flops[k] - 10) - s[0]) <= 20 and abs(d_params[k]) == s[1]]
        assert step and np.sign(d_flops[k]) == np.sign(d_params[k]), (table["ops"][k], d_flops[k], d_params[k])
    classes = defaultdict(list)
    for k, ops in enumerate(table["ops"]):
        classes[_skip_canonical(ops)].append(k)
    for k in bad:
        mates = [m for m in classes[_skip_canonical(table["ops"][k])] if m != k]
        assert any(params[m] == round(mparams[k]) and np.float32(table["flops"][k]) == np.float32((madds[m] + 10) / 1e6)
                   for m in mates), table["ops"][k]
    # over all rows the error is that of these 150: up to 82% (FLOPs) and 77% (params)
    assert (np.abs(d_flops) / flops).max() < 0.83 and (np.abs(d_params) / mparams).max() < 0.77
