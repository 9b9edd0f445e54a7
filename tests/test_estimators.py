"""Estimators on tiny supernets: BN recalibration, SGLD samples, expectations, fine-tuning, weight averaging."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from graphnas import Supernet
from graphnas.averaging import WeightAverager, running_average
from graphnas.data import DataSplits
from graphnas.estimate import EstimatorError, accuracy
from graphnas import estimators as est
from graphnas.estimators import (ESTIMATORS, EvalData, as_eval_data, evaluate_archs, fine_tune,
                                 parameter_expectation, score_expectation, sgld_samples, single_checkpoint,
                                 weight_averaging)


def random_set(n: int, num_classes: int = 5, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, num_classes, (n,), generator=g))


def snapshot(module: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def polluted(space) -> Supernet:
    """A supernet whose BN running statistics come from shifted, scaled inputs on many paths."""
    sn = Supernet(space)
    sn.train()
    with torch.no_grad():
        for s in range(6):
            for arch in (space.sample(10 + s), space.sample(50 + s)):
                sn(torch.randn(16, *space.input_shape) * 3 + 2, arch)
    return sn


def fixed(arch):
    return lambda rng: arch


@pytest.fixture
def data():
    return EvalData(random_set(48, seed=1), random_set(40, seed=2))


# ---------------------------------------------------------------------- single checkpoint
def test_recal_matches_train_mode_and_beats_stale_statistics(tiny):
    sn = polluted(tiny)
    arch = tiny.arch([0, 1, 1, 1, 0, 0, 2])
    x = random_set(128, seed=3).tensors[0]
    with torch.no_grad():  # labels: the path's own predictions with batch statistics of these images
        y = copy.deepcopy(sn).train()(x, arch).argmax(1)
    same = EvalData(TensorDataset(x, y), TensorDataset(x, y))
    before = snapshot(sn)
    with_recal = single_checkpoint(sn, sn.state_dict(), arch, same, recal=True, recal_samples=128)
    without = single_checkpoint(sn, sn.state_dict(), arch, same, recal=False)
    assert with_recal >= 0.97  # eval mode now reproduces train-mode statistics
    assert without < with_recal - 0.2
    assert same_state(snapshot(sn), before)  # recalibration undone: the supernet holds its weights


def test_single_checkpoint_loads_the_weights(make_tiny, data):
    space = make_tiny()
    source, target = polluted(space), Supernet(space)
    arch = space.sample(4)
    for recal in (True, False):
        assert single_checkpoint(target, source.state_dict(), arch, data, recal=recal, recal_samples=32) == \
            single_checkpoint(source, source.state_dict(), arch, data, recal=recal, recal_samples=32)
    assert same_state(snapshot(target), snapshot(source))
    assert single_checkpoint(target, source.state_dict(), arch, data, recal=False) == \
        accuracy(source, data.eval_set, arch)


def test_weight_averaging_is_single_checkpoint_on_the_average(tiny, data):
    sn = polluted(tiny)
    states = [snapshot(sn)]
    with torch.no_grad():
        for p in sn.parameters():
            p.mul_(1.5)
    states.append(snapshot(sn))
    avg = running_average(states)
    arch = tiny.sample(7)
    for recal in (True, False):
        assert weight_averaging(sn, avg, arch, data, recal=recal, recal_samples=32) == \
            single_checkpoint(sn, avg, arch, data, recal=recal, recal_samples=32)


def test_bad_weights_and_data_raise_one_line_errors(tiny, data):
    sn, arch = Supernet(tiny), tiny.sample(0)
    with pytest.raises(EstimatorError, match="score_expectation"):
        single_checkpoint(sn, [sn.state_dict()], arch, data)
    with pytest.raises(EstimatorError, match="do not fit") as info:
        single_checkpoint(sn, {"stem.nonsense": torch.zeros(1)}, arch, data)
    assert "\n" not in str(info.value)
    with pytest.raises(EstimatorError, match="EvalData"):
        single_checkpoint(sn, sn.state_dict(), arch, object())
    with pytest.raises(EstimatorError, match="empty"):
        score_expectation(sn, [], arch, data)
    with pytest.raises(EstimatorError, match="single_checkpoint"):
        parameter_expectation(sn, sn.state_dict(), arch, data)


def test_as_eval_data_accepts_splits_and_pairs(data):
    a, b, c = random_set(4), random_set(4), random_set(4)
    splits = DataSplits("r", a, b, c, 5, (1, 8, 8))
    assert as_eval_data(splits) == EvalData(a, b)
    assert as_eval_data((a, c)) == EvalData(a, c)
    assert as_eval_data(data) is data


# ---------------------------------------------------------------------- SGLD
def test_sgld_gives_k_distinct_samples_and_moves_only_the_path(tiny, data):
    sn = polluted(tiny)
    arch = tiny.arch([0, 0, 0, 1, 0, 0, 0])
    start = snapshot(sn)
    on_path = {id(p) for p in sn.path_parameters(arch)}
    path_names = {n for n, p in sn.named_parameters() if id(p) in on_path}
    off_path = [n for n, _ in sn.named_parameters() if n not in path_names]
    assert path_names and off_path
    samples = sgld_samples(sn, sn.state_dict(), data.train_set, fixed(arch), alpha=0.01, num_samples=3,
                           batch_size=16, progress=False)
    assert len(samples) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            assert not same_state(samples[i], samples[j])
        assert all(torch.equal(samples[i][n], start[n]) for n in off_path)  # no gradient, no noise
        assert all(not torch.equal(samples[i][n], start[n]) for n in path_names)
    assert same_state(snapshot(sn), start)  # the supernet holds the starting weights again
    assert samples[0].keys() == start.keys()


class Frozen(nn.Module):
    """``a`` gets a zero gradient (a constant function of it), ``b`` none, ``w`` a real one."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(40000))
        self.b = nn.Parameter(torch.zeros(10))
        self.w = nn.Parameter(torch.randn(64, classes) * 0.1)

    def forward(self, x, arch):
        return x.flatten(1) @ self.w + 0.0 * self.a.sum()


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_sgld_noise_std_is_sqrt_2_alpha_t_over_n(temperature):
    model, n, alpha = Frozen(), 64, 0.05
    train_set = random_set(n)
    samples = sgld_samples(model, model.state_dict(), train_set, fixed(None), alpha=alpha, num_samples=3,
                           batch_size=n, temperature=temperature, progress=False)  # one step per sample
    expected = math.sqrt(2 * alpha * temperature / n)
    steps = [samples[0]["a"]] + [samples[k]["a"] - samples[k - 1]["a"] for k in (1, 2)]
    for step in steps:
        assert step.std().item() == pytest.approx(expected, rel=0.03)
        assert abs(step.mean().item()) < 4 * expected / math.sqrt(step.numel())
    assert not torch.equal(steps[1], steps[2])
    assert all(torch.equal(s["b"], torch.zeros(10)) for s in samples)  # no gradient: no noise


def test_sgld_at_zero_temperature_is_an_sgd_step_with_weight_decay():
    model, n, alpha, decay = Frozen(), 32, 0.1, 0.05
    train_set = random_set(n, seed=4)
    ref = copy.deepcopy(model)
    x, y = train_set.tensors
    nn.functional.cross_entropy(ref(x, None), y).backward()
    expected = ref.w.detach() - alpha * (ref.w.grad + decay * ref.w.detach())
    (sample,) = sgld_samples(model, model.state_dict(), train_set, fixed(None), alpha=alpha, num_samples=1,
                             batch_size=n, temperature=0.0, weight_decay=decay, progress=False)
    assert torch.allclose(sample["w"], expected, atol=1e-6)
    assert torch.equal(sample["a"], torch.zeros(40000))


def test_sgld_rejects_bad_settings(tiny, data):
    sn = Supernet(tiny)
    with pytest.raises(EstimatorError, match="final learning rate"):
        sgld_samples(sn, sn.state_dict(), data.train_set, fixed(tiny.sample(0)), alpha=0.0, progress=False)
    with pytest.raises(EstimatorError, match="num_samples"):
        sgld_samples(sn, sn.state_dict(), data.train_set, fixed(tiny.sample(0)), alpha=0.1, num_samples=0)
    with pytest.raises(EstimatorError, match="batch_size"):
        sgld_samples(sn, sn.state_dict(), data.train_set, fixed(tiny.sample(0)), alpha=0.1, batch_size=100)


# ---------------------------------------------------------------------- expectations
@pytest.fixture
def sgld_run(tiny, data):
    sn = polluted(tiny)
    samples = sgld_samples(sn, sn.state_dict(), data.train_set, lambda rng: tiny.sample(rng), alpha=0.05,
                           num_samples=3, batch_size=16, progress=False)
    return sn, samples


@pytest.mark.parametrize("recal", [True, False])
def test_score_expectation_is_the_mean_of_single_checkpoints(tiny, data, sgld_run, recal):
    sn, samples = sgld_run
    arch = tiny.sample(11)
    singles = [single_checkpoint(sn, s, arch, data, recal=recal, recal_samples=32) for s in samples]
    assert score_expectation(sn, samples, arch, data, recal=recal, recal_samples=32) == \
        pytest.approx(sum(singles) / len(singles), abs=1e-12)


@pytest.mark.parametrize("recal", [True, False])
def test_parameter_expectation_is_single_checkpoint_on_the_mean(tiny, data, sgld_run, recal):
    sn, samples = sgld_run
    arch = tiny.sample(12)
    assert parameter_expectation(sn, samples, arch, data, recal=recal, recal_samples=32) == \
        single_checkpoint(sn, running_average(samples), arch, data, recal=recal, recal_samples=32)


def test_evaluate_archs_equals_one_call_per_arch(tiny, data, sgld_run):
    sn, samples = sgld_run
    archs = [tiny.sample(s) for s in (1, 2, 3)]
    weights = samples[0]
    for name, w in (("single_checkpoint", weights), ("weight_averaging", weights),
                    ("score_expectation", samples), ("parameter_expectation", samples)):
        many = evaluate_archs(name, sn, w, archs, data, progress=False, recal_samples=32)
        one = [ESTIMATORS[name](sn, w, a, data, recal_samples=32) for a in archs]
        assert many == pytest.approx(one, abs=1e-12), name
    calls = []

    def custom(supernet, weights, arch, data, bonus=0.0):
        calls.append(arch)
        return 0.5 + bonus

    assert evaluate_archs(custom, sn, weights, archs, data, progress=False, bonus=0.25) == [0.75] * 3
    assert calls == archs
    with pytest.raises(EstimatorError, match="fine_tune"):
        evaluate_archs("no_such", sn, weights, archs, data)


# ---------------------------------------------------------------------- fine-tuning
def test_fine_tune_trains_only_the_extracted_copy(tiny, data, monkeypatch):
    sn = polluted(tiny)
    arch = tiny.arch([0, 0, 1, 1, 0, 0, 2])
    weights = snapshot(sn)
    trained = []
    real = est.train
    monkeypatch.setattr(est, "train", lambda net, *a, **k: (trained.append(net), real(net, *a, **k))[1])
    score = fine_tune(sn, weights, arch, data, epochs=2, lr=0.05, batch_size=16, recal=True, recal_samples=32)
    assert len(trained) == 1
    net = trained[0]
    assert same_state(snapshot(sn), weights)  # shared weights untouched
    start = sn.extract(arch).state_dict()
    moved = [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert any(k.endswith("weight") for k in moved)
    assert score == accuracy(net, data.eval_set)  # scored with the recalibrated fine-tuned copy
    assert fine_tune(sn, weights, arch, data, epochs=2, lr=0.05, batch_size=16, recal=True, recal_samples=32) == score


def test_fine_tune_options_are_checked(tiny, data):
    sn, arch = Supernet(tiny), tiny.sample(0)
    with pytest.raises(EstimatorError, match="lr="):
        fine_tune(sn, sn.state_dict(), arch, data)
    with pytest.raises(EstimatorError, match="train_options"):
        fine_tune(sn, sn.state_dict(), arch, data, lr=0.1, train_options={"no_such": 1})


# ---------------------------------------------------------------------- WeightAverager
def test_weight_averager_is_the_arithmetic_mean_of_snapshots():
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
    avg, snaps = WeightAverager(), []
    for step in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model(torch.randn(8, 6) * (step + 1))  # moves the BN running statistics
        avg.update(model)
        snaps.append(snapshot(model))
    mean = avg.state_dict()
    assert avg.count == 5 and mean.keys() == snaps[0].keys()
    for k, v in mean.items():
        if v.is_floating_point():
            assert torch.allclose(v, torch.stack([s[k] for s in snaps]).mean(0), atol=1e-6), k
        else:
            assert torch.equal(v, snaps[-1][k]) and v.dtype == snaps[-1][k].dtype  # counters: the latest
    assert all(torch.equal(mean[k], v) for k, v in running_average(snaps).items())
    mean["0.weight"].add_(1.0)  # a copy: the running mean is not aliased
    assert not torch.equal(avg.state_dict()["0.weight"], mean["0.weight"])


def test_weight_averager_errors():
    with pytest.raises(EstimatorError, match="update"):
        WeightAverager().state_dict()
    avg = WeightAverager()
    avg.update({"w": torch.zeros(2)})
    with pytest.raises(EstimatorError, match="other keys"):
        avg.update({"v": torch.zeros(2)})
    with pytest.raises(EstimatorError, match="shape"):
        avg.update({"w": torch.zeros(3)})


def test_weight_averager_resumes_from_its_state():
    snaps = [{"w": torch.randn(3), "h": torch.randn(2).half(), "n": torch.tensor(k)} for k in range(4)]
    whole, first = WeightAverager(), WeightAverager()
    for s in snaps:
        whole.update(s)
    for s in snaps[:2]:
        first.update(s)
    resumed = WeightAverager.from_state(first.state())
    for s in snaps[2:]:
        resumed.update(s)
    a, b = whole.state_dict(), resumed.state_dict()
    assert resumed.count == 4 and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    with pytest.raises(EstimatorError, match="WeightAverager.state"):
        WeightAverager.from_state({"count": 1})
