"""SPOS's ShuffleNetV2 block space and its four choice blocks (shuffle_3/5/7/x)."""

from __future__ import annotations

import pytest
import torch

import graphnas
from graphnas import OpError, SpaceError, Supernet, arch_cost, count_module, get_op
from graphnas.ops.shufflenet import SHUFFLE_OPS, ShuffleUnit, channel_shuffle

OPS = tuple(SHUFFLE_OPS)
CPU = dict(resolution=32, width=0.25, num_classes=10)
#: ShuffleNetV2 1.0x (Ma et al. 2018) as this space's scale; every block shuffle_3.
REFERENCE = dict(stage_channels=(116, 232, 464), stage_blocks=(4, 8, 4), stem_channels=24)


@pytest.fixture(scope="module")
def paper():
    return graphnas.get_space("spos_shufflenet")


@pytest.fixture(scope="module")
def small():
    return graphnas.get_space("spos_shufflenet", **CPU)


# ---------------------------------------------------------------------- structure
def test_space_shape(paper):
    assert paper.name == "spos_shufflenet"
    assert paper.size == 4 ** 20
    assert paper.num_edges == 20 and len(paper.nodes) == 21
    assert all(e.kind == "stem" and e.candidates == OPS and e.dst == e.src + 1 for e in paper.edges)
    assert paper.stem == graphnas.Stem(16, 2, pool=False) and paper.head == graphnas.Head(1024)
    assert paper.nodes[0].channels == 16 and paper.nodes[0].resolution == 112
    stages = [[n for n in paper.nodes if n.stage == s] for s in range(1, 5)]
    assert [len(s) for s in stages] == [4, 4, 8, 4]
    assert [{(n.channels, n.reduction, n.resolution) for n in s} for s in stages] == [
        {(64, 4, 56)}, {(160, 8, 28)}, {(320, 16, 14)}, {(640, 32, 7)}]
    strides = [paper.stride(i) for i in range(20)]
    assert [i for i, s in enumerate(strides) if s == 2] == [0, 4, 8, 16]
    assert set(strides) == {1, 2}


def test_width_scaling(small):
    assert [n.channels for n in small.nodes if n.stage == 0] == [8]  # 16 * 0.25 -> make_divisible -> 8
    assert sorted({n.channels for n in small.nodes[1:]}) == [16, 40, 80, 160]
    assert small.head.channels == 1024  # the head does not scale
    assert small.nodes[-1].resolution == 1 and small.input_shape == (3, 32, 32)


def test_reference_layout():
    ref = graphnas.get_space("spos_shufflenet", **REFERENCE)
    assert ref.stem == graphnas.Stem(24, 2, pool=True)
    assert [n.channels for n in ref.nodes] == [24] + [116] * 4 + [232] * 8 + [464] * 4
    assert [n.resolution for n in ref.nodes] == [56] + [28] * 4 + [14] * 8 + [7] * 4
    assert ref.size == 4 ** 16


# ---------------------------------------------------------------------- operators
def test_channel_shuffle_interleaves_halves():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("c_in, c_out, stride", [(8, 8, 1), (16, 16, 1), (40, 40, 1), (8, 16, 2), (16, 40, 2),
                                                 (24, 116, 2), (116, 232, 2)])
def test_op_builds_runs_and_costs_exactly(op, c_in, c_out, stride):
    spec = get_op(op)
    module = spec.factory(c_in, c_out, stride)
    assert isinstance(module, ShuffleUnit)
    for res in (7, 8):
        y = module(torch.randn(2, c_in, res, res))
        r = -(-res // stride)
        assert y.shape == (2, c_out, r, r)
        assert spec.cost(c_in, c_out, stride, res) == count_module(module, (c_in, res, res)), res


@pytest.mark.parametrize("op", OPS)
def test_stride_one_passes_half_untouched(op):
    module = get_op(op).factory(16, 16, 1).eval()
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        y = module(x)
    assert torch.equal(y[:, 0::2], x[:, :8])  # the shuffle puts the kept half on the even channels
    assert (y[:, 1::2] >= 0).all()  # the main branch ends in ReLU


def test_kernel_and_branch_layout():
    k7 = get_op("shuffle_7").factory(16, 40, 2)
    convs = [m for m in k7.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.groups) for c in convs] == [
        (16, 16, 7, 2, 16), (16, 16, 1, 1, 1),  # projection branch
        (16, 20, 1, 1, 1), (20, 20, 7, 2, 20), (20, 24, 1, 1, 1)]  # main branch, mid = 40 // 2
    x = get_op("shuffle_x").factory(16, 16, 1)
    convs = [m for m in x.modules() if isinstance(m, torch.nn.Conv2d)]
    assert x.proj is None
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.groups) for c in convs] == [
        (8, 8, 3, 8), (8, 8, 1, 1), (8, 8, 3, 8), (8, 8, 1, 1), (8, 8, 3, 8), (8, 8, 1, 1)]


@pytest.mark.parametrize("c_in, c_out, stride, match", [
    (8, 16, 1, "stride 1 keeps the width"), (7, 7, 1, "even width"), (16, 16, 2, "c_out > c_in"),
    (16, 8, 2, "c_out > c_in"), (8, 15, 2, "even c_out"), (8, 16, 4, "stride 1 or 2")])
def test_invalid_shapes_raise(c_in, c_out, stride, match):
    for op in OPS:
        with pytest.raises(OpError, match=match):
            get_op(op).factory(c_in, c_out, stride)
        with pytest.raises(OpError, match=match):
            get_op(op).cost(c_in, c_out, stride, 8)


# ---------------------------------------------------------------------- architectures
def test_random_archs_compile_run_and_cost_exactly(small):
    for seed in range(4):
        arch = small.sample(seed)
        net = graphnas.nets.compile(arch).eval()
        with torch.no_grad():
            assert net(torch.randn(2, *small.input_shape)).shape == (2, 10)
        assert arch_cost(arch) == count_module(net, small.input_shape), seed
    for op in OPS:  # every block of every stage, each op at least once at stride 1 and 2
        arch = small.from_ops([op] * 20)
        assert arch_cost(arch) == count_module(graphnas.nets.compile(arch), small.input_shape), op


@pytest.mark.parametrize("train", [False, True])
def test_supernet_extract_matches(small, train):
    sn = Supernet(small)
    sn.train()
    with torch.no_grad():  # non-trivial BN statistics
        for seed in range(2):
            sn(torch.randn(4, *small.input_shape), small.sample(100 + seed))
    sn.train(train)
    arch = small.sample(7)
    net = sn.extract(arch)
    x = torch.randn(4, *small.input_shape)
    with torch.no_grad():
        y_net, y_sn = net(x), sn(x, arch)
    assert y_net.shape == (4, 10)
    assert torch.allclose(y_net, y_sn, atol=1e-5), (y_net - y_sn).abs().max()


def test_shufflenet_v2_reference_madds():
    ref = graphnas.get_space("spos_shufflenet", **REFERENCE)
    cost = arch_cost(ref.from_ops(["shuffle_3"] * 16))
    assert abs(cost.madds - 146e6) / 146e6 < 0.02, cost
    assert cost == graphnas.Cost(145_814_296, 2_279_760)  # ShuffleNetV2 1.0x: 146M FLOPs, 2.3M parameters


def test_paper_scale_cost_range(paper):
    costs = {op: arch_cost(paper.from_ops([op] * 20)).madds for op in OPS}
    assert costs == {"shuffle_3": 295_842_496, "shuffle_5": 313_654_976, "shuffle_7": 340_373_696,
                     "shuffle_x": 358_825_920}
    low, high = graphnas.cost.extreme_archs(paper)
    assert (arch_cost(low).madds, arch_cost(high).madds) == (270_359_360, 398_609_216)


# ---------------------------------------------------------------------- scale arguments
@pytest.mark.parametrize("scale, match", [
    (dict(resolution=16), "resolution 16 is too small"),
    (dict(resolution=31), "resolution >= 32"),
    (dict(stage_channels=(64, 160, 320)), "one entry per stage"),
    (dict(stage_channels=(), stage_blocks=()), "one entry per stage"),
    (dict(width=0), "width must be > 0"),
    (dict(width=-0.5), "width must be > 0"),
    (dict(stage_blocks=(4, 0, 8, 4)), "at least one block"),
    (dict(stage_channels=(64, 64, 320, 640)), "must widen"),
    (dict(stem_channels=64), "must widen"),
    (dict(stage_channels=(64, 160, 321, 640)), "even"),
    (dict(num_classes=1), "num_classes"),
])
def test_bad_scale_raises(scale, match):
    with pytest.raises(SpaceError, match=match):
        graphnas.get_space("spos_shufflenet", **scale)


def test_fits_predicate_agrees_with_the_factory():
    from graphnas.ops.shufflenet import shuffle_fits

    for c_in, c_out, stride in [(8, 8, 1), (8, 16, 1), (7, 7, 1), (8, 16, 2), (16, 16, 2), (8, 15, 2), (8, 16, 4)]:
        try:
            get_op("shuffle_3").factory(c_in, c_out, stride)
            built = True
        except OpError:
            built = False
        assert shuffle_fits(c_in, c_out, stride) == built, (c_in, c_out, stride)
