"""Operators: every registered op builds and runs; the registry refuses bad names and unfit shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import graphnas
from graphnas import OpError, arch_cost, count_module, get_op, op_names, register_op
from graphnas.nets import compile
from graphnas.cost import Cost, conv_cost
from graphnas.cost.model import op_cost
from graphnas.ops import NONE, mbconv_name, registry
from graphnas.ops.registry import check_op_fits

SHAPES = [(8, 8, 1), (16, 16, 1), (8, 16, 1), (8, 8, 2), (8, 16, 2), (16, 16, 4), (8, 16, 4)]


@pytest.fixture
def scratch_registry(monkeypatch):
    """A private copy of the operator registry for tests that register ops (op_cost caches by OpSpec)."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield registry._REGISTRY


def test_builtin_names():
    names = op_names()
    assert names == sorted(names)
    assert {"identity", "avg_pool_3x3", "max_pool_3x3"} <= set(names)
    family = {mbconv_name(k, e, se) for k in (3, 5, 7) for e in (1, 3, 4, 6) for se in (False, True)}
    assert len(family) == 24 and family <= set(names)
    core = [n for n in names if get_op(n).factory.__module__ in ("graphnas.ops.basic", "graphnas.ops.mbconv")]
    assert len(core) == 27  # the families spaces import add more (shuffle_*, nor_conv_*, ...)
    assert NONE not in names
    assert mbconv_name(3, 6, se=True) == "mbconv_k3_e6_se" and mbconv_name(7, 1) == "mbconv_k7_e1"


@pytest.mark.parametrize("op", op_names())
def test_every_op_builds_and_runs(op):
    spec = get_op(op)
    assert spec.name == op and spec.description
    ran = 0
    for c_in, c_out, stride in SHAPES:
        if not spec.fits(c_in, c_out, stride):
            with pytest.raises(OpError):
                check_op_fits(op, c_in, c_out, stride)
            continue
        module = spec.factory(c_in, c_out, stride)
        assert isinstance(module, nn.Module)
        for res in (8, 9):
            x = torch.randn(2, c_in, res, res, requires_grad=True)
            module.train()
            y = module(x)
            size = -(-res // stride)
            assert y.shape == (2, c_out, size, size), (c_in, c_out, stride, res)
            assert torch.isfinite(y).all()
            y.square().mean().backward()
            assert x.grad is not None and x.grad.shape == x.shape
            for p in module.parameters():
                assert p.grad is not None
        module.eval()
        with torch.no_grad():
            assert module(torch.randn(1, c_in, 8, 8)).shape == (1, c_out, -(-8 // stride), -(-8 // stride))
        ran += 1
    assert ran >= 2


def test_fit_rules():
    assert get_op("identity").fits(8, 8, 1)
    assert not get_op("identity").fits(8, 8, 2)
    assert not get_op("identity").fits(8, 16, 1)
    for pool in ("avg_pool_3x3", "max_pool_3x3"):
        assert get_op(pool).fits(8, 8, 2) and get_op(pool).fits(8, 8, 4)
        assert not get_op(pool).fits(8, 16, 1)
    assert all(get_op(op).fits(8, 24, s) for op in op_names() if op.startswith("mbconv") for s in (1, 2, 4))


def test_pool_and_identity_behaviour():
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(get_op("identity").factory(4, 4, 1)(x), x)
    pooled = get_op("max_pool_3x3").factory(4, 4, 2)(x)
    assert pooled.shape == (1, 4, 3, 3)
    assert torch.equal(pooled[0, :, 0, 0], x[0, :, :2, :2].amax((1, 2)))
    avg = get_op("avg_pool_3x3").factory(4, 4, 1)(x)
    assert torch.allclose(avg[0, :, 0, 0], x[0, :, :2, :2].mean((1, 2)))  # padding excluded from the average


def test_check_op_fits_errors():
    with pytest.raises(OpError, match=r"operator 'identity' cannot map 8 channels at stride 2 to 8 channels "
                                      r"\(it keeps channels and resolution\)"):
        check_op_fits("identity", 8, 8, 2)
    with pytest.raises(OpError, match=r"'identity' cannot map 8 channels at stride 1 to 16"):
        check_op_fits("identity", 8, 16, 1)
    with pytest.raises(OpError, match=r"'avg_pool_3x3' cannot map 8 channels at stride 2 to 16 channels "
                                      r"\(it keeps channels\)"):
        check_op_fits("avg_pool_3x3", 8, 16, 2)
    with pytest.raises(OpError, match="unknown operator 'conv_9x9'"):
        check_op_fits("conv_9x9", 8, 8, 1)
    check_op_fits("identity", 8, 8, 1)
    check_op_fits("max_pool_3x3", 8, 8, 4)
    check_op_fits(NONE, 8, 32, 4)  # 'none' always fits


def test_get_op_unknown_lists_names():
    with pytest.raises(OpError) as info:
        get_op("conv_9x9")
    message = str(info.value)
    assert "unknown operator 'conv_9x9'" in message
    assert "registered operators: avg_pool_3x3, " in message
    assert all(name in message for name in op_names())
    assert isinstance(info.value, graphnas.GraphnasError)


def test_register_duplicate_name(scratch_registry):
    with pytest.raises(OpError, match="operator 'identity' is already registered; pass overwrite=True"):
        register_op("identity")(lambda c_in, c_out, stride: nn.Identity())
    with pytest.raises(OpError, match="'mbconv_k3_e3' is already registered"):
        register_op("mbconv_k3_e3")(lambda c_in, c_out, stride: nn.Identity())
    assert isinstance(get_op("mbconv_k3_e3").factory(8, 8, 1), graphnas.ops.LinearBottleneck)  # unchanged


def test_register_none_is_refused(scratch_registry):
    with pytest.raises(OpError, match="'none' is reserved"):
        register_op(NONE)
    assert NONE not in op_names()


def test_register_new_op_works_everywhere(scratch_registry):
    @register_op("conv_3x3_test", cost=lambda c_in, c_out, stride, res: conv_cost(c_in, c_out, 3, stride, res))
    def conv3x3(c_in, c_out, stride):
        """plain 3x3 convolution"""
        return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)

    @register_op("conv_1x1_nocost")
    def conv1x1(c_in, c_out, stride):
        return nn.Conv2d(c_in, c_out, 1, stride, 0, bias=True)

    assert "conv_3x3_test" in op_names() and "conv_1x1_nocost" in op_names()
    assert get_op("conv_3x3_test").description == "plain 3x3 convolution"
    nodes = [graphnas.Node(0, 0, 8, 1), graphnas.Node(1, 1, 16, 2), graphnas.Node(2, 1, 16, 2)]
    edges = [graphnas.ChoiceEdge(0, 1, "stem", ("conv_3x3_test", "conv_1x1_nocost")),
             graphnas.ChoiceEdge(1, 2, "stem", ("conv_1x1_nocost", "identity"))]
    space = graphnas.SearchSpace("custom", nodes, edges, input_shape=(1, 8, 8), num_classes=3,
                                 stem=graphnas.Stem(8))
    for arch in space.enumerate():
        net = compile(arch)
        assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)
        assert arch_cost(arch) == count_module(net, (1, 8, 8))
    # the op without a closed form is costed by counting one instance
    assert op_cost("conv_1x1_nocost", 16, 16, 1, 4) == Cost(madds=16 * 16 * 16, params=16 * 16 + 16)

    register_op("conv_3x3_test", overwrite=True)(lambda c_in, c_out, stride: nn.Conv2d(c_in, c_out, 1, stride))
    assert get_op("conv_3x3_test").factory(8, 8, 1).kernel_size == (1, 1)


def test_factory_returning_a_non_module(scratch_registry):
    register_op("not_a_module")(lambda c_in, c_out, stride: (lambda x: x))
    nodes = [graphnas.Node(0, 0, 8, 1), graphnas.Node(1, 0, 8, 1)]
    space = graphnas.SearchSpace("bad_factory", nodes, [graphnas.ChoiceEdge(0, 1, "stem", ("not_a_module",))],
                                 input_shape=(1, 8, 8), num_classes=3, stem=graphnas.Stem(8))
    with pytest.raises(OpError, match="'not_a_module' factory returned function, not an nn.Module"):
        compile(space.arch([0]))


def test_unknown_op_in_a_space_is_an_op_error():
    nodes = [graphnas.Node(0, 0, 8, 1), graphnas.Node(1, 0, 8, 1)]
    with pytest.raises(OpError, match="unknown operator 'conv_9x9'"):
        graphnas.SearchSpace("unknown_op", nodes, [graphnas.ChoiceEdge(0, 1, "stem", ("conv_9x9",))],
                             input_shape=(1, 8, 8), stem=graphnas.Stem(8))


def test_stem_and_head_blocks():
    from graphnas.ops.stemhead import HeadBlock, StemBlock

    stem = StemBlock(3, 32, 16, 2).eval()
    assert stem.conv.conv.stride == (2, 2) and stem.depthwise.conv.groups == 32
    assert stem.project.conv.out_channels == 16
    assert stem(torch.randn(2, 3, 9, 9)).shape == (2, 16, 5, 5)
    plain = StemBlock(1, 8, 8, 1)
    assert plain.depthwise is None and plain.project is None
    assert plain(torch.randn(2, 1, 8, 8)).shape == (2, 8, 8, 8)

    head = HeadBlock(16, None, 5).eval()
    assert head.conv is None and head.dropout is None
    x = torch.randn(3, 16, 4, 4)
    with torch.no_grad():
        assert torch.allclose(head(x), head.classifier(x.mean((2, 3))), atol=1e-6)  # global average pool
    wide = HeadBlock(16, 32, 5, dropout=0.2).eval()
    assert wide.conv.conv.out_channels == 32 and wide.classifier.in_features == 32
    with torch.no_grad():
        assert torch.allclose(wide(x), wide.classifier(wide.conv(x).mean((2, 3))), atol=1e-6)
