"""accuracy(), recalibrate_bn() and SupernetEvaluator (the estimator protocol) on tiny supernets and random data."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import graphnas
from graphnas import Supernet
from graphnas.nets.compile import edge_key
from graphnas.train.data import make_loader
from graphnas.estimate.score import SupernetEvaluator, accuracy, recalibrate_bn

BN = nn.modules.batchnorm._BatchNorm


def bns(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, BN)]


def bn_stats(module: nn.Module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def random_set(n: int, num_classes: int = 5, seed: int = 0, shift: float = 0.0, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g) * scale + shift
    y = torch.randint(0, num_classes, (n,), generator=g)
    return TensorDataset(x, y)


def pollute(sn: Supernet, space, steps: int = 6) -> None:
    """Give every BN running statistics far from those of the test data (shifted, scaled inputs)."""
    sn.train()
    with torch.no_grad():
        for s in range(steps):
            for arch in (space.sample(10 + s), space.sample(50 + s)):
                sn(torch.randn(16, *space.input_shape) * 3 + 2, arch)


# ---------------------------------------------------------------------- accuracy
class OneHot(nn.Module):
    """Predicts the class stored in the input (logits = one-hot of x); records the arch it was given."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.num_classes, self.archs, self.modes = num_classes, [], []

    def forward(self, x, arch=None):
        self.archs.append(arch)
        self.modes.append(self.training)
        return F.one_hot(x.long(), self.num_classes).float()


def test_accuracy_is_the_exact_fraction():
    preds = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2])
    labels = torch.tensor([0, 1, 2, 0, 0, 0, 2, 3, 1, 1, 3])  # 7 of 11 right
    model = OneHot()
    model.train()
    acc = accuracy(model, TensorDataset(preds, labels), batch_size=3)
    assert acc == 7 / 11
    assert len(model.archs) == 4  # ceil(11 / 3) batches, none dropped
    assert model.modes == [False] * 4  # evaluated in eval mode
    assert model.training  # and the mode restored


def test_accuracy_passes_arch_and_restores_eval_mode():
    model = OneHot()
    model.eval()
    token = object()
    acc = accuracy(model, TensorDataset(torch.tensor([1, 1, 1, 1]), torch.tensor([1, 1, 1, 2])), arch=token)
    assert acc == 0.75
    assert model.archs == [token]
    assert not model.training


def test_accuracy_all_wrong_and_all_right():
    x = torch.arange(8) % 4
    assert accuracy(OneHot(), TensorDataset(x, x), batch_size=5) == 1.0
    assert accuracy(OneHot(), TensorDataset(x, (x + 1) % 4), batch_size=5) == 0.0


# ---------------------------------------------------------------------- recalibrate_bn
def test_recal_single_batch_stats_are_exact(tiny):
    sn = Supernet(tiny)
    pollute(sn, tiny)
    arch = tiny.arch([0, 0, 0, 1, 0, 0, 0])
    data = random_set(64)
    conv, bn = sn.stem.conv.conv, sn.stem.conv.bn
    assert isinstance(bn, nn.BatchNorm2d)
    recalibrate_bn(sn, data, arch, num_samples=64, batch_size=64)
    with torch.no_grad():
        pre = conv(data.tensors[0])
    assert torch.allclose(bn.running_mean, pre.mean((0, 2, 3)), atol=1e-5, rtol=1e-5)
    assert torch.allclose(bn.running_var, pre.var((0, 2, 3), unbiased=True), atol=1e-5, rtol=1e-4)
    assert bn.num_batches_tracked.item() == 1


def test_recal_touches_only_the_path_and_restores_momentum(tiny):
    sn = Supernet(tiny)
    pollute(sn, tiny)
    arch = tiny.arch([0, 0, 0, 1, 0, 0, 0])  # e1 mbconv_k3_e3 (not mbconv_k5_e3), e2/e4/e6 none
    path = sn.path_modules(arch)
    chosen = sn.body[0].edges[edge_key(1)]["mbconv_k3_e3"]
    assert arch.ops[:5] == ("mbconv_k3_e3", "mbconv_k3_e3", "none", "mbconv_k3_e1", "none")
    unchosen = [sn.body[0].edges[edge_key(1)]["mbconv_k5_e3"], sn.body[0].edges[edge_key(2)]["mbconv_k3_e1"],
                sn.body[0].edges[edge_key(4)]["mbconv_k3_e1"], sn.body[0].edges[edge_key(6)]["mbconv_k3_e1"]]
    assert chosen is path[f"body.0.edges.{edge_key(1)}"]
    assert all(bns(m) for m in unchosen)
    before_unchosen = [bn_stats(m) for m in unchosen]
    before_chosen = bn_stats(chosen)
    special = bns(chosen)[0]
    special.momentum = 0.3
    sn.eval()

    data = random_set(96)
    recalibrate_bn(sn, data, arch, num_samples=64, batch_size=32)

    assert not sn.training  # mode restored
    for m, before in zip(unchosen, before_unchosen):  # unchosen candidates keep their statistics
        after = bn_stats(m)
        assert all(torch.equal(after[k], before[k]) for k in before)
    after_chosen = bn_stats(chosen)
    assert any(not torch.equal(after_chosen[k], before_chosen[k]) for k in before_chosen)
    path_bns = [bn for m in path.values() for bn in bns(m)]
    assert path_bns
    for bn in path_bns:
        assert bn.num_batches_tracked.item() == 2  # reset, then two batches of 32 for 64 samples
    assert special.momentum == 0.3
    assert all(bn.momentum == 0.1 for bn in path_bns if bn is not special)


def test_recal_stats_are_the_average_of_equal_batches(tiny):
    """With equal batches, running_mean is the mean over the subset and running_var the mean batch variance."""
    sn = Supernet(tiny)
    pollute(sn, tiny)
    arch = tiny.arch([1, 1, 1, 1, 1, 0, 2])
    path_bns = [bn for m in sn.path_modules(arch).values() for bn in bns(m)]
    inputs = {bn: [] for bn in path_bns}
    hooks = [bn.register_forward_pre_hook(lambda mod, args: inputs[mod].append(args[0].detach().clone()))
             for bn in path_bns]
    try:
        recalibrate_bn(sn, random_set(128, seed=3), arch, num_samples=96, batch_size=32, seed=5)
    finally:
        for h in hooks:
            h.remove()
    for bn in path_bns:
        xs = inputs[bn]
        assert len(xs) == 3
        full = torch.cat(xs)
        assert torch.allclose(bn.running_mean, full.mean((0, 2, 3)), atol=1e-5, rtol=1e-4)
        mean_var = torch.stack([x.var((0, 2, 3), unbiased=True) for x in xs]).mean(0)
        assert torch.allclose(bn.running_var, mean_var, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n, num_samples", [(96, 40), (80, 80)])
def test_recal_uses_exactly_num_samples_images(tiny, n, num_samples):
    sn = Supernet(tiny)
    arch = tiny.sample(0)
    data = random_set(n, seed=1)
    recalibrate_bn(sn, data, arch, num_samples=num_samples, batch_size=32, seed=0)
    # the seeded shuffle's order does not depend on the batch size
    x, _ = next(iter(make_loader(data, n, shuffle=True, seed=0)))
    with torch.no_grad():
        pre = sn.stem.conv.conv(x[:num_samples])
    assert torch.allclose(sn.stem.conv.bn.running_mean, pre.mean((0, 2, 3)), atol=1e-5, rtol=1e-4)


def test_recal_makes_eval_match_train_mode(tiny):
    sn = Supernet(tiny)
    pollute(sn, tiny)
    arch = tiny.arch([0, 1, 1, 1, 0, 0, 2])
    data = random_set(128, seed=2)
    x = data.tensors[0]
    with torch.no_grad():
        ref = copy.deepcopy(sn).train()(x, arch)  # batch statistics of exactly these images
        sn.eval()
        before = sn(x, arch)
        recalibrate_bn(sn, data, arch, num_samples=128, batch_size=128)
        after = sn(x, arch)
    err_before = (before - ref).abs().max().item()
    err_after = (after - ref).abs().max().item()
    assert err_after < 0.05 * err_before
    assert (after.argmax(1) == ref.argmax(1)).float().mean().item() >= 0.99
    assert (before.argmax(1) == ref.argmax(1)).float().mean().item() < \
        (after.argmax(1) == ref.argmax(1)).float().mean().item() + 1e-9


def test_recal_standalone_network_resets_every_bn(make_tiny):
    net = graphnas.nets.compile(make_tiny().sample(4))
    for bn in bns(net):
        bn.running_mean.fill_(5.0)
        bn.num_batches_tracked.fill_(99)
    recalibrate_bn(net, random_set(32), num_samples=32, batch_size=16)
    for bn in bns(net):
        assert bn.num_batches_tracked.item() == 2
        assert not torch.equal(bn.running_mean, torch.full_like(bn.running_mean, 5.0))


# ---------------------------------------------------------------------- SupernetEvaluator
def test_evaluator_caches_by_hash(tiny):
    sn = Supernet(tiny)
    val, train_set = random_set(40, seed=7), random_set(64, seed=8)
    ev = SupernetEvaluator(sn, val, train_set, recal_samples=32)
    a, b = tiny.sample(1), tiny.sample(2)
    assert a.hash != b.hash
    s1 = ev(a)
    assert ev.calls == 1
    assert 0.0 <= s1 <= 1.0 and s1 * 40 == pytest.approx(round(s1 * 40))
    assert ev(a) == s1 and ev.calls == 1
    assert ev(tiny.arch(list(a.choices))) == s1 and ev.calls == 1  # equal arch, new object
    ev(b)
    assert ev.calls == 2 and set(ev.cache) == {a.hash, b.hash}
    # the same architecture of an independent build of the space has the same hash: cached
    from conftest import build_tiny
    assert ev(build_tiny().arch(list(b.choices))) == ev.cache[b.hash] and ev.calls == 2


def test_evaluator_recalibrates_with_train_set_and_puts_bn_back(tiny, monkeypatch):
    sn = Supernet(tiny)
    pollute(sn, tiny)
    val, train_set = random_set(40, seed=7), random_set(64, seed=8)
    arch = tiny.sample(3)
    before = bn_stats(sn)
    seen = []
    import graphnas.estimate.score as est
    real = est.recalibrate_bn
    monkeypatch.setattr(est, "recalibrate_bn", lambda *a, **k: (seen.append((a, k)), real(*a, **k))[1])
    ev = SupernetEvaluator(sn, val, train_set, recal_samples=32)
    score = ev(arch)
    assert len(seen) == 1
    assert seen[0][0][1] is train_set and seen[0][0][2] is arch
    assert all(torch.equal(v, before[k]) for k, v in bn_stats(sn).items())  # recalibration undone
    real(sn, train_set, arch, num_samples=32)
    assert sn.stem.conv.bn.num_batches_tracked.item() == 1  # 32 samples in one batch of 128
    assert score == accuracy(sn, val, arch)


def test_evaluator_without_train_set_skips_recalibration(tiny, monkeypatch):
    sn = Supernet(tiny)
    pollute(sn, tiny)
    import graphnas.estimate.score as est
    monkeypatch.setattr(est, "recalibrate_bn", lambda *a, **k: pytest.fail("recalibrated without train_set"))
    before = {k: v.clone() for k, v in sn.state_dict().items()}
    val = random_set(40, seed=7)
    arch = tiny.sample(5)
    ev = SupernetEvaluator(sn, val)
    score = ev(arch)
    assert ev.calls == 1
    assert all(torch.equal(v, before[k]) for k, v in sn.state_dict().items())
    assert score == accuracy(sn, val, arch)


def test_score_many_scores_each_new_architecture_once(tiny, monkeypatch):
    sn = Supernet(tiny)
    pollute(sn, tiny)
    val, train_set = random_set(40, seed=7), random_set(64, seed=8)
    a, b, c = tiny.sample(1), tiny.sample(2), tiny.sample(3)
    ev = SupernetEvaluator(sn, val, train_set, recal_samples=32)
    single = SupernetEvaluator(sn, val, train_set, recal_samples=32)
    assert ev(b) == single(b) and ev.calls == 1
    batches = []
    real = ev._score
    monkeypatch.setattr(ev, "_score", lambda archs, bar: (batches.append(list(archs)), real(archs, bar))[1])
    scores = ev.score_many([a, b, a, c], progress=True)
    assert [x.hash for x in batches[0]] == [a.hash, c.hash]  # one batch, the cached b and the repeated a left out
    assert scores == [single(a), single(b), single(a), single(c)]
    assert ev.calls == 3 and set(ev.cache) == {a.hash, b.hash, c.hash}
    assert ev.score_many([c, b]) == [scores[3], scores[1]] and len(batches) == 1
    assert ev.score_many([]) == []
