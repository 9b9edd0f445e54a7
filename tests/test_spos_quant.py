"""SPOS mixed-precision search: fake quantisers, quantised ResNet blocks, BitOps, and the spos_quant space."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import graphnas
from graphnas import OpError, SpaceError, Supernet, arch_cost, count_module, get_op
from graphnas.nets.compile import edge_key
from graphnas.cost import Cost
from graphnas.estimate.score import recalibrate_bn
from graphnas.ops.quant import PACT, QConv2d, quantize_activations, quantize_weights
from graphnas.ops.resnet_quant import ALL_BITS, BIT_CHOICES, QuantBasicBlock, quant_op_name
from graphnas.ops.slim import SlicedBatchNorm2d
from graphnas.nets.supernet import SharedOp
from spaces.spos_quant import resnet

CPU = dict(resolution=32, width=0.25, num_classes=10)


@pytest.fixture(scope="module")
def small():
    return graphnas.get_space("spos_quant", **CPU)


def warm_up(sn, space, steps=3):
    sn.train()
    with torch.no_grad():
        for s in range(steps):
            sn(torch.randn(8, *space.input_shape) * 2 + 0.5, space.sample(100 + s))


# ---------------------------------------------------------------------- quantisers
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_weight_quantiser_levels_and_ste(bits):
    w = torch.randn(6, 5, 3, 3, requires_grad=True)
    q = quantize_weights(w, bits)
    for row, orig in zip(q.detach(), w.detach()):
        values = row.unique()
        assert len(values) <= 2 ** bits
        if bits == 1:
            assert torch.allclose(values.abs(), orig.abs().mean().expand(len(values)))
        else:
            assert values.abs().max() <= orig.abs().max() + 1e-6
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight-through
    assert quantize_weights(w, 32) is w


def test_two_bit_weights_are_four_symmetric_levels():
    w = torch.linspace(-1, 1, 41).view(1, 41, 1, 1)
    q = quantize_weights(w, 2).detach().flatten()
    assert sorted(set(q.tolist())) == pytest.approx([-1, -1 / 3, 1 / 3, 1])


@pytest.mark.parametrize("bits", [2, 4])
def test_activation_quantiser_levels_and_gradients(bits):
    pact = PACT(alpha=2.0)
    x = (torch.randn(4, 3, 5, 5) * 2).requires_grad_()
    y = pact(x, bits)
    for c in range(3):
        assert len(y[:, c].unique()) <= 2 ** bits
    assert y.min() >= 0 and y.max() <= 2.0
    steps = y.detach() / (2.0 / (2 ** bits - 1))
    assert torch.allclose(steps, steps.round(), atol=1e-5)
    y.sum().backward()
    inside = (x.detach() > 0) & (x.detach() < 2.0)
    assert torch.equal(x.grad, inside.float())  # STE inside the clipping range, zero outside
    assert pact.alpha.grad.item() == (x.detach() > 2.0).sum().item()  # PACT's gradient for alpha


def test_bad_bit_widths_are_op_errors():
    with pytest.raises(OpError, match="weight bit width must be an int from 1 to 16, or 32"):
        quantize_weights(torch.randn(2, 2, 1, 1), 0)
    with pytest.raises(OpError, match="activation bit width"):
        quantize_activations(torch.randn(3), torch.tensor(1.0), 33)
    fp = QConv2d(4, 4, 3, w_bits=32, a_bits=32)
    with pytest.raises(OpError, match="has no quantiser to run 2 bits"):
        fp(torch.randn(1, 4, 5, 5), bits=(2, 2))


# ---------------------------------------------------------------------- blocks and costs
@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("c_in, c_out, stride", [(8, 8, 1), (8, 16, 2), (16, 16, 1), (16, 8, 1)])
def test_block_cost_and_bitops_are_exact(bits, c_in, c_out, stride):
    for tenths in (5, 10, 15):
        op = quant_op_name(*bits, tenths)
        module = get_op(op).factory(c_in, c_out, stride)
        for res in (7, 8):
            analytic = get_op(op).cost(c_in, c_out, stride, res)
            assert analytic == count_module(module, (c_in, res, res)), op
            assert analytic.bitops == analytic.madds * bits[0] * bits[1]


def test_block_layout():
    block = get_op("resq_w2a4_c1.5").factory(16, 32, 2)
    assert isinstance(block, QuantBasicBlock) and block.bits == (2, 4) and block.mid == 48
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in block.modules()
             if isinstance(m, nn.Conv2d)]
    assert convs == [(16, 48, 3, 2), (48, 32, 3, 1), (16, 32, 1, 2)]
    assert all(isinstance(m, QConv2d) and m.act_quant is not None for m in block.modules() if isinstance(m, nn.Conv2d))
    plain = get_op("resq_w32a32_c1.0").factory(8, 8, 1)
    assert plain.shortcut is None and not any(isinstance(m, PACT) for m in plain.modules())


def test_resnet_reference_madds():
    r18, r34 = arch_cost(resnet(18)), arch_cost(resnet(34))
    assert abs(r18.madds - 1.82e9) <= 0.02 * 1.82e9 and abs(r34.madds - 3.6e9) <= 0.02 * 3.6e9
    assert (r18.madds, r18.params) == (1_814_073_344, 11_689_512)  # torchvision: 1.814G MACs, 11,689,512 params
    assert (r34.madds, r34.params) == (3_663_761_408, 21_797_672)  # torchvision: 3.664G MACs, 21,797,672 params
    body = r18.madds - 118_013_952 - 512_000  # minus the 7x7 stem conv and the classifier (full precision)
    assert r18.bitops == body * 32 * 32
    space = graphnas.get_space("spos_quant")
    four = arch_cost(space.from_ops(["resq_w4a4_c1.0"] * 8))
    assert four.madds == r18.madds and four.bitops == body * 16 == 27_128_758_272


def test_resnet18_at_224_counts_what_the_model_says():
    arch = resnet(18)
    net = graphnas.nets.compile(arch)
    assert isinstance(net.stem.conv.conv, nn.Conv2d) and net.stem.conv.conv.kernel_size == (7, 7)
    assert net.stem.pool is not None and arch.space.nodes[-1].resolution == 7
    assert count_module(net, (3, 224, 224)) == arch_cost(arch)


# ---------------------------------------------------------------------- the space
def test_sizes_and_candidates():
    r18, r34 = graphnas.get_space("spos_quant"), graphnas.get_space("spos_quant", depth=34)
    assert r18.size == 18 ** 8 == 11_019_960_576 and r34.size == 18 ** 16 == 121_439_531_096_594_251_776
    assert r18.num_edges == 8 and r34.num_edges == 16
    assert r18.edges[0].candidates[:4] == ("resq_w1a2_c0.5", "resq_w1a2_c1.0", "resq_w1a2_c1.5", "resq_w2a2_c0.5")
    assert {tuple(map(int, op[6:].split("_")[0].split("a"))) for op in r18.edges[0].candidates} == set(BIT_CHOICES)
    fp = graphnas.get_space("spos_quant", full_precision=True)
    assert fp.size == 21 ** 8 and "resq_w32a32_c1.0" in fp.edges[3].candidates
    assert graphnas.get_space("spos_quant", bits="1/2,4/4", ratios="0.5").size == 2 ** 8
    assert [n.channels for n in r18.nodes] == [64] * 3 + [128] * 2 + [256] * 2 + [512] * 2
    assert [r18.stride(i) for i in range(8)] == [1, 1, 2, 1, 2, 1, 2, 1]
    assert r18.stem == graphnas.Stem(64, 2, pool=True, kernel=7) and r18.head == graphnas.Head(None)


def test_cpu_scale(small):
    assert small.stem == graphnas.Stem(16, 1) and small.nodes[-1].resolution == 4
    assert small.fingerprint == graphnas.get_space("spos_quant").fingerprint
    for seed in range(3):
        arch = small.sample(seed)
        net = graphnas.nets.compile(arch)
        x = torch.randn(2, *small.input_shape, requires_grad=True)
        y = net(x)
        assert y.shape == (2, 10)
        y.square().mean().backward()
        assert x.grad is not None and all(p.grad is not None for p in net.parameters())
        counted = count_module(net, small.input_shape)
        assert counted == arch_cost(arch) and counted.bitops > 0


@pytest.mark.parametrize("scale, match", [
    (dict(bits=[(3, 3)]), "spos_quant: bits 3/3 is not offered; choose \\(weight, activation\\) bits from 1/2, 2/2"),
    (dict(bits="1/2,8/8"), "bits 8/8 is not offered"),
    (dict(bits="two"), "is not a list of W/A pairs"),
    (dict(ratios=(0.5, 0.7)), "spos_quant: bottleneck ratio 0.7 is not offered; choose ratios from 0.5, 1.0, 1.5"),
    (dict(ratios="2.0"), "ratio 2.0 is not offered"),
    (dict(ratios=(0.5, 0.5)), "distinct"),
    (dict(depth=50), "depth=50 is not offered; use 18"),
    (dict(stem="huge"), "stem='huge' is not offered"),
    (dict(resolution=16), "resolution 16 is too small for the imagenet stem"),
    (dict(resolution=4), "resolution 4 is too small for the small stem"),
    (dict(width=0), "width must be a number > 0"),
])
def test_bad_input_is_one_clear_line(scale, match):
    if scale.get("resolution") == 16:
        scale["stem"] = "imagenet"
    with pytest.raises(SpaceError, match=match) as info:
        graphnas.get_space("spos_quant", **scale)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- the supernet
def test_one_shared_block_per_edge(small):
    sn = Supernet(small)
    for k in range(small.num_edges):
        edge = sn.body[0].edges[edge_key(k)]
        assert list(edge.keys()) == ["resq_block"]
        block = edge["resq_block"]
        assert block.mid == small.nodes[k + 1].channels * 3 // 2 and block.bits == (1, 2)
    arch = small.sample(0)
    assert all(isinstance(m, SharedOp) for name, m in sn.path_modules(arch).items() if ".edges." in name)
    params = list(sn.named_parameters(remove_duplicate=False))
    assert len({id(p) for _, p in params}) == len(params)


@pytest.mark.parametrize("train", [False, True])
def test_extract_equals_supernet(small, train):
    sn = Supernet(small)
    warm_up(sn, small)
    sn.train(train)
    x = torch.randn(4, *small.input_shape)
    archs = [small.sample(s) for s in range(3)] + [small.from_ops(["resq_w1a2_c0.5"] * 8),
                                                    small.from_ops(["resq_w4a4_c1.5"] * 8)]
    for arch in archs:
        net = sn.extract(arch)
        with torch.no_grad():
            y_net, y_sn = net(x), sn(x, arch)
        assert torch.allclose(y_net, y_sn, atol=1e-5), (arch.ops, (y_net - y_sn).abs().max())
        assert count_module(sn, small.input_shape, arch) == arch_cost(arch) == count_module(net, small.input_shape)


def test_full_precision_candidate_in_the_supernet():
    space = graphnas.get_space("spos_quant", full_precision=True, **CPU)
    sn = Supernet(space).eval()
    arch = space.from_ops(["resq_w32a32_c1.0", "resq_w1a2_c0.5"] * 4)
    net = sn.extract(arch)
    assert not any(isinstance(m, PACT) for m in net.body[0].edges[edge_key(0)].modules())
    x = torch.randn(3, *space.input_shape)
    with torch.no_grad():
        assert torch.allclose(net(x), sn(x, arch), atol=1e-5)


def test_gradients_reach_only_the_used_slice(small):
    sn = Supernet(small)
    arch = small.from_ops(["resq_w2a2_c0.5"] * 8)
    sn(torch.randn(4, *small.input_shape), arch).square().mean().backward()
    for k in range(8):
        block = sn.body[0].edges[edge_key(k)]["resq_block"]
        mid = block.c_out // 2
        g1, g2 = block.conv1.weight.grad, block.conv2.weight.grad
        assert g1[:mid].abs().sum() > 0 and g1[mid:].abs().sum() == 0
        assert g2[:, :mid].abs().sum() > 0 and g2[:, mid:].abs().sum() == 0
        assert block.bn1.weight.grad[mid:].abs().sum() == 0
        assert block.conv1.act_quant.alpha.grad is not None


def test_recalibration_on_sliced_quantised_paths(small):
    sn = Supernet(small)
    warm_up(sn, small)
    x = torch.randn(64, *small.input_shape)
    data = TensorDataset(x, torch.zeros(64, dtype=torch.long))
    for ops in (["resq_w1a2_c0.5"] * 8, ["resq_w4a4_c1.0", "resq_w2a4_c0.5"] * 4):
        arch = small.from_ops(ops)
        recalibrate_bn(sn, data, arch, num_samples=64, batch_size=64)
        net = sn.extract(arch)
        for bn in net.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.fill_(3.0)
        recalibrate_bn(net, data, num_samples=64, batch_size=64)  # its own, unsliced layers
        sn.eval()
        net.eval()
        with torch.no_grad():
            assert torch.allclose(sn(x, arch), net(x), atol=1e-4), ops
    sliced = [m for m in sn.modules() if isinstance(m, SlicedBatchNorm2d)]
    assert len(sliced) == 8


def test_cost_type_keeps_old_behaviour():
    assert Cost(10, 2) + Cost(5, 1) == Cost(15, 3) and repr(Cost(15, 3)) == "Cost(madds=15, params=3)"
    assert Cost(1, 1, bitops=4) + Cost(2, 2, bitops=8) == Cost(3, 3, 12)
    assert sum([Cost(1, 1, 1), Cost(1, 1, 1)]) == Cost(2, 2, 2)
