"""Data parallelism under torchrun: 2 CPU processes (gloo) against one process on the same global batches.

Also the worker: ``torchrun --standalone --nproc_per_node 2 tests/test_distributed.py OUT`` trains a
BN-free toy supernet and a real (BN) supernet and shards an evaluation, saving each rank's results.

Tolerances. The toy supernet has no batch norm, so 2 ranks x 8 samples with averaged gradients is the
same mathematics as 1 process x 16 samples: only float rounding differs (the per-rank means and the
all-reduce sum in another order), hence ``atol=1e-5``. The real supernet normalises each rank's shard
with that shard's own BN statistics (no SyncBatchNorm), so its forward pass, not only its rounding,
differs from the single process: there we check equality across ranks (bitwise) and closeness to the
single-process run only loosely (``atol=0.05`` on weights of magnitude ~0.1-1 after 4 steps at lr 0.1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from graphnas import ChoiceEdge, Node, SearchSpace, Stem, Supernet
from graphnas.train import distributed as dist
from graphnas.train import loop
from graphnas.estimate.estimators import make_estimator
from graphnas.train.samplers import UniformSampler
from graphnas.train.loop import CHECKPOINT, LOG, TrainConfig, fit

TOY = TrainConfig(epochs=2, batch_size=16, lr=0.1, momentum=0.9, seed=8)
SN = TrainConfig(epochs=1, batch_size=16, lr=0.1, seed=3)
CHOICES = 4


class ToySupernet(nn.Module):
    """Two choice layers of ``CHOICES`` linear candidates each; no batch norm. ``arch``: a tuple of 2 indices."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(64, 16)
        self.layers = nn.ModuleList(nn.ModuleList(nn.Linear(16, 16) for _ in range(CHOICES)) for _ in range(2))
        self.head = nn.Linear(16, 10)

    def forward(self, x, arch):
        h = torch.relu(self.stem(x.flatten(1)))
        for layer, c in zip(self.layers, arch):
            h = torch.relu(layer[c](h))
        return self.head(h)

    def path_parameters(self, arch):
        mods = [self.stem, self.head] + [layer[c] for layer, c in zip(self.layers, arch)]
        return [p for m in mods for p in m.parameters()]


def toy_sampler(rng):
    return tuple(int(v) for v in rng.integers(0, CHOICES, 2))


def space() -> SearchSpace:
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1"))]
    return SearchSpace("dist3", nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


def dataset(n: int = 64) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))


def models():
    torch.manual_seed(0)
    toy = ToySupernet()
    sn = Supernet(space())
    return toy, sn


def archs():
    return [space().sample(i) for i in range(5)]


def worker(out: Path) -> None:
    """One rank of the 2-process run."""
    torch.set_num_threads(1)
    toy, sn = models()
    real_save = loop.save_checkpoint
    loop.save_checkpoint = lambda path, blob: (time.sleep(1.0), real_save(path, blob))  # rank 0 writes late
    result = fit(toy, dataset(), TOY, toy_sampler, progress=False, out=out / "toy")
    loop.save_checkpoint = real_save
    seen_step = torch.load(result.checkpoint, weights_only=True)["step"]  # what a rank reads on return
    fit(sn, dataset(), SN, UniformSampler(sn.space), progress=False)
    r = dist.rank()
    torch.save({"toy": toy.state_dict(), "sn": sn.state_dict()}, out / f"rank{r}.pt")
    data = (dataset(), Subset(dataset(), range(32)))
    evaluator = make_estimator("single_checkpoint", sn, None, data, recal_samples=32)
    scores = dist.evaluate_many(archs(), evaluator)
    estimator, scored = make_estimator("single_checkpoint", sn, None, data, recal_samples=32), []
    real = estimator._score
    estimator._score = lambda part, bar: (scored.extend(a.hash for a in part), real(part, bar))[1]
    many = estimator.score_many(archs() + archs()[:2])  # sharded, gathered; repeats scored once
    local = [make_estimator("single_checkpoint", sn, None, data, recal_samples=32)(a) for a in archs()]
    (out / f"eval{r}.json").write_text(json.dumps({"scores": scores, "mine": len(evaluator.cache),
                                                   "world": dist.world_size(), "many": many, "scored": scored,
                                                   "calls": estimator.calls, "local": local, "seen_step": seen_step}))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           __file__, str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]
    evals = [json.loads((out / f"eval{r}.json").read_text()) for r in range(2)]
    return out, ranks, evals


def single_process():
    torch.set_num_threads(1)
    toy, sn = models()
    drawn = []
    fit(toy, dataset(), TOY, lambda rng: drawn.append(toy_sampler(rng)) or drawn[-1], progress=False)
    fit(sn, dataset(), SN, UniformSampler(sn.space), progress=False)
    return toy.state_dict(), sn.state_dict(), drawn


def test_weights_identical_across_ranks(two_ranks):
    _, (a, b), _ = two_ranks
    for part in ("toy", "sn"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            if "running_" in k:  # BN statistics are per rank (each rank's own shard)
                continue
            assert torch.equal(a[part][k], b[part][k]), (part, k)


def test_toy_equals_single_process(two_ranks):
    _, (a, _), _ = two_ranks
    toy, _, drawn = single_process()
    init = models()[0].state_dict()
    for k in toy:
        torch.testing.assert_close(a["toy"][k], toy[k], rtol=1e-4, atol=1e-5)
    used = {(i, c) for arch in drawn for i, c in enumerate(arch)}
    unused = [(i, c) for i in range(2) for c in range(CHOICES) if (i, c) not in used]
    assert unused and len(drawn) == 8  # 2 epochs x 4 global batches; seed 8 leaves 3 candidates unused
    for i, c in unused:  # never on a path: not communicated, not updated, bitwise the initial weights
        for name in ("weight", "bias"):
            key = f"layers.{i}.{c}.{name}"
            assert torch.equal(a["toy"][key], init[key]), key


def test_bn_supernet_close_to_single_process(two_ranks):
    _, (a, _), _ = two_ranks
    _, sn, _ = single_process()
    moved = 0
    for k, v in sn.items():
        if v.is_floating_point() and "running_" not in k:
            torch.testing.assert_close(a["sn"][k], v, rtol=0, atol=0.05)
            moved += not torch.equal(a["sn"][k], v)
    assert moved  # BN on the path: the two runs really differ a little


def test_only_rank0_writes_and_logs_global_history(two_ranks):
    out, _, evals = two_ranks
    assert sorted(p.name for p in (out / "toy").iterdir()) == sorted([CHECKPOINT, LOG])
    blob = torch.load(out / "toy" / CHECKPOINT, weights_only=True)
    assert blob["world_size"] == 2 and len(blob["torch_rng"]) == 2 and blob["step"] == 8
    # fit returns on every rank only once rank 0 has written the final checkpoint (the job hashes it next)
    assert [e["seen_step"] for e in evals] == [8, 8]
    log = json.loads((out / "toy" / LOG).read_text())
    assert len(log["history"]) == 2
    for h in log["history"]:  # accuracy over both ranks' samples: a multiple of 1/64
        assert h["accuracy"] * 64 == pytest.approx(round(h["accuracy"] * 64))


def test_evaluate_many_sharded_and_gathered(two_ranks):
    _, _, evals = two_ranks
    assert evals[0]["scores"] == evals[1]["scores"] and len(evals[0]["scores"]) == 5
    assert [e["mine"] for e in evals] == [3, 2]  # items 0, 2, 4 on rank 0; 1, 3 on rank 1
    assert all(e["world"] == 2 for e in evals)
    assert all(0.0 <= s <= 1.0 for s in evals[0]["scores"])


def test_score_many_sharded_over_ranks(two_ranks):
    _, _, evals = two_ranks
    distinct = list(dict.fromkeys(a.hash for a in archs()))  # archs() repeats one: 4 distinct of 5
    assert len(distinct) == 4
    assert [e["scored"] for e in evals] == [distinct[0::2], distinct[1::2]]  # each rank its share, in one batch
    for e in evals:
        assert e["many"] == e["scores"] + e["scores"][:2]  # the full ordered list on every rank
        assert e["many"][:5] == e["local"]  # what one process alone gives
        assert e["calls"] == 4


def test_single_process_is_noop():
    assert not dist.init() and not dist.is_distributed()
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    assert dist.evaluate_many(range(4), lambda v: v + 1) == [1, 2, 3, 4]
    assert dist.all_reduce_sum([1, 2.5]) == [1.0, 2.5]
    assert dist.all_gather_objects({"a": 1}) == [{"a": 1}]
    p = nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    assert dist.all_reduce_grads([p, nn.Parameter(torch.ones(2))]) == 1 and torch.equal(p.grad, torch.full((3,), 2.0))


def test_batch_must_split_over_ranks(monkeypatch):
    from graphnas import GraphnasError

    monkeypatch.setattr(dist, "world_size", lambda: 3)
    monkeypatch.setattr(dist, "init", lambda device=None: True)
    toy, _ = models()
    with pytest.raises(GraphnasError, match="does not split over 3 processes"):
        fit(toy, dataset(), TOY, toy_sampler, progress=False)


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
    dist.finish(0)


PCNAS_FILES = ["pcnas.png", "pcnas_pool_1.dot", "pcnas_pool_1.svg", "pcnas_pool_2.dot", "pcnas_pool_2.svg"]


ARGS = {"random": ["--epochs", "1", "--budget", "4"],
        "pcnas": ["--epochs", "3", "--strategy-option", "samples=3", "pool=2", "batch_size=8"],
        "senas": ["--epochs", "3", "--strategy-option", "stages=1", "stage_epochs=1", "k=1", "t=4", "samples=2",
                  "images=16", "--budget", "4", "--population", "2"]}
FILES = {"random": ["search_history.json"], "pcnas": PCNAS_FILES,
         "senas": ["search_history.json", "senas", "senas.png"]}


@pytest.mark.parametrize("strategy", ["random", "pcnas", "senas"])
def test_the_job_under_torchrun_trains_and_searches_on_every_rank_and_writes_on_rank_0(tmp_path, strategy):
    """`torchrun -m graphnas run`: one checkpoint, one job.json, one report and history, the search's lines printed
    once; the search's scoring is sharded over the ranks, so both must run it in lockstep to finish (PC-NAS's
    potentials and SE-NAS's operator scores too, during training)."""
    from test_train import TINY_SPACE_FILE

    space_file = tmp_path / "clitiny.py"
    space_file.write_text(TINY_SPACE_FILE)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "graphnas", "run", "--space", str(space_file), "--batch-size", "64", "--no-lookup",
                           "--quiet", "--out", str(out), "--strategy", strategy, *ARGS[strategy]],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best architecture") == 1
    report = json.loads((out / "report.json").read_text())
    blob = torch.load(out / "checkpoint.pt", weights_only=True)
    assert blob["world_size"] == 2 and report["files"]["supernet"] == str(out / "checkpoint.pt")
    assert json.loads((out / "job.json").read_text()) == report["config"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted([
        "best_arch.dot", "best_arch.json", "best_arch.png", "best_arch.svg", "checkpoint.pt", "front.json",
        "front.png", "job.json", "report.html", "report.json", "train_log.json"] + FILES[strategy])
    if strategy == "random":
        assert report["search"]["evaluations"] == 4
    elif strategy == "senas":  # one stage: one operator removed, the same on both ranks (else they would not finish)
        assert len(blob["sampler_state"]["log"]) == 2 and len(report["search"]["senas"]["stages"][1]["removed"]) == 1
        assert sorted(p.name for p in (out / "senas").iterdir()) == ["stage_0", "stage_1"]
    else:  # a pool of 2 complete architectures; every potential's mini-batches scored once over the two ranks
        assert report["search"]["evaluations"] == 2 and len(blob["sampler_state"]["log"]) == 2
        assert report["search"]["pcnas"]["validation_images"] == (2 * 3 + 2 * 2 * 3 + 2 * 3) * 8
