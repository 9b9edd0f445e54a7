"""SPOS channel search: the shared-weight family mechanism, sliced layers, and the spos_channels space."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import graphnas
from graphnas import OpError, SpaceError, Supernet, arch_cost, count_module, get_op
from graphnas.nets.compile import edge_key
from graphnas.estimate.score import recalibrate_bn
from graphnas.ops import registry
from graphnas.ops.shuffle_channels import CHANNEL_TENTHS, SlimShuffleUnit, channel_op_name
from graphnas.ops.slim import SlicedBatchNorm2d, SlicedConv2d, scaled_width
from graphnas.nets.supernet import SharedOp
from spaces.spos_channels import BLOCKS, channel_ops

CPU = dict(resolution=32, width=0.25, num_classes=10, head_channels=None)


@pytest.fixture(scope="module")
def small():
    return graphnas.get_space("spos_channels", **CPU)


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))


def mixed_space():
    """Family and plain candidates on the same edges (8 ch -> 8 ch -> 16 ch at stride 2)."""
    nodes = [graphnas.Node(0, 0, 8, 1), graphnas.Node(1, 0, 8, 1), graphnas.Node(2, 1, 16, 2)]
    edges = [graphnas.ChoiceEdge(0, 1, "stem", ("identity", "shuffle_3_c0.4", "mbconv_k3_e3", "shuffle_3_c1.6",
                                                "shuffle_5_c0.2")),
             graphnas.ChoiceEdge(1, 2, "stem", ("shuffle_x_c0.6", "mbconv_k3_e1", "shuffle_x_c1.2"))]
    return graphnas.SearchSpace("mixed", nodes, edges, input_shape=(1, 8, 8), num_classes=3, stem=graphnas.Stem(8))


def warm_up(sn, space, steps=3):
    sn.train()
    with torch.no_grad():
        for s in range(steps):
            sn(torch.randn(8, *space.input_shape) * 2 + 0.5, space.sample(100 + s))


# ---------------------------------------------------------------------- the space
def test_sizes_and_names():
    joint = graphnas.get_space("spos_channels")
    assert joint.size == 32 ** 20 == 1267650600228229401496703205376
    assert all(len(e.candidates) == 32 for e in joint.edges) and joint.num_edges == 20
    assert joint.edges[0].candidates[:3] == ("shuffle_3_c0.2", "shuffle_3_c0.4", "shuffle_3_c0.6")
    assert joint.edges[0].candidates[-1] == "shuffle_x_c1.6"
    only = graphnas.get_space("spos_channels", block="shuffle_5")
    assert only.size == 8 ** 20 and only.edges[3].candidates == tuple(f"shuffle_5_c{r}" for r in
                                                                      ("0.2", "0.4", "0.6", "0.8", "1.0", "1.2",
                                                                       "1.4", "1.6"))
    assert only.fingerprint != joint.fingerprint
    base = graphnas.get_space("spos_shufflenet")
    assert [(n.channels, n.reduction) for n in joint.nodes] == [(n.channels, n.reduction) for n in base.nodes]
    assert (joint.stem, joint.head) == (base.stem, base.head)
    assert set(channel_ops()) == {channel_op_name(b, t) for b in BLOCKS for t in CHANNEL_TENTHS}


def test_width_rounding():
    assert [scaled_width(32, t) for t in CHANNEL_TENTHS] == [6, 13, 19, 26, 32, 38, 45, 51]
    assert [scaled_width(4, t) for t in CHANNEL_TENTHS] == [1, 2, 2, 3, 4, 5, 6, 6]
    unit = get_op("shuffle_7_c0.6").factory(16, 40, 2)
    convs = [m for m in unit.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.groups) for c in convs] == [
        (16, 16, 7, 16), (16, 16, 1, 1), (16, 12, 1, 1), (12, 12, 7, 12), (12, 24, 1, 1)]  # mid = 20 * 0.6


def test_c1_0_is_the_fixed_block():
    joint = graphnas.get_space("spos_channels")
    base = graphnas.get_space("spos_shufflenet")
    for b in BLOCKS:
        assert arch_cost(joint.from_ops([f"{b}_c1.0"] * 20)) == arch_cost(base.from_ops([b] * 20))
    assert arch_cost(joint.from_ops(["shuffle_3_c1.6"] * 20)).madds == 440_775_872
    assert arch_cost(joint.from_ops(["shuffle_x_c1.6"] * 20)).madds == 625_824_960


@pytest.mark.parametrize("op", ["shuffle_3_c0.2", "shuffle_5_c0.8", "shuffle_7_c1.4", "shuffle_x_c1.6"])
@pytest.mark.parametrize("c_in, c_out, stride", [(8, 8, 1), (40, 40, 1), (16, 40, 2), (24, 116, 2)])
def test_op_cost_is_exact(op, c_in, c_out, stride):
    module = get_op(op).factory(c_in, c_out, stride)
    for res in (7, 8):
        assert get_op(op).cost(c_in, c_out, stride, res) == count_module(module, (c_in, res, res))


def test_random_archs_compile_run_and_cost_exactly(small):
    for seed in range(3):
        arch = small.sample(seed)
        net = graphnas.nets.compile(arch)
        assert net(torch.randn(2, *small.input_shape)).shape == (2, 10)
        assert arch_cost(arch) == count_module(net, small.input_shape)


@pytest.mark.parametrize("scale, match", [
    (dict(block="shuffle_9"), "block='shuffle_9' is not a block type; use one of shuffle_3"),
    (dict(width=0), "spos_channels: width must be > 0"),
    (dict(resolution=16), "spos_channels: resolution 16 is too small"),
])
def test_bad_scale_is_one_line(scale, match):
    with pytest.raises(SpaceError, match=match) as info:
        graphnas.get_space("spos_channels", **scale)
    assert "\n" not in str(info.value)


def test_op_outside_the_set_is_refused(small):
    with pytest.raises(graphnas.ArchitectureError, match="'shuffle_3_c0.3' is not a candidate"):
        small.from_ops(["shuffle_3_c0.3"] * 20)
    with pytest.raises(OpError, match="unknown operator 'shuffle_3_c1.8'"):
        get_op("shuffle_3_c1.8")


# ---------------------------------------------------------------------- the shared-weight mechanism
def test_one_module_per_family_at_the_widest_config():
    space = mixed_space()
    sn = Supernet(space)
    e0, e1 = sn.body[0].edges[edge_key(0)], sn.body[0].edges[edge_key(1)]
    assert list(e0.keys()) == ["identity", "shuffle_3_channels", "mbconv_k3_e3", "shuffle_5_channels"]
    assert list(e1.keys()) == ["shuffle_x_channels", "mbconv_k3_e1"]
    assert e0["shuffle_3_channels"].mid == scaled_width(4, 16) == 6  # 1.6x of 8 // 2
    assert e0["shuffle_5_channels"].mid == 1 and e1["shuffle_x_channels"].mid == scaled_width(8, 12) == 10
    arch = space.from_ops(["shuffle_3_c0.4", "shuffle_x_c0.6"])
    path = sn.path_modules(arch)
    view = path[f"body.0.edges.{edge_key(0)}"]
    assert isinstance(view, SharedOp) and view.shared is e0["shuffle_3_channels"] and view.config.tenths == 4
    assert sn.candidate(sn.body[0].edges, 0, "shuffle_3_c0.4") is view  # views are cached
    # state dict: one entry per shared tensor, none for the views
    assert not any("_c0." in k or "_c1." in k for k in sn.state_dict())
    shared = {id(p) for p in e0["shuffle_3_channels"].parameters()}
    assert shared <= {id(p) for p in sn.path_parameters(arch)}
    assert len(sn.path_parameters(arch)) == len({id(p) for p in sn.path_parameters(arch)})


@pytest.mark.parametrize("train", [False, True])
def test_extract_equals_supernet_on_every_mixed_arch(train):
    space = mixed_space()
    sn = Supernet(space)
    warm_up(sn, space)
    sn.train(train)
    x = torch.randn(6, *space.input_shape)
    for arch in space.enumerate():
        net = sn.extract(arch)
        for i in arch.live_edges:
            standalone = net.body[0].edges[edge_key(i)]
            assert type(standalone) is type(get_op(arch.ops[i]).factory(*space.edge_shape(i)[:3]))
        with torch.no_grad():
            assert torch.allclose(net(x), sn(x, arch), atol=1e-5), arch.ops


@pytest.mark.parametrize("train", [False, True])
def test_extract_equals_supernet_in_the_space(small, train):
    sn = Supernet(small)
    warm_up(sn, small)
    sn.train(train)
    x = torch.randn(4, *small.input_shape)
    for seed in range(3):
        arch = small.sample(seed)
        net = sn.extract(arch)
        assert net.training == train
        with torch.no_grad():
            y_net, y_sn = net(x), sn(x, arch)
        assert torch.allclose(y_net, y_sn, atol=1e-5), (y_net - y_sn).abs().max()
        # the extracted weights are smaller copies, not views of the shared ones
        assert sum(p.numel() for p in net.parameters()) == arch_cost(arch).params
        assert count_module(sn, small.input_shape, arch) == arch_cost(arch)  # the path counts its slices


def test_gradients_reach_only_the_used_slice():
    space = mixed_space()
    sn = Supernet(space)
    arch = space.from_ops(["shuffle_3_c0.4", "shuffle_x_c0.6"])
    sn(torch.randn(4, *space.input_shape), arch).square().mean().backward()
    e0, e1 = sn.body[0].edges[edge_key(0)], sn.body[0].edges[edge_key(1)]
    for name in ("identity", "mbconv_k3_e3", "shuffle_5_channels"):  # not chosen: no gradient at all
        assert all(p.grad is None for p in e0[name].parameters())
    assert all(p.grad is None for p in e1["mbconv_k3_e1"].parameters())
    for unit, mid in ((e0["shuffle_3_channels"], 2), (e1["shuffle_x_channels"], 5)):  # 0.4 * 4, 0.6 * 8
        checked = 0
        for layer in unit.main:
            g, bn = layer.conv.weight.grad, layer.bn
            rows = mid if layer.conv.out_channels == unit.mid else layer.conv.out_channels
            c_in = layer.conv.in_channels
            cols = 1 if layer.conv.depthwise else (mid if c_in == unit.mid else c_in)
            assert g[:rows, :cols].abs().sum() > 0
            assert g[rows:].abs().sum() == 0 and g[:, cols:].abs().sum() == 0
            assert bn.weight.grad[rows:].abs().sum() == 0 and bn.weight.grad[:rows].abs().sum() > 0
            checked += rows < layer.conv.out_channels or cols < layer.conv.in_channels
        assert checked >= 2


def test_sliced_bn_running_stats_and_cumulative_momentum():
    bn = SlicedBatchNorm2d(6, momentum=None)
    before = bn.running_mean.clone()
    xs = [torch.randn(8, 4, 3, 3) * 2 + 1 for _ in range(2)]
    for x in xs:
        bn(x)
    means = torch.stack([x.mean((0, 2, 3)) for x in xs]).mean(0)
    variances = torch.stack([x.var((0, 2, 3)) for x in xs]).mean(0)
    assert torch.allclose(bn.running_mean[:4], means, atol=1e-6)
    assert torch.allclose(bn.running_var[:4], variances, atol=1e-5)
    assert torch.equal(bn.running_mean[4:], before[4:]) and bn.num_batches_tracked.item() == 2
    bn.eval()
    x = torch.randn(2, 4, 3, 3)
    expected = (x - means.view(1, 4, 1, 1)) / (variances.view(1, 4, 1, 1) + bn.eps).sqrt()
    assert torch.allclose(bn(x), expected, atol=1e-5)
    conv = SlicedConv2d(6, 6, 3, depthwise=True)
    assert conv(torch.randn(1, 4, 5, 5)).shape == (1, 4, 5, 5)
    with pytest.raises(OpError, match="holds 6 -> 6 channels and cannot run 7 -> 7"):
        conv(torch.randn(1, 7, 5, 5))


def test_recalibration_on_a_sliced_path(small):
    sn = Supernet(small)
    warm_up(sn, small)
    arch = small.from_ops(["shuffle_7_c0.4"] * 10 + ["shuffle_x_c0.6"] * 10)
    x = torch.randn(64, *small.input_shape)
    path_bns = [m for mod in sn.path_modules(arch).values() for m in mod.modules() if isinstance(m, nn.BatchNorm2d)]
    sliced = [m for m in path_bns if isinstance(m, SlicedBatchNorm2d)]
    inputs = {}
    hooks = [bn.register_forward_pre_hook(lambda mod, args: inputs.__setitem__(mod, args[0].detach().clone()))
             for bn in sliced]
    try:
        recalibrate_bn(sn, TensorDataset(x, torch.zeros(64, dtype=torch.long)), arch, num_samples=64, batch_size=64)
    finally:
        for h in hooks:
            h.remove()
    narrow = [bn for bn in sliced if inputs[bn].shape[1] < bn.num_features]
    assert len(narrow) >= 20
    for bn in sliced:
        c = inputs[bn].shape[1]
        assert torch.allclose(bn.running_mean[:c], inputs[bn].mean((0, 2, 3)), atol=1e-5)
        assert torch.allclose(bn.running_var[:c], inputs[bn].var((0, 2, 3)), atol=1e-4, rtol=1e-4)
        assert bn.momentum == 0.1  # restored
    # the standalone network, recalibrated on its own (unsliced) layers, gets the same statistics
    net = sn.extract(arch)
    assert isinstance(net.body[0].edges[edge_key(0)], SlimShuffleUnit)
    for bn in net.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.fill_(5.0)  # forget the copied statistics
    recalibrate_bn(net, TensorDataset(x, torch.zeros(64, dtype=torch.long)), num_samples=64, batch_size=64)
    sn.eval()
    net.eval()
    with torch.no_grad():
        assert torch.allclose(sn(x, arch), net(x), atol=1e-4)


def test_recalibrated_eval_matches_train_mode_on_the_batch():
    """A shallow space, so the unbiased (eval) vs biased (train) batch variance barely matters."""
    space = mixed_space()
    sn = Supernet(space)
    warm_up(sn, space)
    x = torch.randn(256, *space.input_shape)
    for ops in (["shuffle_3_c0.4", "shuffle_x_c0.6"], ["shuffle_5_c0.2", "shuffle_x_c1.2"]):
        arch = space.from_ops(ops)
        recalibrate_bn(sn, TensorDataset(x, torch.zeros(256, dtype=torch.long)), arch, num_samples=256,
                       batch_size=256)
        with torch.no_grad():
            y_eval = sn.eval()(x, arch)
            y_train = sn.train()(x, arch)
        assert torch.allclose(y_eval, y_train, atol=1e-2 * y_train.abs().max().item()), (y_eval - y_train).abs().max()


def test_family_registration_rules(scratch_registry):
    with pytest.raises(OpError, match="operator family 'shuffle_3_channels' is already registered"):
        registry.register_family("shuffle_3_channels")(lambda *a: None)
    with pytest.raises(OpError, match="'shuffle_3' is already an operator name"):
        registry.register_family("shuffle_3")(lambda *a: None)
    with pytest.raises(OpError, match="must be a non-empty module name without '.'"):
        registry.register_family("a.b")
    with pytest.raises(OpError, match="unknown operator family 'nope'; registered families: "):
        registry.register_op("x_op", family="nope", config=1)
    with pytest.raises(OpError, match="config \\[1\\] is not hashable"):
        registry.register_op("x_op", family="shuffle_3_channels", config=[1])
    with pytest.raises(OpError, match="'resq_block' is the name of an operator family"):
        registry.register_op("resq_block")
    assert get_op("shuffle_3_c0.6").family == "shuffle_3_channels" and get_op("identity").family is None


def test_a_custom_family_works_everywhere(scratch_registry):
    """A user family: conv widths 4/8/16 sharing one sliced conv; supernet, extract and cost all follow."""

    class Conv(nn.Module):
        def __init__(self, c_in, c_out, stride, width):
            super().__init__()
            self.a = SlicedConv2d(c_in, width, 3, stride)
            self.b = SlicedConv2d(width, c_out, 1)

        def forward(self, x, config=None):
            return self.b(torch.relu(self.a(x, config)))

    registry.register_family("my_convs")(lambda c_in, c_out, stride, configs: Conv(c_in, c_out, stride, max(configs)))
    for w in (4, 8, 16):
        registry.register_op(f"my_conv_{w}", family="my_convs", config=w)(
            lambda c_in, c_out, stride, _w=w: Conv(c_in, c_out, stride, _w))
    nodes = [graphnas.Node(0, 0, 8, 1), graphnas.Node(1, 1, 16, 2)]
    space = graphnas.SearchSpace("custom_family", nodes, [graphnas.ChoiceEdge(0, 1, "stem", (
        "my_conv_4", "my_conv_8", "identity", "my_conv_16"))], input_shape=(1, 8, 8), num_classes=3,
        stem=graphnas.Stem(8), drop_unfit=True)
    sn = Supernet(space)
    assert sn.body[0].edges[edge_key(0)]["my_convs"].a.out_channels == 16
    x = torch.randn(2, 1, 8, 8)
    for w in (4, 8, 16):
        arch = space.from_ops([f"my_conv_{w}"])
        net = sn.extract(arch)
        assert net.body[0].edges[edge_key(0)].a.weight.shape == (w, 8, 3, 3)
        with torch.no_grad():
            assert torch.allclose(net(x), sn(x, arch), atol=1e-6)
        assert count_module(net, (1, 8, 8)) == count_module(sn, (1, 8, 8), arch)
