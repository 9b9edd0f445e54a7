"""train(): loss goes down, history format, path-only updates, cosine schedule, seeding, optimizer groups."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset

import graphnas
from graphnas import ChoiceEdge, Node, SearchSpace, Stem, Supernet
from graphnas.nets.compile import edge_key
from graphnas.train.data import load_digits
from graphnas.train.samplers import UniformSampler
from graphnas.train.loop import TrainConfig, make_optimizer, train

HISTORY_KEYS = {"epoch", "loss", "accuracy", "lr", "seconds"}


def digits_space() -> SearchSpace:
    """4 nodes at 8 px, 10 classes (the digits), 2 * 2 * 2 * 2 = 16 architectures."""
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2), Node(3, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1")),
             ChoiceEdge(2, 3, "stem", ("identity", "mbconv_k3_e1"))]
    return SearchSpace("digits8", nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


@pytest.fixture(scope="module")
def digits():
    return load_digits(resolution=8)


@pytest.fixture(scope="module")
def small_train(digits):
    return Subset(digits.train, range(320))


def snapshot(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------- standalone network
def test_standalone_loss_goes_down_and_history_format(small_train):
    net = graphnas.nets.compile(digits_space().arch([0, 0, 1, 1]))
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.1)
    history = train(net, small_train, cfg, progress=False)
    assert len(history) == 3
    for k, h in enumerate(history):
        assert set(h) == HISTORY_KEYS
        assert h["epoch"] == k + 1
        assert 0.0 <= h["accuracy"] <= 1.0
        # accuracy is counted over whole batches of 32 (drop_last): a multiple of 1/320
        assert h["accuracy"] * 320 == pytest.approx(round(h["accuracy"] * 320))
        assert h["seconds"] >= 0.0
        assert math.isfinite(h["loss"]) and h["loss"] > 0
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[1]["loss"] < history[0]["loss"]
    assert history[0]["loss"] < math.log(10) + 0.2  # starts near chance, never blows up
    assert history[-1]["accuracy"] > history[0]["accuracy"]


def test_returns_to_train_mode_and_changes_weights(small_train):
    net = graphnas.nets.compile(digits_space().arch([1, 1, 0, 0]))
    net.eval()
    before = snapshot(net)
    train(net, Subset(small_train, range(64)), TrainConfig(epochs=1, batch_size=32), progress=False)
    assert net.training
    changed = [k for k, v in net.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed


# ---------------------------------------------------------------------- cosine schedule
@pytest.mark.parametrize("ratio", [0.0, 0.1])
def test_cosine_schedule(small_train, ratio):
    data = Subset(small_train, range(100))  # 100 // 32 = 3 steps per epoch (drop_last)
    net = graphnas.nets.compile(digits_space().arch([1, 0, 0, 0]))
    lr, epochs, per_epoch = 0.2, 2, 3
    history = train(net, data, TrainConfig(epochs=epochs, batch_size=32, lr=lr, final_lr_ratio=ratio),
                    progress=False)
    steps = epochs * per_epoch
    assert history[-1]["lr"] == pytest.approx(lr * ratio, abs=1e-12)
    # after epoch 1 (3 of 6 steps): halfway down the cosine
    mid = lr * (ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * per_epoch / steps)))
    assert history[0]["lr"] == pytest.approx(mid, rel=1e-9)


def test_make_optimizer_schedule_endpoints():
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    cfg = TrainConfig(lr=0.5, final_lr_ratio=0.2)
    opt, sched = make_optimizer(net, cfg, steps=4)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(6):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.5)
    assert lrs[2] == pytest.approx(0.5 * (0.2 + 0.8 * 0.5))
    assert lrs[4] == pytest.approx(0.1)
    assert lrs[5] == lrs[6] == pytest.approx(0.1)  # stays at the floor past the end
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


# ---------------------------------------------------------------------- optimizer groups
def test_make_optimizer_no_decay_on_1d_params(make_tiny):
    net = graphnas.nets.compile(make_tiny().sample(3))
    cfg = TrainConfig(weight_decay=1e-3, momentum=0.9, nesterov=True)
    opt, _ = make_optimizer(net, cfg, steps=10)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 1e-3 and no_decay["weight_decay"] == 0.0
    ids_decay = {id(p) for p in decay["params"]}
    ids_no = {id(p) for p in no_decay["params"]}
    assert not ids_decay & ids_no
    assert ids_decay | ids_no == {id(p) for p in net.parameters()}
    bn_params = {id(p) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 for p in m.parameters()}
    biases = {id(p) for n, p in net.named_parameters() if n.endswith(".bias")}
    convs = {id(m.weight) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert bn_params and biases and convs
    assert bn_params <= ids_no
    assert biases <= ids_no
    assert convs <= ids_decay
    assert all(p.ndim <= 1 for p in no_decay["params"])
    assert all(p.ndim > 1 for p in decay["params"])
    assert opt.defaults["momentum"] == 0.9 and opt.defaults["nesterov"] is True


def test_make_optimizer_nesterov_off_without_momentum():
    opt, _ = make_optimizer(nn.Linear(2, 2), TrainConfig(momentum=0.0, nesterov=True), steps=1)
    assert opt.defaults["nesterov"] is False


# ---------------------------------------------------------------------- supernet: path-only updates
class FixedSampler:
    """Always the same architecture (and counts the draws)."""

    def __init__(self, arch) -> None:
        self.arch, self.draws = arch, 0

    def __call__(self, rng: np.random.Generator):
        assert isinstance(rng, np.random.Generator)
        self.draws += 1
        return self.arch


def test_supernet_only_sampled_path_changes(small_train):
    space = digits_space()
    sn = Supernet(space)
    arch = space.arch([0, 0, 0, 1])  # mbconv_k3_e3, mbconv_k3_e3, none, mbconv_k3_e1
    sampler = FixedSampler(arch)
    before = snapshot(sn)
    data = Subset(small_train, range(96))
    history = train(sn, data, TrainConfig(epochs=2, batch_size=32, lr=0.1, weight_decay=1e-3), sampler=sampler,
                    progress=False)
    assert sampler.draws == 2 * 3 and len(history) == 2
    after = sn.state_dict()
    path_names = set(sn.path_modules(arch))
    on_path = {id(p) for p in sn.path_parameters(arch)}
    never = [f"body.0.edges.{edge_key(1)}.mbconv_k5_e3", f"body.0.edges.{edge_key(2)}.mbconv_k3_e1"]
    for prefix in never:
        keys = [k for k in after if k.startswith(prefix + ".")]
        assert keys
        for k in keys:  # parameters and BN statistics untouched, weight decay included
            assert torch.equal(after[k], before[k]), k
    # every trained parameter on the path moved
    for name, p in sn.named_parameters():
        if id(p) in on_path:
            assert not torch.equal(p.detach(), before[name]), name
        else:
            assert torch.equal(p.detach(), before[name]), name
    assert f"body.0.edges.{edge_key(3)}" in path_names


def test_uniform_sampler_trains_every_candidate(small_train):
    space = digits_space()
    sn = Supernet(space)
    before = snapshot(sn)
    sampler = UniformSampler(space)
    assert repr(sampler) == "UniformSampler(space='digits8')"
    train(sn, Subset(small_train, range(320)), TrainConfig(epochs=1, batch_size=16, lr=0.1), sampler=sampler,
          progress=False)
    for i, e in enumerate(space.edges):
        for op in e.candidates:
            if op in ("none", "identity"):
                continue
            w = f"body.0.edges.{edge_key(i)}.{op}"
            keys = [k for k in before if k.startswith(w + ".") and k.endswith("weight")]
            assert any(not torch.equal(sn.state_dict()[k], before[k]) for k in keys), w


# ---------------------------------------------------------------------- seeding
def _train_copy(model, data, seed, sampler=None):
    m = copy.deepcopy(model)
    train(m, data, TrainConfig(epochs=1, batch_size=32, lr=0.1, seed=seed), sampler=sampler, progress=False)
    return m.state_dict()


def test_same_seed_same_weights_different_seed_differs(small_train):
    data = Subset(small_train, range(128))
    space = digits_space()
    sn = Supernet(space)
    sampler = UniformSampler(space)
    a = _train_copy(sn, data, seed=3, sampler=sampler)
    torch.manual_seed(1234)  # global RNG state before the call must not matter
    b = _train_copy(sn, data, seed=3, sampler=sampler)
    c = _train_copy(sn, data, seed=4, sampler=sampler)
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_same_seed_same_history_standalone(small_train):
    data = Subset(small_train, range(128))
    net = graphnas.nets.compile(digits_space().arch([0, 1, 1, 1]))
    h = []
    for _ in range(2):
        m = copy.deepcopy(net)
        hist = train(m, data, TrainConfig(epochs=2, batch_size=32, seed=7), progress=False)
        h.append([(x["loss"], x["accuracy"], x["lr"]) for x in hist])
    assert h[0] == h[1]


# ---------------------------------------------------------------------- fit(): files, options, devices, CLI
def test_fit_writes_log_and_checkpoint_for_standalone(small_train, tmp_path):
    import json

    from graphnas.train.checkpoint import load_checkpoint, model_meta
    from graphnas.train.loop import CHECKPOINT, LOG, fit

    net = graphnas.nets.compile(digits_space().arch([0, 0, 1, 1]))
    res = fit(net, Subset(small_train, range(96)), TrainConfig(epochs=2, batch_size=32), progress=False,
              out=tmp_path / "run")
    assert res.step == res.total_steps == 6 and res.averaged_state_dict is None
    log = json.loads((tmp_path / "run" / LOG).read_text())
    assert log["history"] == res.history and log["world_size"] == 1 and log["step"] == 6
    blob = load_checkpoint(tmp_path / "run" / CHECKPOINT, model_meta(net))
    assert blob["meta"]["arch"] == net.arch.hash  # a standalone network is tied to its architecture
    assert all(torch.equal(blob["model"][k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=0.0), dict(momentum=1.0), dict(label_smoothing=1.0),
                                 dict(batch_size=1000)])
def test_bad_options_one_line(small_train, bad):
    net = graphnas.nets.compile(digits_space().arch([0, 0, 1, 1]))
    with pytest.raises(graphnas.GraphnasError) as info:
        train(net, small_train, TrainConfig(**bad), progress=False)
    assert "\n" not in str(info.value) and next(iter(bad)) in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("channels_last", [True, False])
def test_trains_on_the_models_device(small_train, channels_last):
    space = digits_space()
    sn = Supernet(space).to("cuda")
    history = train(sn, Subset(small_train, range(64)), TrainConfig(epochs=1, batch_size=32,
                    channels_last=channels_last), sampler=UniformSampler(space), progress=False)
    assert len(history) == 1 and math.isfinite(history[0]["loss"])
    assert all(p.device.type == "cuda" for p in sn.parameters())


TINY_SPACE_FILE = '''
from graphnas import ChoiceEdge, Node, SearchSpace, Stem

CPU_SCALE = {"resolution": 8}

def make_space(resolution=8, num_classes=10, in_channels=1):
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3"))]
    return SearchSpace("clitiny", nodes, edges, input_shape=(in_channels, resolution, resolution),
                       num_classes=num_classes, stem=Stem(8))
'''


def test_cli_train_resume_and_refusal(tmp_path, capsys):
    from graphnas.train.checkpoint import load_averaged
    from graphnas.cli.main import main

    space_file = tmp_path / "clitiny.py"
    space_file.write_text(TINY_SPACE_FILE)
    out = tmp_path / "run"
    args = ["train", "--space", str(space_file), "--epochs", "1", "--batch-size", "256", "--out", str(out),
            "--quiet", "--average-last-epoch", "--momentum", "0.9", "--label-smoothing", "0.1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "space clitiny" in printed and "averaged weights" in printed and "checkpoint.pt" in printed
    assert load_averaged(out / "checkpoint.pt")
    before = (out / "checkpoint.pt").read_bytes()
    assert main(args + ["--resume"]) == 0  # finished: nothing retrained or rewritten
    assert (out / "checkpoint.pt").read_bytes() == before
    capsys.readouterr()
    assert main(args[:-5] + ["--lr", "0.3", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphnas: error: checkpoint") and "\n" not in err and "lr 0.05 -> 0.3" in err
    assert main(args + ["--resume", str(tmp_path / "missing.pt")]) == 2
    assert main(["train", "--space", str(space_file), "--device", "tpu", "--quiet"]) == 2
    assert main(["train", "--space", str(space_file), "--sampler", "nope", "--quiet", "--out", str(tmp_path / "x")]) == 2
    assert 'sampler="nope" is not a choice' in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


def test_tools_train_supernet_wraps_cli():
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(__file__).parent.parent / "tools" / "train_supernet.py"
    proc = subprocess.run([sys.executable, str(tool), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--average-last-epoch" in proc.stdout and "--resume" in proc.stdout


def test_linear_schedule_and_resuming_a_checkpoint_written_before_the_option(tmp_path):
    """lr_schedule='linear' (SE-NAS): lr x (1 - t/T) per step, to lr x final_lr_ratio; a checkpoint that does not
    name the option (written before it existed) resumes as the default, cosine."""
    from graphnas.errors import CheckpointError, GraphnasError
    from graphnas.train.checkpoint import load_checkpoint, save_checkpoint
    from graphnas.train.loop import CHECKPOINT, fit
    from test_checkpoint import CONFIG, data, reference_run, supernet

    net = torch.nn.Linear(2, 2)
    opt, sched = make_optimizer(net, TrainConfig(lr=0.4, lr_schedule="linear"), steps=8)
    rates = []
    for _ in range(9):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates == pytest.approx([0.4 * (1 - t / 8) for t in range(9)])
    _, sched = make_optimizer(net, TrainConfig(lr=0.4, lr_schedule="linear", final_lr_ratio=0.5), steps=8)
    assert sched.lr_lambdas[0](4) == pytest.approx(0.75) and sched.lr_lambdas[0](8) == pytest.approx(0.5)
    with pytest.raises(GraphnasError, match="lr_schedule"):
        TrainConfig(lr_schedule="step").validate()
    reference_run(tmp_path)
    blob = load_checkpoint(tmp_path / CHECKPOINT)
    del blob["config"]["lr_schedule"]
    save_checkpoint(tmp_path / CHECKPOINT, blob)
    sn = supernet()
    result = fit(sn, data(), CONFIG, UniformSampler(sn.space), progress=False, out=tmp_path, resume=True,
                 average_last_epoch=True)
    assert result.step == result.total_steps  # accepted: finished, nothing to do
    with pytest.raises(CheckpointError, match="lr_schedule .cosine. -> 'linear'"):
        fit(supernet(), data(), TrainConfig(**{**CONFIG.to_dict(), "lr_schedule": "linear"}),
            UniformSampler(sn.space), progress=False, out=tmp_path, resume=True, average_last_epoch=True)
