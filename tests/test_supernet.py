"""Supernet: one module per candidate, exact extraction, path-only gradients, weight sharing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graphnas import ArchitectureError, Supernet
from graphnas.nets import compile
from graphnas.nets.compile import edge_key
from graphnas.cost import edge_cost, head_cost, stem_cost
from graphnas.ops import LinearBottleneck


@pytest.fixture(scope="module")
def sn_small(st_small):
    return Supernet(st_small)


def warm_up_bn(sn: Supernet, space, steps: int = 4) -> None:
    """Give every BN non-trivial running statistics (train-mode forwards on random archs)."""
    sn.train()
    with torch.no_grad():
        for s in range(steps):
            for arch in (space.sample(100 + s), space.sample(200 + s)):
                sn(torch.randn(4, *space.input_shape) * 2 + 0.5, arch)


# ---------------------------------------------------------------------- allocation
@pytest.mark.parametrize("which", ["tiny", "st_small", "dead"])
def test_one_module_per_real_candidate(which, request):
    space = request.getfixturevalue(which)
    sn = Supernet(space)
    assert set(sn.body[0].edges.keys()) == {edge_key(i) for i in range(space.num_edges)}
    modules = []
    for i, e in enumerate(space.edges):
        ops = sn.body[0].edges[edge_key(i)]
        assert list(ops.keys()) == [op for op in e.candidates if op != "none"]
        for op, module in ops.items():
            modules.append(module)
            if op == "identity":
                assert isinstance(module, nn.Identity)
            elif op.startswith("mbconv"):
                assert isinstance(module, LinearBottleneck)
                assert module.depthwise.conv.stride == (space.stride(i),) * 2
                assert module.project.conv.out_channels == space.nodes[e.dst].channels
    assert len(modules) == sum(len([c for c in e.candidates if c != "none"]) for e in space.edges)
    assert len({id(m) for m in modules if not isinstance(m, (nn.Identity, nn.AvgPool2d))}) == \
        len([m for m in modules if not isinstance(m, (nn.Identity, nn.AvgPool2d))])
    params = list(sn.named_parameters(remove_duplicate=False))
    assert len({id(p) for _, p in params}) == len(params)  # nothing shared between candidates
    expected = stem_cost(space).params + head_cost(space).params + sum(
        edge_cost(space, i, op).params for i, e in enumerate(space.edges) for op in e.candidates if op != "none")
    assert sum(p.numel() for _, p in params) == expected


# ---------------------------------------------------------------------- extraction
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("which", ["tiny", "st_small"])
def test_extract_matches_supernet(which, train, request):
    space = request.getfixturevalue(which)
    sn = Supernet(space)
    warm_up_bn(sn, space)
    sn.train(train)
    for seed in range(5):
        arch = space.sample(seed)
        net = sn.extract(arch)
        assert net.training == train
        assert set(net.body[0].edges.keys()) == {edge_key(i) for i in arch.live_edges}
        x = torch.randn(4, *space.input_shape)
        with torch.no_grad():
            y_net = net(x)
            y_sn = sn(x, arch)
        assert y_net.shape == (4, space.num_classes)
        assert torch.allclose(y_net, y_sn, atol=1e-5), (seed, (y_net - y_sn).abs().max())


def test_extract_every_tiny_arch_eval(tiny):
    sn = Supernet(tiny)
    warm_up_bn(sn, tiny)
    sn.eval()
    x = torch.randn(2, 1, 8, 8)
    outs = {}
    with torch.no_grad():
        for arch in tiny.enumerate():
            y = sn(x, arch)
            assert torch.allclose(sn.extract(arch)(x), y, atol=1e-5)
            outs[arch.choices] = y
    # different paths really compute different functions
    assert not torch.allclose(outs[(0,) * 7], outs[(1, 1, 1, 1, 1, 0, 2)], atol=1e-4)


def test_extract_is_a_copy(tiny):
    sn = Supernet(tiny)
    arch = tiny.arch([0, 1, 1, 1, 1, 0, 2])
    net = sn.extract(arch)
    for name, module in sn.path_modules(arch).items():
        ours, theirs = net.get_submodule(name).state_dict(), module.state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    before = sn.body[0].edges["e1"]["mbconv_k5_e3"].project.conv.weight.clone()
    with torch.no_grad():
        net.body[0].edges["e1"].project.conv.weight.add_(1.0)
    assert torch.equal(sn.body[0].edges["e1"]["mbconv_k5_e3"].project.conv.weight, before)


def test_extract_with_unreachable_output(unreach):
    sn = Supernet(unreach).eval()
    arch = unreach.arch([0, 0, 0])
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        y = sn(x, arch)
        assert y.shape == (3, 4)
        assert torch.allclose(sn.extract(arch)(x), y)


# ---------------------------------------------------------------------- gradients
def check_path_only_grads(sn: Supernet, arch) -> None:
    space = arch.space
    sn.train()
    sn.zero_grad(set_to_none=True)
    x = torch.randn(4, *space.input_shape)
    loss = F.cross_entropy(sn(x, arch), torch.arange(4) % space.num_classes)
    loss.backward()
    on_path = {id(p) for p in sn.path_parameters(arch)}
    assert sum(p.numel() for p in sn.path_parameters(arch)) == sum(p.numel() for p in compile(arch).parameters())
    for name, p in sn.named_parameters():
        if id(p) in on_path:
            assert p.grad is not None, name
        else:
            assert p.grad is None, name
    live = set(arch.live_edges)
    for i, e in enumerate(space.edges):
        for op, module in sn.body[0].edges[edge_key(i)].items():
            chosen = i in live and op == arch.ops[i]
            for p in module.parameters():
                assert (p.grad is not None) == chosen, (i, op)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in sn.stem.parameters())


def test_only_chosen_path_gets_gradients(sn_small, st_small):
    for seed in range(3):
        check_path_only_grads(sn_small, st_small.sample(seed))
    sn_small.zero_grad(set_to_none=True)


def test_dead_edge_gets_no_gradient(dead, chain):
    sn = Supernet(dead)
    arch = dead.arch([0, 0, 1, 0])  # e2 present but a dead end
    check_path_only_grads(sn, arch)
    assert all(p.grad is None for p in sn.body[0].edges["e2"]["mbconv_k3_e1"].parameters())
    sn = Supernet(chain)
    for choices, dead_edges in (([0, 0, 1, 1, 0], ("e2", "e3")), ([0, 0, 0, 1, 1], ("e3",))):
        check_path_only_grads(sn, chain.arch(choices))
        assert all(p.grad is None for e in dead_edges for p in sn.body[0].edges[e]["mbconv_k3_e1"].parameters())


# ---------------------------------------------------------------------- weight sharing
def sgd_step(sn: Supernet, arch, lr: float = 0.5) -> None:
    opt = torch.optim.SGD([p for p in sn.parameters() if p.requires_grad], lr=lr)
    opt.zero_grad(set_to_none=True)
    x = torch.randn(8, *arch.space.input_shape)
    F.cross_entropy(sn(x, arch), torch.arange(8) % arch.space.num_classes).backward()
    opt.step()


def freeze_stem_and_head(sn: Supernet) -> None:
    for m in (sn.stem, sn.head):
        m.requires_grad_(False)


def test_training_one_arch_changes_another_through_a_shared_edge(tiny):
    sn = Supernet(tiny)
    freeze_stem_and_head(sn)
    a = tiny.arch([0, 1, 0, 0, 0, 0, 0])  # e1 = mbconv_k5_e3 shared with b
    b = tiny.arch([1, 1, 1, 1, 1, 0, 1])  # every other multi-candidate edge differs from a
    assert a.ops[1] == b.ops[1] == "mbconv_k5_e3"
    x = torch.randn(4, 1, 8, 8)
    sn.eval()
    with torch.no_grad():
        before = sn(x, b).clone()
    b_only = {id(p) for p in sn.path_parameters(b)} - {id(p) for p in sn.path_parameters(a)}
    b_only_before = {id(p): p.detach().clone() for p in sn.parameters() if id(p) in b_only}
    shared_before = sn.body[0].edges["e1"]["mbconv_k5_e3"].project.conv.weight.detach().clone()
    sn.train()
    sgd_step(sn, a)
    sn.eval()
    with torch.no_grad():
        after = sn(x, b)
    assert not torch.equal(sn.body[0].edges["e1"]["mbconv_k5_e3"].project.conv.weight, shared_before)
    assert all(torch.equal(p, b_only_before[id(p)]) for p in sn.parameters() if id(p) in b_only)
    assert not torch.allclose(before, after, atol=1e-6)


def test_training_one_arch_leaves_a_disjoint_arch_alone(st_small):
    sn = Supernet(st_small)
    freeze_stem_and_head(sn)
    a = st_small.arch([0] * 54)
    c = st_small.arch([1] * 54)  # differs from a on every edge: no edge module in common
    assert all(x != y for x, y in zip(a.ops, c.ops))
    x = torch.randn(2, 1, 32, 32)
    sn.eval()
    with torch.no_grad():
        before_a, before_c = sn(x, a).clone(), sn(x, c).clone()
    sn.train()
    sn.stem.eval()  # keep the shared stem's BN statistics fixed too
    sn.head.eval()
    sgd_step(sn, a)
    sn.eval()
    with torch.no_grad():
        assert torch.equal(sn(x, c), before_c)
        assert not torch.allclose(sn(x, a), before_a, atol=1e-6)


# ---------------------------------------------------------------------- validation
def test_supernet_refuses_an_arch_of_another_space(tiny, dead):
    sn = Supernet(tiny)
    with pytest.raises(ArchitectureError, match="belongs to space 'dead'"):
        sn(torch.randn(1, 1, 8, 8), dead.arch([0, 0, 0, 0]))


def test_a_subspace_arch_runs_as_the_parent_arch_with_its_operators_whatever_the_cache(tiny):
    sn = Supernet(tiny).eval()
    sub = tiny.subspace(allowed={2: ["mbconv_k3_e1"]})  # edge 2 must be present in the subspace
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        sn(x, tiny.arch([0] * 7))  # edge 2 = 'none' in the parent: plan cached under (0,) * 7
        got = sn(x, sub.arch([0] * 7))  # the same choice vector in the subspace means edge 2 present
        assert torch.equal(got, sn(x, tiny.from_ops(sub.arch([0] * 7).ops)))
        assert not torch.equal(got, sn(x, tiny.arch([0] * 7)))
