"""Estimators on tiny supernets: the protocol, BN recalibration, SGLD samples, expectations, fine-tuning,
weight averaging."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from graphnas import Supernet
from graphnas.train.averaging import WeightAverager, running_average
from graphnas.train.data import DataSplits
from graphnas.estimate.score import EstimatorError, accuracy
from graphnas.estimate import estimators as est
from graphnas.estimate.estimators import ESTIMATORS, EvalData, FineTune, as_eval_data, estimator_for, make_estimator
from graphnas.estimate.sgld import NOISE, noise_std, sgld_samples
from graphnas.train.loop import TrainConfig


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


def score(name, supernet, weights, arch, data, **options) -> float:
    """One architecture's score with a fresh estimator."""
    return make_estimator(name, supernet, weights, data, **options)(arch)


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
    with_recal = score("single_checkpoint", sn, sn.state_dict(), arch, same, recal=True, recal_samples=128)
    without = score("single_checkpoint", sn, sn.state_dict(), arch, same, recal=False)
    assert with_recal >= 0.97  # eval mode now reproduces train-mode statistics
    assert without < with_recal - 0.2
    assert same_state(snapshot(sn), before)  # recalibration undone: the supernet holds its weights
    assert score("single_checkpoint", sn, None, arch, same, recal=False) == without  # None: the weights it holds


def test_single_checkpoint_loads_the_weights(make_tiny, data):
    space = make_tiny()
    source, target = polluted(space), Supernet(space)
    arch = space.sample(4)
    for recal in (True, False):
        assert score("single_checkpoint", target, source.state_dict(), arch, data, recal=recal, recal_samples=32) == \
            score("single_checkpoint", source, source.state_dict(), arch, data, recal=recal, recal_samples=32)
    assert same_state(snapshot(target), snapshot(source))
    assert score("single_checkpoint", target, source.state_dict(), arch, data, recal=False) == \
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
        assert score("weight_averaging", sn, avg, arch, data, recal=recal, recal_samples=32) == \
            score("single_checkpoint", sn, avg, arch, data, recal=recal, recal_samples=32)


def test_bad_weights_and_data_raise_one_line_errors(tiny, data):
    sn, arch = Supernet(tiny), tiny.sample(0)
    with pytest.raises(EstimatorError, match="score_expectation"):
        make_estimator("single_checkpoint", sn, [sn.state_dict()], data)
    with pytest.raises(EstimatorError, match="do not fit") as info:  # refused when built, before any scoring
        make_estimator("single_checkpoint", sn, {"stem.nonsense": torch.zeros(1)}, data)
    assert "\n" not in str(info.value) and "missing" in str(info.value)
    with pytest.raises(EstimatorError, match="EvalData"):
        make_estimator("single_checkpoint", sn, sn.state_dict(), object())
    with pytest.raises(EstimatorError, match="empty"):
        make_estimator("score_expectation", sn, None, data, samples=[])
    with pytest.raises(EstimatorError, match="single_checkpoint"):
        make_estimator("parameter_expectation", sn, None, data, samples=sn.state_dict())
    with pytest.raises(EstimatorError, match="samples="):
        make_estimator("score_expectation", sn, [sn.state_dict()], data)
    with pytest.raises(EstimatorError, match="averaged weights"):
        make_estimator("weight_averaging", sn, None, data)
    assert score("single_checkpoint", sn, None, arch, data, recal_samples=32) >= 0.0


def test_as_eval_data_accepts_splits_and_pairs(data):
    a, b, c = random_set(4), random_set(4), random_set(4)
    splits = DataSplits("r", a, b, c, 5, (1, 8, 8))
    assert as_eval_data(splits) == EvalData(a, b)
    assert as_eval_data((a, c)) == EvalData(a, c)
    assert as_eval_data(data) is data


# ---------------------------------------------------------------------- make_estimator
@pytest.mark.parametrize("name, options, message", [
    ("no_such", {}, "unknown estimator 'no_such': choose one of single_checkpoint, weight_averaging, "
                    "score_expectation, parameter_expectation, fine_tune"),
    ("single_checkpoint", {"lr": 0.1}, "unknown option lr for estimator 'single_checkpoint': choose from recal, "
                                       "recal_samples, seed"),
    ("fine_tune", {"alpha": 0.1, "noise": "eq9"}, "unknown options alpha, noise for estimator 'fine_tune'"),
    ("single_checkpoint", {"recal": "yes"}, "recal='yes' must be True or False"),
    ("single_checkpoint", {"recal_samples": 0}, "recal_samples=0 is out of range"),
    ("single_checkpoint", {"seed": 1.5}, "seed=1.5 must be an integer"),
    ("score_expectation", {"alpha": 0.1}, "pass sampler=<the training sampler> and alpha="),
    ("score_expectation", {"sampler": fixed(None), "alpha": 0.1, "noise": "loud"},
     "unknown SGLD noise 'loud': choose one of tempered, eq9"),
    ("parameter_expectation", {"samples": [{}], "num_samples": 2}, "samples are given, so num_samples"),
    ("score_expectation", {"sampler": fixed(None), "alpha": 0.1, "temperature": 2.0, "noise": "eq9"},
     "temperature=2.0 applies to noise='tempered' only"),
    ("fine_tune", {}, "fine_tune needs lr="),
    ("fine_tune", {"lr": -1.0}, "lr=-1.0 is out of range"),
    ("fine_tune", {"lr": 0.1, "train_options": {"no_such": 1}}, "unknown train_options"),
])
def test_make_estimator_refuses_bad_names_options_and_values(tiny, data, name, options, message):
    sn = Supernet(tiny)
    weights = None if "samples" in options else sn.state_dict()
    with pytest.raises(EstimatorError) as info:
        make_estimator(name, sn, weights, data, **options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_estimator_names_have_help():
    assert list(ESTIMATORS) == ["single_checkpoint", "weight_averaging", "score_expectation", "parameter_expectation",
                                "fine_tune"]
    assert all(isinstance(h, str) and h and "\n" not in h for h in ESTIMATORS.values())


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
    again = sgld_samples(sn, None, data.train_set, fixed(arch), alpha=0.01, num_samples=3, batch_size=16,
                         progress=False)  # None: from the weights it holds; seeded
    assert all(same_state(a, b) for a, b in zip(samples, again))


class Frozen(nn.Module):
    """``a`` gets a zero gradient (a constant function of it), ``b`` none, ``w`` a real one."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(40000))
        self.b = nn.Parameter(torch.zeros(10))
        self.w = nn.Parameter(torch.randn(64, classes) * 0.1)

    def forward(self, x, arch):
        return x.flatten(1) @ self.w + 0.0 * self.a.sum()


@pytest.mark.parametrize("noise, temperature, expected", [
    ("eq9", None, math.sqrt(2 * 0.05)),  # ST-NAS Eq. 9: sqrt(2 alpha), whatever N
    ("tempered", None, math.sqrt(2 * 0.05 * 1.0 / 64)),  # sqrt(2 alpha T / N), T = 1
    ("tempered", 4.0, math.sqrt(2 * 0.05 * 4.0 / 64)),
])
def test_sgld_noise_std_follows_its_formula(noise, temperature, expected):
    model, n, alpha = Frozen(), 64, 0.05
    train_set = random_set(n)
    assert noise_std(noise, alpha, n, temperature) == pytest.approx(expected, rel=1e-12)
    samples = sgld_samples(model, model.state_dict(), train_set, fixed(None), alpha=alpha, num_samples=3,
                           batch_size=n, noise=noise, temperature=temperature, progress=False)  # one step each
    steps = [samples[0]["a"]] + [samples[k]["a"] - samples[k - 1]["a"] for k in (1, 2)]  # zero gradient: noise
    for step in steps:
        assert step.std().item() == pytest.approx(expected, rel=0.03)
        assert abs(step.mean().item()) < 4 * expected / math.sqrt(step.numel())
    assert not torch.equal(steps[1], steps[2])
    assert all(torch.equal(s["b"], torch.zeros(10)) for s in samples)  # no gradient: no noise


def test_sgld_default_noise_is_the_tempered_posterior():
    model, n = Frozen(), 32
    (sample,) = sgld_samples(model, model.state_dict(), random_set(n), fixed(None), alpha=0.02, num_samples=1,
                             batch_size=n, progress=False)
    assert sample["a"].std().item() == pytest.approx(math.sqrt(2 * 0.02 / n), rel=0.03)
    (sample,) = sgld_samples(model, model.state_dict(), random_set(n), fixed(None), alpha=0.02, num_samples=1,
                             batch_size=n, noise="eq9", progress=False)
    assert sample["a"].std().item() == pytest.approx(math.sqrt(2 * 0.02), rel=0.03)
    assert set(NOISE) == {"eq9", "tempered"}


def test_sgld_at_zero_temperature_is_an_sgd_step_with_weight_decay():
    model, n, alpha, decay = Frozen(), 32, 0.1, 0.05
    train_set = random_set(n, seed=4)
    ref = copy.deepcopy(model)
    x, y = train_set.tensors
    nn.functional.cross_entropy(ref(x, None), y).backward()
    expected = ref.w.detach() - alpha * (ref.w.grad + decay * ref.w.detach())
    (sample,) = sgld_samples(model, model.state_dict(), train_set, fixed(None), alpha=alpha, num_samples=1,
                             batch_size=n, noise="tempered", temperature=0.0, weight_decay=decay, progress=False)
    assert torch.allclose(sample["w"], expected, atol=1e-6)
    assert torch.equal(sample["a"], torch.zeros(40000))


def test_sgld_rejects_bad_settings(tiny, data):
    sn = Supernet(tiny)
    go = lambda **k: sgld_samples(sn, sn.state_dict(), data.train_set, fixed(tiny.sample(0)),  # noqa: E731
                                  **{"alpha": 0.1, "progress": False, **k})
    with pytest.raises(EstimatorError, match="final learning rate"):
        go(alpha=0.0)
    with pytest.raises(EstimatorError, match="num_samples"):
        go(num_samples=0)
    with pytest.raises(EstimatorError, match="batch_size"):
        go(batch_size=100)
    with pytest.raises(EstimatorError, match="choose one of tempered, eq9"):
        go(noise="eq7")
    with pytest.raises(EstimatorError, match="temperature=-1"):
        go(noise="tempered", temperature=-1)


# ---------------------------------------------------------------------- expectations
@pytest.fixture
def sgld_run(tiny, data):
    sn = polluted(tiny)
    samples = sgld_samples(sn, sn.state_dict(), data.train_set, lambda rng: tiny.sample(rng), alpha=0.05,
                           num_samples=3, batch_size=16, noise="tempered", progress=False)
    return sn, samples


@pytest.mark.parametrize("recal", [True, False])
def test_score_expectation_is_the_mean_of_single_checkpoints(tiny, data, sgld_run, recal):
    sn, samples = sgld_run
    arch = tiny.sample(11)
    singles = [score("single_checkpoint", sn, s, arch, data, recal=recal, recal_samples=32) for s in samples]
    assert score("score_expectation", sn, None, arch, data, samples=samples, recal=recal, recal_samples=32) == \
        pytest.approx(sum(singles) / len(singles), abs=1e-12)


@pytest.mark.parametrize("recal", [True, False])
def test_parameter_expectation_is_single_checkpoint_on_the_mean(tiny, data, sgld_run, recal):
    sn, samples = sgld_run
    arch = tiny.sample(12)
    assert score("parameter_expectation", sn, None, arch, data, samples=samples, recal=recal, recal_samples=32) == \
        score("single_checkpoint", sn, running_average(samples), arch, data, recal=recal, recal_samples=32)


def test_expectations_draw_their_samples_from_the_weights(tiny, data):
    sn = polluted(tiny)
    weights, sampler = snapshot(sn), (lambda rng: tiny.sample(rng))
    archs = [tiny.sample(s) for s in (1, 2)]
    for noise in NOISE:
        drawn = sgld_samples(sn, weights, data.train_set, sampler, alpha=0.05, num_samples=2, batch_size=16, seed=3,
                             noise=noise, progress=False)
        for name in ("score_expectation", "parameter_expectation"):
            built = make_estimator(name, sn, weights, data, sampler=sampler, alpha=0.05, num_samples=2, batch_size=16,
                                   noise=noise, seed=3, recal_samples=32)
            given = make_estimator(name, sn, None, data, samples=drawn, seed=3, recal_samples=32)
            assert built.score_many(archs) == given.score_many(archs), (name, noise)
    eq9 = make_estimator("parameter_expectation", sn, weights, data, sampler=sampler, alpha=0.05, num_samples=2,
                         batch_size=16, noise="eq9", sgld_seed=3).weights[0]
    tempered = make_estimator("parameter_expectation", sn, weights, data, sampler=sampler, alpha=0.05, num_samples=2,
                              batch_size=16, noise="tempered", sgld_seed=3).weights[0]
    moved = lambda state: max((state[k] - weights[k]).abs().max().item()  # noqa: E731
                              for k in weights if weights[k].is_floating_point())
    assert moved(eq9) > 5 * moved(tempered)  # Eq. 9's noise is sqrt(N / T) = 7x larger here


def test_score_many_equals_one_call_per_arch(tiny, data, sgld_run):
    sn, samples = sgld_run
    archs = [tiny.sample(s) for s in (1, 2, 3)]
    for name, weights, options in (("single_checkpoint", samples[0], {}), ("weight_averaging", samples[1], {}),
                                   ("score_expectation", None, {"samples": samples}),
                                   ("parameter_expectation", None, {"samples": samples}),
                                   ("fine_tune", samples[0], {"lr": 0.05, "batch_size": 16})):
        many = make_estimator(name, sn, weights, data, recal_samples=32, **options)
        scores = many.score_many(archs + archs[:1])
        one = [score(name, sn, weights, a, data, recal_samples=32, **options) for a in archs]
        assert scores == pytest.approx(one + one[:1], abs=1e-12), name
        assert many.calls == 3 and many.name == name


# ---------------------------------------------------------------------- fine-tuning
def test_fine_tune_trains_only_the_extracted_copy(tiny, data, monkeypatch):
    sn = polluted(tiny)
    arch = tiny.arch([0, 0, 1, 1, 0, 0, 2])
    weights = snapshot(sn)
    trained = []
    real = est.train
    monkeypatch.setattr(est, "train", lambda net, *a, **k: (trained.append(net), real(net, *a, **k))[1])
    options = dict(epochs=2, lr=0.05, batch_size=16, recal=True, recal_samples=32)
    tuned = score("fine_tune", sn, weights, arch, data, **options)
    assert len(trained) == 1
    net = trained[0]
    assert same_state(snapshot(sn), weights)  # shared weights untouched
    start = sn.extract(arch).state_dict()
    moved = [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert any(k.endswith("weight") for k in moved)
    assert tuned == accuracy(net, data.eval_set)  # scored with the recalibrated fine-tuned copy
    assert score("fine_tune", sn, weights, arch, data, **options) == tuned


# ---------------------------------------------------------------------- estimator_for
def test_estimator_for_steps_at_the_final_learning_rate(tiny, data, monkeypatch):
    sn, sampler = polluted(tiny), (lambda rng: tiny.sample(rng))
    config = TrainConfig(lr=0.2, final_lr_ratio=0.25, batch_size=16, weight_decay=1e-3)
    splits = DataSplits("r", data.train_set, data.eval_set, data.eval_set, 5, (1, 8, 8))
    drawn = []
    real = est.sgld_samples
    monkeypatch.setattr(est, "sgld_samples", lambda *a, **k: (drawn.append((a, k)), real(*a, **k))[1])
    ev = estimator_for("score_expectation", sn, splits, config, sampler, recal_samples=32, seed=2, num_samples=2)
    (args, kwargs), = drawn
    assert args[3] is sampler and args[4] == pytest.approx(0.05)  # alpha = lr * final_lr_ratio
    assert (kwargs["batch_size"], kwargs["weight_decay"], kwargs["seed"], kwargs["num_samples"]) == (16, 1e-3, 2, 2)
    assert len(ev.weights) == 2 and ev.recal_samples == 32 and ev.data.train_set is data.train_set
    tune = estimator_for("fine_tune", sn, splits, config)
    assert isinstance(tune, FineTune) and tune.config.lr == pytest.approx(0.05) and tune.config.batch_size == 16
    avg = running_average([snapshot(sn)])
    assert estimator_for("weight_averaging", sn, splits, config, averaged=avg).weights == [avg]
    with pytest.raises(EstimatorError, match="averaged weights"):
        estimator_for("weight_averaging", sn, splits, config)
    flat = TrainConfig(lr=0.1, final_lr_ratio=0.0)
    for name, rate in (("parameter_expectation", "alpha"), ("fine_tune", "lr")):
        with pytest.raises(EstimatorError,
                           match=rf"= 0: train with final_lr_ratio > 0 \(--final-lr-ratio 0.05\), or pass {rate}="):
            estimator_for(name, sn, splits, flat, sampler)
    assert estimator_for("fine_tune", sn, splits, flat, lr=0.01).config.lr == 0.01
    with pytest.raises(EstimatorError, match="choose one of"):
        estimator_for("sgld", sn, splits, config)
    single = estimator_for("single_checkpoint", sn, splits, config, recal_samples=32)
    arch = tiny.sample(3)
    assert single(arch) == score("single_checkpoint", sn, None, arch, data, recal_samples=32)


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
