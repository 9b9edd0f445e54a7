"""Checkpoints: exact resume (in process and after SIGKILL), weight averaging, refusal of foreign files.

Also a script: ``python tests/test_checkpoint.py OUT`` trains the reference run slowly into ``OUT``
(the SIGKILL test launches it, kills it once a checkpoint exists, and resumes here).
"""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import Subset

from graphnas import ChoiceEdge, GraphnasError, Node, SearchSpace, Stem, Supernet
from graphnas.train.checkpoint import FORMAT, load_averaged, load_checkpoint, model_meta
from graphnas.train.data import load_digits
from graphnas.errors import CheckpointError
from graphnas.train.samplers import UniformSampler
from graphnas.train.loop import CHECKPOINT, LOG, TrainConfig, fit

#: momentum and label smoothing on, so optimizer state and every option go through the checkpoint
CONFIG = TrainConfig(epochs=3, batch_size=32, lr=0.1, momentum=0.9, nesterov=True, label_smoothing=0.1, seed=5)
SAMPLES = 192  # 6 steps per epoch, 18 in all


def space(name: str = "digits8") -> SearchSpace:
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2), Node(3, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1")),
             ChoiceEdge(2, 3, "stem", ("identity", "mbconv_k3_e1"))]
    return SearchSpace(name, nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


def data():
    return Subset(load_digits(resolution=8).train, range(SAMPLES))


def supernet(seed: int = 0) -> Supernet:
    torch.manual_seed(seed)
    return Supernet(space())


class SlowSampler(UniformSampler):
    """Uniform, but sleeps before each draw so that a test can kill the run in the middle."""

    def __call__(self, rng):
        time.sleep(0.15)
        return super().__call__(rng)


def reference_run(out, **kw):
    sn = supernet()
    result = fit(sn, data(), CONFIG, UniformSampler(sn.space), progress=False, out=out, average_last_epoch=True,
                 checkpoint_every=2, **kw)
    return sn, result


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory.mktemp("ref"))


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def strip_seconds(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


# ---------------------------------------------------------------------- exact resume
@pytest.mark.parametrize("stop", [5, 6, 13])  # mid-epoch, at an epoch end, inside the averaged last epoch
def test_resume_is_bitwise_exact(reference, tmp_path, stop):
    ref_net, ref = reference
    first = supernet()
    part = fit(first, data(), CONFIG, UniformSampler(first.space), progress=False, out=tmp_path,
               average_last_epoch=True, checkpoint_every=2, stop_after_steps=stop)
    assert part.step == stop and part.total_steps == 18
    saved = load_checkpoint(tmp_path / CHECKPOINT)
    assert saved["step"] == (stop - 1) // 2 * 2  # the last save before the stop (never at the stop itself)
    resumed_net = supernet(seed=99)  # other initial weights: all must come from the checkpoint
    res = fit(resumed_net, data(), CONFIG, UniformSampler(resumed_net.space), progress=False, out=tmp_path,
              resume=True, average_last_epoch=True, checkpoint_every=2)
    assert res.start_step == saved["step"] and res.step == 18
    assert_same_state(resumed_net.state_dict(), ref_net.state_dict())
    assert_same_state(res.averaged_state_dict, ref.averaged_state_dict)
    assert strip_seconds(res.history) == strip_seconds(ref.history)


def test_resume_after_sigkill(reference, tmp_path):
    ref_net, ref = reference
    proc = subprocess.Popen([sys.executable, __file__, str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    ckpt = tmp_path / CHECKPOINT
    deadline = time.monotonic() + 60
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), proc.stderr.read().decode()
    killed_at = load_checkpoint(ckpt)["step"]
    assert 0 < killed_at < 18  # killed in the middle, not after the end
    net = supernet(seed=7)
    res = fit(net, data(), CONFIG, UniformSampler(net.space), progress=False, out=tmp_path, resume=True,
              average_last_epoch=True, checkpoint_every=2)
    assert res.start_step == killed_at
    assert_same_state(net.state_dict(), ref_net.state_dict())
    assert_same_state(res.averaged_state_dict, ref.averaged_state_dict)


def test_resume_finished_run_changes_nothing(reference, tmp_path):
    ref_net, ref = reference
    sn, first = reference_run(tmp_path)
    before = (tmp_path / CHECKPOINT).read_bytes()
    net = supernet(seed=3)
    again = fit(net, data(), CONFIG, UniformSampler(net.space), progress=False, out=tmp_path, resume=True,
                average_last_epoch=True, checkpoint_every=2)
    assert again.start_step == again.step == 18
    assert again.history == first.history
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert_same_state(net.state_dict(), ref_net.state_dict())


def test_resume_without_checkpoint_starts_fresh(tmp_path, capsys):
    net = supernet()
    res = fit(net, Subset(data(), range(64)), TrainConfig(epochs=1, batch_size=32), UniformSampler(net.space),
              progress=False, out=tmp_path, resume=True)
    assert res.start_step == 0 and res.step == 2
    assert f"no checkpoint at {tmp_path / CHECKPOINT}; starting from scratch" in capsys.readouterr().err
    assert (tmp_path / CHECKPOINT).is_file() and (tmp_path / LOG).is_file()


def test_resume_named_missing_file_fails(tmp_path):
    net = supernet()
    with pytest.raises(GraphnasError, match="does not exist") as info:
        fit(net, data(), CONFIG, UniformSampler(net.space), progress=False, resume=tmp_path / "nope.pt")
    assert "\n" not in str(info.value) and "nope.pt" in str(info.value)


# ---------------------------------------------------------------------- format
def test_checkpoint_contents_load_weights_only(reference):
    ref_net, ref = reference
    path = ref.checkpoint
    blob = torch.load(path, map_location="cpu", weights_only=True)
    assert blob["format"] == FORMAT and blob["version"] == 1
    assert blob["step"] == 18 and blob["epoch"] == 3 and blob["world_size"] == 1
    assert blob["meta"] == model_meta(ref_net) == {"space": "digits8", "fingerprint": ref_net.space.fingerprint,
                                                   "scale": dict(ref_net.space.scale)}
    assert blob["config"] == {**CONFIG.to_dict(), "average_last_epoch": True, "train_samples": SAMPLES}
    assert blob["sampler_rng"]["bit_generator"] == "PCG64"
    assert isinstance(blob["torch_rng"][0], torch.Tensor)
    assert blob["history"] == ref.history and len(blob["history"]) == 3
    assert blob["average"] is None  # dropped once averaged
    assert_same_state(blob["model"], ref_net.state_dict())
    assert_same_state(load_averaged(path, model_meta(ref_net)), ref.averaged_state_dict)
    log = __import__("json").loads((path.parent / LOG).read_text())
    assert log["history"] == ref.history and log["step"] == 18


def test_averaged_is_mean_over_last_epoch(tmp_path):
    class Recording(UniformSampler):
        def __init__(self, space, net):
            super().__init__(space)
            self.net, self.snaps = net, []

        def __call__(self, rng):
            self.snaps.append({n: t.detach().double().clone() for n, t in self.net.state_dict().items()})
            return super().__call__(rng)

    net = supernet()
    sampler = Recording(net.space, net)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.1)
    res = fit(net, Subset(data(), range(96)), cfg, sampler, progress=False, average_last_epoch=True)
    # weights after steps 4, 5 (seen by the draws of steps 5, 6) and after step 6 (final)
    after = sampler.snaps[4:] + [{n: t.detach().double() for n, t in net.state_dict().items()}]
    assert len(after) == 3
    avg = res.averaged_state_dict
    for name, value in net.state_dict().items():  # WeightAverager's rule: floating tensors averaged,
        if value.is_floating_point():             # BN running statistics included; counters are the last
            mean = sum(s[name] for s in after) / 3
            torch.testing.assert_close(avg[name].double(), mean, rtol=0, atol=1e-6)
        else:
            assert torch.equal(avg[name], value)
    copy.deepcopy(net).load_state_dict(avg)  # a complete state dict
    assert any(not torch.equal(avg[n], p) for n, p in net.named_parameters())


def test_load_averaged_refuses_run_without_averaging(tmp_path):
    net = supernet()
    fit(net, Subset(data(), range(64)), TrainConfig(epochs=1, batch_size=32), UniformSampler(net.space),
        progress=False, out=tmp_path)
    with pytest.raises(CheckpointError, match="--average-last-epoch"):
        load_averaged(tmp_path / CHECKPOINT)


# ---------------------------------------------------------------------- refusals: one line, nothing lost
def _refused(tmp_path, make_file, model=None, config=CONFIG, match=None):
    make_file(tmp_path / CHECKPOINT)
    before = (tmp_path / CHECKPOINT).read_bytes()
    net = model or supernet()
    with pytest.raises(CheckpointError, match=match) as info:
        fit(net, data(), config, UniformSampler(net.space), progress=False, out=tmp_path, resume=True,
            average_last_epoch=True, checkpoint_every=2)
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / CHECKPOINT) in msg
    assert "delete it" in msg and "--out" in msg
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert not (tmp_path / LOG).exists()
    return msg


def test_refuses_corrupt_and_truncated(reference, tmp_path):
    assert "unreadable" in _refused(tmp_path / "a", lambda p: (p.parent.mkdir(), p.write_bytes(b"garbage")))
    whole = reference[1].checkpoint.read_bytes()
    assert "unreadable" in _refused(tmp_path / "b", lambda p: (p.parent.mkdir(), p.write_bytes(whole[:len(whole) // 2])))


def test_refuses_a_file_of_another_format(tmp_path):
    """One checkpoint format: a weights-only file (graphnas before issue 13 wrote supernet.pt so) is refused."""
    from graphnas.train.checkpoint import save_checkpoint

    msg = _refused(tmp_path, lambda p: save_checkpoint(p, {"state_dict": supernet().state_dict(),
                                                           "meta": {"space": "digits8"}}), match="not a graphnas")
    assert "training checkpoint" in msg


def test_refuses_other_space_and_config(reference, tmp_path):
    whole = reference[1].checkpoint.read_bytes()

    def copy_ref(p):
        p.parent.mkdir()
        p.write_bytes(whole)

    torch.manual_seed(0)
    other = Supernet(space("other"))
    msg = _refused(tmp_path / "a", copy_ref, model=other, match='was made for space "digits8"')
    assert "not 'other'" in msg
    from dataclasses import replace

    msg = _refused(tmp_path / "b", copy_ref, config=replace(CONFIG, lr=0.05), match="other training options")
    assert "lr 0.1 -> 0.05" in msg


if __name__ == "__main__":  # the run the SIGKILL test interrupts
    torch.set_num_threads(1)
    net = supernet()
    fit(net, data(), CONFIG, SlowSampler(net.space), progress=False, out=Path(sys.argv[1]),
        average_last_epoch=True, checkpoint_every=2)
