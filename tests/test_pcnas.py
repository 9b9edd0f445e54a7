"""PC-NAS: the pool update on a space whose potentials are known, limits on completions, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from graphnas import ChoiceEdge, GraphnasError, Node, SearchSpace, Stem, Supernet
from graphnas.cost.limits import Limit
from graphnas.errors import CheckpointError, ConstraintError
from graphnas.search.pcnas import PCNAS
from graphnas.train.data import load_digits
from graphnas.train.loop import CHECKPOINT, TrainConfig, fit

OPS = ("mbconv_k3_e1", "mbconv_k3_e3", "mbconv_k5_e3")


def chain(n_edges: int = 3, name: str = "pcnas_tiny") -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(n_edges + 1)]
    edges = [ChoiceEdge(i, i + 1, "stem", OPS) for i in range(n_edges)]
    return SearchSpace(name, nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


def val_set(n: int = 64):
    return Subset(load_digits(resolution=8).val, range(n))


class Lexicographic:
    """A synthetic score: choice c on edge i adds c * 10**(-2 i), so earlier edges dominate and every potential
    is known up to the free edges' share (< 0.03 of edge 0's step). Records what it scored."""

    def __init__(self):
        self.seen = []

    def value(self, arch) -> float:
        return sum(c * 10.0 ** (-2 * i) for i, c in enumerate(arch.choices)) / 3

    def __call__(self, model, archs, images, labels):
        self.seen.extend(archs)
        return [self.value(a) for a in archs]


def test_pool_update_keeps_the_extensions_of_highest_potential():
    space, score = chain(), Lexicographic()
    pc = PCNAS(space, val_set(), pool=2, samples=30, warmup=1, interval=1, batch_size=8, score=score, progress=False)
    assert pc.num_levels == 3 and pc.epochs == 4
    pc.update_pool(None)  # edge 0: the top 2 of its 3 candidates
    assert pc.pool.tolist() == [[2, -1, -1], [1, -1, -1]]
    first = pc.log[0]
    assert first["kept"] == [2, 1] and first["counts"] == [30, 30, 30]
    for e, op in enumerate(first["ops"]):  # potential = fixed share + the mean of the free edges' share
        assert first["potentials"][e] == pytest.approx(op / 3 + (0.01 + 0.0001) / 3, abs=0.004)
    pc.update_pool(None)  # edge 1: 2 x 3 extensions, the best pool member's two best
    assert pc.pool.tolist() == [[2, 2, -1], [2, 1, -1]] and pc.log[1]["parents"] == [0, 0, 0, 1, 1, 1]
    pc.update_pool(None)
    assert pc.pool.tolist() == [[2, 2, 2], [2, 2, 1]]
    ranked = pc.ranking(None)
    assert [list(a.choices) for a, _ in ranked] == [[2, 2, 2], [2, 2, 1]]
    assert ranked[0][1] == pytest.approx(score.value(ranked[0][0]))
    assert pc.images == (3 * 30 + 6 * 30 + 6 * 30 + 2 * 30) * 8
    # training draws: uniform before the first boundary, then a pool member completed at random
    rng = np.random.default_rng(0)
    assert {tuple(pc(rng).choices[:3]) for _ in range(50)} <= {(2, 2, 2), (2, 2, 1)}


def test_completions_outside_the_limit_are_never_scored_or_counted():
    space, score = chain(), Lexicographic()
    limit = Limit("choices", 4.0, lambda a: float(sum(a.choices)))  # sum of choices <= 4: (2, 2, x) needs x = 0
    pc = PCNAS(space, val_set(), [limit], pool=2, samples=10, warmup=1, interval=1, batch_size=8, score=score,
               progress=False)
    while pc.level < pc.num_levels:
        pc.update_pool(None)
    ranked = pc.ranking(None)
    assert score.seen and all(sum(a.choices) <= 4 for a in score.seen)
    assert all(sum(a.choices) <= 4 for a, _ in ranked) and list(ranked[0][0].choices) == [2, 2, 0]
    last = pc.log[-1]  # complete extensions: a feasible one counts S times, an infeasible one never
    assert sorted(set(last["counts"])) == [0, 10]
    assert all(last["counts"][k] == 10 for k in last["kept"])


def test_bad_options_and_an_unmeetable_limit_fail_before_training():
    space = chain()
    for key, value in (("pool", 0), ("samples", -1), ("warmup", 0), ("interval", 1.5)):
        with pytest.raises(GraphnasError, match=key if key != "samples" else "samples"):
            PCNAS(space, val_set(), **{key: value})
    never = Limit("choices", -1.0, lambda a: float(sum(a.choices)))
    with pytest.raises(ConstraintError, match="choices"):
        PCNAS(space, val_set(), [never], samples=2)


CONFIG = TrainConfig(epochs=1, batch_size=32, lr=0.1, momentum=0.9, nesterov=True, seed=3)
TRAIN = 128  # 4 steps per epoch


class Killed(Exception):
    pass


def _run(out, kill_scores: int | None = None, stop_after: int | None = None, resume: bool = False):
    """PC-NAS on a 3-edge space: warm-up 1 epoch, 3 intervals of 1 epoch (16 steps)."""
    space = chain()
    torch.manual_seed(0)
    net = Supernet(space)
    calls = []

    def score(model, archs, images, labels):
        calls.append(len(archs))
        if kill_scores is not None and len(calls) > kill_scores:
            raise Killed
        return pc._supernet_score(model, archs, images, labels)

    pc = PCNAS(space, val_set(), pool=2, samples=4, warmup=1, interval=1, batch_size=16, save_every=1, score=score,
               progress=False)
    config = TrainConfig(**{**CONFIG.to_dict(), "epochs": pc.epochs})
    train = Subset(load_digits(resolution=8).train, range(TRAIN))
    try:
        fit(net, train, config, pc, progress=False, out=out, resume=resume, stop_after_steps=stop_after,
            checkpoint_every=1)
    except Killed:
        pass
    return net, pc


def test_a_run_killed_anywhere_resumes_to_the_same_pool_and_weights(tmp_path):
    ref_net, ref = _run(tmp_path / "ref")
    assert ref.level == 3 and len(ref.pool) == 2
    images, reference = ref.images, ref.ranking(ref_net)
    for name, kw in (("warmup", {"stop_after": 2}), ("interval", {"stop_after": 6}),
                     ("potentials", {"kill_scores": 6})):  # boundary 1 (6 extensions) dies after 2 mini-batches
        out = tmp_path / name
        _, killed = _run(out, **kw)
        assert (out / CHECKPOINT).exists()
        if name == "potentials":
            state = torch.load(out / CHECKPOINT, weights_only=True)["sampler_state"]
            assert state["pending"] is not None and 0 < state["pending"]["done"] < 4
        net, pc = _run(out, resume=True)
        assert pc.pool.tolist() == ref.pool.tolist() and pc.log == ref.log and pc.images == images
        for k, v in ref_net.state_dict().items():
            assert torch.equal(v, net.state_dict()[k]), (name, k)
        assert [(a.hash, p) for a, p in pc.ranking(net)] == [(a.hash, p) for a, p in reference]


def test_resume_refuses_another_strategy_or_other_pcnas_options(tmp_path):
    from graphnas.train.samplers import UniformSampler

    space = chain()
    train = Subset(load_digits(resolution=8).train, range(TRAIN))
    torch.manual_seed(0)
    fit(Supernet(space), train, TrainConfig(**{**CONFIG.to_dict(), "epochs": 4}), UniformSampler(space),
        progress=False, out=tmp_path / "u")
    pc = PCNAS(space, val_set(), pool=2, samples=4, warmup=1, interval=1, progress=False)
    with pytest.raises(CheckpointError, match="not written by a PC-NAS run"):
        fit(Supernet(space), train, TrainConfig(**{**CONFIG.to_dict(), "epochs": 4}), pc, progress=False,
            out=tmp_path / "u", resume=True)
    _run(tmp_path / "p", stop_after=6)
    other = PCNAS(space, val_set(), pool=3, samples=4, warmup=1, interval=1, batch_size=16, progress=False)
    with pytest.raises(CheckpointError, match="other settings \\(pool differ"):
        fit(Supernet(space), train, TrainConfig(**{**CONFIG.to_dict(), "epochs": 4}), other, progress=False,
            out=tmp_path / "p", resume=True)


def test_the_job_runs_pcnas_and_a_search_ranks_its_checkpoint_again(tmp_path, capsys):
    """`graphnas run --strategy pcnas`: the pool trained in, ranked, drawn; `graphnas search` of its checkpoint
    gives the same ranking; a uniform checkpoint or too few epochs are one line each."""
    import json

    from graphnas.cli.main import main
    from test_train import TINY_SPACE_FILE

    space_file = tmp_path / "clitiny.py"
    space_file.write_text(TINY_SPACE_FILE)
    out = tmp_path / "run"
    common = ["--space", str(space_file), "--quiet", "--no-lookup", "--madds", "1G"]
    args = ["run", *common, "--strategy", "pcnas", "--epochs", "3", "--batch-size", "64", "--strategy-option",
            "samples=3", "pool=1", "batch_size=16", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    pc = report["search"]["pcnas"]
    assert report["search"]["strategy"] == "pcnas" and report["search"]["evaluations"] == 1  # a pool of one
    assert pc["options"]["warmup"] == 1 and pc["options"]["samples"] == 3 and pc["validation_images"] > 0
    assert (out / "pcnas.png").read_bytes()[:4] == b"\x89PNG" and (out / "pcnas_pool_1.svg").exists()
    job = json.loads((out / "job.json").read_text())
    assert job["training"]["sampler"] == "uniform" and job["search"]["strategy_options"]["samples"] == 3
    again = tmp_path / "again"
    assert main(["search", "--checkpoint", str(out / "checkpoint.pt"), *common, "--strategy", "pcnas", "--out",
                 str(again)]) == 0
    assert json.loads((again / "report.json").read_text())["best"]["hash"] == report["best"]["hash"]
    trained = tmp_path / "trained"  # `graphnas train --strategy pcnas` trains the same pool
    assert main(["train", "--space", str(space_file), "--quiet", "--madds", "1G", "--strategy", "pcnas", "--epochs", "3",
                 "--batch-size", "64", "--strategy-option", "samples=3", "pool=1", "batch_size=16", "--out",
                 str(trained)]) == 0
    blob = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert blob["sampler_state"]["pool"].tolist() == torch.load(out / "checkpoint.pt", weights_only=True)[
        "sampler_state"]["pool"].tolist()
    capsys.readouterr()
    uniform = tmp_path / "uniform"
    assert main(["train", "--space", str(space_file), "--quiet", "--epochs", "1", "--out", str(uniform)]) == 0
    assert main(["search", "--checkpoint", str(uniform / "checkpoint.pt"), *common, "--strategy", "pcnas",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "was not trained by PC-NAS" in err
    assert main(["run", *common, "--strategy", "pcnas", "--epochs", "2", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--epochs 3 or more" in err
    assert main(["run", *common, "--strategy", "evolution", "--strategy-option", "samples=3", "--out",
                 str(tmp_path / "z")]) == 2
    assert "--strategy-option is for pcnas" in capsys.readouterr().err


def test_a_damaged_pcnas_state_is_one_checkpoint_error_line():
    """Every field of the pool state read back from a checkpoint is checked: a bad one is a CheckpointError naming
    the file, never another exception."""
    import copy

    space = chain()
    pc = PCNAS(space, val_set(), pool=2, samples=3, warmup=1, interval=1, batch_size=8, score=Lexicographic(),
               progress=False)
    pc.update_pool(None)
    good = pc.state_dict()
    pc.check_state(good, "ckpt.pt")  # a state it wrote passes
    damage = {
        "not a dict": lambda s: [1, 2],
        "no options": lambda s: {k: v for k, v in s.items() if k != "options"},
        "extra key": lambda s: {**s, "x": 1},
        "level too high": lambda s: {**s, "level": 9},
        "level a bool": lambda s: {**s, "level": True},
        "pool float": lambda s: {**s, "pool": s["pool"].double()},
        "pool out of range": lambda s: {**s, "pool": torch.full_like(s["pool"], 7)},
        "pool fixes too few": lambda s: {**s, "pool": torch.full_like(s["pool"], -1)},
        "pool too big": lambda s: {**s, "pool": s["pool"].repeat(3, 1)},
        "images negative": lambda s: {**s, "images": -1},
        "log short": lambda s: {**s, "log": []},
        "log potential string": lambda s: {**s, "log": [{**s["log"][0], "potentials": ["a"] * 3}]},
        "log kept out of range": lambda s: {**s, "log": [{**s["log"][0], "kept": [99]}]},
        "pending wrong shape": lambda s: {**s, "pending": {"key": [1], "done": 1,
                                                          "scores": torch.zeros(2, dtype=torch.float64)}},
        "pending nan": lambda s: {**s, "pending": {"key": [1], "done": 1, "scores": torch.full(
            (6, 3), float("nan"), dtype=torch.float64)}},
        "pending done past S": lambda s: {**s, "pending": {"key": [1], "done": 4, "scores": torch.zeros(
            (6, 3), dtype=torch.float64)}},
        "other samples": lambda s: {**s, "options": {**s["options"], "samples": 5}},
    }
    for name, bad in damage.items():
        with pytest.raises(CheckpointError, match="ckpt.pt") as err:
            pc.check_state(bad(copy.deepcopy(good)), "ckpt.pt")
        assert "\n" not in str(err.value), name
    ok = {**copy.deepcopy(good), "pending": {"key": [1], "done": 2, "scores": torch.zeros((6, 3), dtype=torch.float64)}}
    pc.check_state(ok, "ckpt.pt")  # a boundary in progress
