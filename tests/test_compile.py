"""compile: stride/width adaptation, summing of inputs, dead edges and unreachable outputs."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn

import graphnas
from graphnas import Network, OpError
from graphnas.nets import compile
from graphnas.nets.compile import build_op, edge_key, plan_of
from graphnas.ops import LinearBottleneck


def reference_forward(net: Network, x: torch.Tensor) -> torch.Tensor:
    """Run ``net`` edge by edge from its DAG: a node's value is the sum of its present, computed inputs."""
    arch, space = net.arch, net.space
    g, out_node = arch.graph, space.output_node
    values = {0: net.stem(x)}
    for node in range(1, len(space.nodes)):
        if not nx.has_path(g, node, out_node):
            continue
        for i, e in enumerate(space.edges):
            if e.dst == node and arch.ops[i] != "none" and e.src in values:
                y = net.body[0].edges[edge_key(i)](values[e.src])
                values[node] = values[node] + y if node in values else y
    last = space.nodes[-1]
    body = values.get(out_node, torch.zeros(x.shape[0], last.channels, last.resolution, last.resolution))
    return net.head(body)


def record_edge_shapes(net: Network):
    shapes = {}
    for key, module in net.body[0].edges.items():
        module.register_forward_hook(lambda m, i, o, key=key: shapes.__setitem__(key, tuple(o.shape)))
    return shapes


@pytest.mark.parametrize("resolution, stem_stride", [(32, 1), (64, 1), (64, 2), (44, 2)])
def test_output_and_edge_shapes(resolution, stem_stride):
    space = graphnas.get_space("st_nas", resolution=resolution, width=0.25, num_classes=10, in_channels=1,
                               stem_stride=stem_stride, head_channels=None)
    assert [n.resolution for n in space.nodes] == [-(-resolution // n.reduction) for n in space.nodes]
    for seed in range(8):
        arch = space.sample(seed)
        net = compile(arch).eval()
        assert set(net.body[0].edges.keys()) == {edge_key(i) for i in arch.live_edges}
        shapes = record_edge_shapes(net)
        x = torch.randn(2, 1, resolution, resolution)
        with torch.no_grad():
            out = net(x)
            stem_out = net.stem(x)
        n0 = space.nodes[0]
        assert tuple(stem_out.shape) == (2, n0.channels, n0.resolution, n0.resolution)
        assert out.shape == (2, 10)
        assert set(shapes) == {edge_key(i) for i in arch.live_edges}
        for i in arch.live_edges:
            dst = space.nodes[space.edges[i].dst]
            assert shapes[edge_key(i)] == (2, dst.channels, dst.resolution, dst.resolution), (i, space.edges[i])


def test_network_matches_reference_executor(st_small, tiny):
    for space in (st_small, tiny):
        for seed in range(6):
            net = compile(space.sample(seed)).eval()
            x = torch.randn(3, *space.input_shape)
            with torch.no_grad():
                assert torch.allclose(net(x), reference_forward(net, x), atol=1e-5)


def test_stride_four_across_two_stage_boundaries(st_small):
    i = st_small.edge_index(1, 4)
    e = st_small.edges[i]
    assert e.kind == "branch"
    assert (st_small.nodes[1].stage, st_small.nodes[4].stage) == (0, 2)
    assert st_small.stride(i) == 4
    assert [j for j in range(st_small.num_edges) if st_small.stride(j) == 4] == [i]
    assert "identity" not in e.candidates
    choices = list(st_small.sample(0).choices)
    choices[i] = e.candidates.index("mbconv_k5_e4_se")
    arch = st_small.arch(choices)
    assert arch.graph.edges[1, 4]["stride"] == 4
    net = compile(arch).eval()
    module = net.body[0].edges[edge_key(i)]
    assert isinstance(module, LinearBottleneck)
    assert module.depthwise.conv.stride == (4, 4)
    assert module.depthwise.conv.kernel_size == (5, 5)
    assert module.expand.conv.in_channels == 8 and module.expand.conv.out_channels == 32
    assert module.project.conv.out_channels == 16
    assert module.se is not None
    shapes = record_edge_shapes(net)
    with torch.no_grad():
        net(torch.randn(2, 1, 32, 32))
    assert shapes[edge_key(i)] == (2, 16, 8, 8)


def test_width_and_stride_adaptation_on_tiny(tiny):
    e1 = build_op(tiny, 1, "mbconv_k5_e3")  # 1->2: 8 -> 16 channels, stride 2
    assert e1.depthwise.conv.stride == (2, 2) and e1.project.conv.out_channels == 16
    e6 = build_op(tiny, 6, "avg_pool_3x3")  # 2->4: 16 channels, stride 2
    assert isinstance(e6, nn.AvgPool2d) and e6.stride == 2
    assert build_op(tiny, 6, "avg_pool_3x3")(torch.randn(1, 16, 4, 4)).shape == (1, 16, 2, 2)
    e3 = build_op(tiny, 3, "identity")
    assert isinstance(e3, nn.Identity)
    with pytest.raises(OpError, match="'identity' cannot map 8 channels at stride 2 to 16"):
        build_op(tiny, 1, "identity")


def test_summing_several_inputs(tiny):
    arch = tiny.arch([0, 0, 1, 1, 1, 0, 2])  # node 2 <- {0, 1}, node 3 <- {1, 2}, node 4 <- {2, 3}
    net = compile(arch).eval()
    e = net.body[0].edges
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        v0 = net.stem(x)
        v1 = e["e0"](v0)
        v2 = e["e1"](v1) + e["e2"](v0)
        v3 = e["e3"](v2) + e["e4"](v1)
        v4 = e["e5"](v3) + e["e6"](v2)
        expected = net.head(v4)
        out = net(x)
        # dropping one input of node 4 changes the result: it really is a sum
        only_stem = net.head(e["e5"](v3))
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(out, only_stem, atol=1e-4)


def test_three_inputs_summed(st_small):
    # node 5 takes 4->5 (stem), 3->5 and 2->5 (branch, both present here)
    choices = list(st_small.sample(1).choices)
    for s in (2, 3):
        i = st_small.edge_index(s, 5)
        choices[i] = 1  # first real operator
    arch = st_small.arch(choices)
    assert len(list(arch.graph.predecessors(5))) == 3
    net = compile(arch).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x), reference_forward(net, x), atol=1e-5)


def test_identity_branch_is_summed(dead):
    # node 3 = e1(node 1) + identity(node 2) where node 2 = e2(node 0)
    arch = dead.arch([0, 0, 1, 1])
    net = compile(arch).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        v0 = net.stem(x)
        v3 = net.body[0].edges["e1"](net.body[0].edges["e0"](v0)) + net.body[0].edges["e2"](v0)
        assert torch.allclose(net(x), net.head(v3), atol=1e-6)


def test_dead_side_chains_do_not_change_the_output(chain):
    net = compile(chain.arch([0, 0, 1, 1, 1])).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        v0 = net.stem(x)
        main = net.body[0].edges["e1"](net.body[0].edges["e0"](v0))
        side = net.body[0].edges["e3"](net.body[0].edges["e2"](v0))  # e4 is identity
        assert torch.allclose(net(x), net.head(main + side), atol=1e-6)
        for choices in ([0, 0, 1, 1, 0], [0, 0, 0, 1, 1]):
            dead_net = compile(chain.arch(choices)).eval()
            dead_net.load_state_dict({k: v for k, v in net.state_dict().items()
                                      if k.startswith(("stem.", "head.", "body.0.edges.e0.", "body.0.edges.e1."))})
            assert torch.allclose(dead_net(x), net.head(main), atol=1e-6)
            assert torch.allclose(dead_net(x), reference_forward(dead_net, x), atol=1e-6)


def test_unreachable_output_still_gives_logits(unreach):
    arch = unreach.arch([0, 0, 0])
    assert arch.ops == ("mbconv_k3_e1", "none", "none")
    net = compile(arch).eval()
    assert len(net.body[0].edges) == 0
    assert plan_of(arch) == ()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        out = net(x)
        head_of_zeros = net.head(torch.zeros(3, 16, 4, 4))
    assert out.shape == (3, 4)
    assert torch.allclose(out, head_of_zeros)
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])


def test_network_train_step_gives_grad_to_every_parameter(dead, st_small):
    for arch in (dead.arch([0, 0, 1, 0]), dead.arch([0, 0, 0, 1]), st_small.sample(2)):
        net = compile(arch).train()
        x = torch.randn(2, *arch.space.input_shape)
        net(x).sum().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None, name  # no dead module was built


def test_compile_returns_network(tiny):
    arch = tiny.sample(0)
    net = compile(arch)
    assert isinstance(net, Network) and net.arch is arch and net.space is tiny
    assert net.plan == tuple((i, tiny.edges[i].src, tiny.edges[i].dst) for i in arch.live_edges)
    assert arch.hash in repr(net)
