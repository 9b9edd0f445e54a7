"""SE-NAS's merging and expanding: private weights per partial model, the staged training, exact resume, the job."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from graphnas import ChoiceEdge, GraphnasError, Node, SearchSpace, Stem, Supernet
from graphnas.cost.limits import make_limit
from graphnas.errors import ArchitectureError, CheckpointError, ConstraintError, SpaceError
from graphnas.search.senas import merge_groups
from graphnas.search.senas_stages import SENAS, stage_dir
from graphnas.train.data import load_digits
from graphnas.train.loop import CHECKPOINT, TrainConfig, make_optimizer
from graphnas.train.samplers import UniformSampler

OPS = ("mbconv_k3_e1", "mbconv_k3_e3", "mbconv_k5_e3")
TRAIN = 192
CONFIG = TrainConfig(epochs=4, batch_size=32, lr=0.05, lr_schedule="linear", seed=0)


def chain(n_edges: int = 4, name: str = "senas_tiny") -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(n_edges + 1)]
    edges = [ChoiceEdge(i, i + 1, "stem", OPS) for i in range(n_edges)]
    return SearchSpace(name, nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


def digits():
    data = load_digits(resolution=8)
    return Subset(data.train, range(TRAIN)), Subset(data.val, range(64))


# ---------------------------------------------------------------------- merging
def test_merging_joins_adjacent_layers_up_to_t_and_keeps_earlier_groups_whole():
    space = chain(5)  # 3 operators per edge
    assert merge_groups(space, [], 9) == [[0, 1], [2, 3]]  # 3 x 3 = 9 <= 9; edge 4 is left alone
    assert merge_groups(space, [], 8) == []  # no pair fits: every layer stays alone
    assert merge_groups(space, [], 3 ** 5) == [[0, 1, 2, 3, 4]]  # the whole space: every architecture its own
    sub = space.subspace(allowed={0: OPS[:1], 1: OPS[:1], 2: OPS[:2]})
    # sizes 1, 1, 2, 3, 3: an earlier group [2, 3] (now 6 partial models) stays whole inside the merge
    assert merge_groups(sub, [[2, 3]], 6) == [[0, 1, 2, 3]]
    assert merge_groups(sub, [[2, 3]], 18) == [[0, 1, 2, 3, 4]]
    assert merge_groups(sub, [[3, 4]], 2) == [[0, 1, 2], [3, 4]]  # a group above t stays as it was
    with pytest.raises(GraphnasError, match="t"):
        merge_groups(space, [], 0)


# ---------------------------------------------------------------------- private weights
def test_expanding_changes_no_output_and_partial_models_own_disjoint_weights():
    space = chain(4)
    torch.manual_seed(0)
    net = Supernet(space).eval()
    x = torch.randn(6, 1, 8, 8)
    archs = [space.sample(np.random.default_rng(k)) for k in range(6)]
    before = [net(x, a).detach() for a in archs]
    net.expand([(1, 2)])
    assert all(torch.equal(net(x, a), b) for a, b in zip(archs, before))
    counts = net.parameter_counts()
    assert counts["private"] > 0 and counts["total"] == sum(p.numel() for p in net.parameters())
    assert len(net.private["g1_2"]) == 9  # one copy per partial model of edges 1-2
    # a larger group built over a shrunk space copies the first group's weights: still the same outputs
    sub = space.subspace(allowed={1: OPS[:2], 3: OPS[1:]})
    kept = [space.from_ops(sub.sample(np.random.default_rng(k)).ops) for k in range(6)]
    outs = [net(x, a).detach() for a in kept]
    net.expand([(0, 1, 2, 3)], sub)
    assert len(net.private) == 1 and len(net.private["g0_1_2_3"]) == 3 * 2 * 3 * 2
    for a, o in zip(kept, outs):
        assert torch.equal(net(x, a), o)
        assert torch.equal(net(x, sub.from_parent(a)), o)  # an architecture of the subspace runs as the parent's
    # an architecture with an operator the expansion left out is refused, naming it
    gone = space.from_ops([OPS[0], OPS[2], OPS[0], OPS[0]])
    with pytest.raises(ArchitectureError, match="outside the space this supernet was expanded over"):
        net(x, gone)
    # training one partial model leaves another's private weights (and the shared ops it does not run) unchanged
    net.train()
    a, b = kept[0], next(k for k in kept if k.ops[:4] != kept[0].ops[:4])
    snapshot = {k: v.clone() for k, v in net.state_dict().items()}
    opt, _ = make_optimizer(net, TrainConfig(lr=0.5, weight_decay=0.0), 1)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x, a), torch.arange(6) % 10).backward()
    opt.step()
    state = net.state_dict()
    changed = {k for k in state if not torch.equal(state[k], snapshot[k])}
    mine = {f"private.g0_1_2_3.{_combo(space, a)}."}
    assert any(k.startswith(tuple(mine)) for k in changed)
    assert not any(k.startswith(f"private.g0_1_2_3.{_combo(space, b)}.") for k in changed)
    assert not any(".edges.e0." in k or ".edges.e1." in k or ".edges.e2." in k or ".edges.e3." in k for k in changed)
    extracted = net.eval().extract(a)
    assert torch.equal(extracted(x), net(x, a))


def _combo(space, arch) -> str:
    return "c" + "_".join(str(arch.choices[i]) for i in range(4))


def test_bad_groups_and_cell_spaces_are_one_line_each():
    space = chain(4)
    net = Supernet(space)
    for groups, match in [([(0,)], "two or more"), ([(0, 1), (1, 2)], "share an edge"), ([(0, 9)], "not a choice")]:
        with pytest.raises(ArchitectureError, match=match):
            net.expand(groups)
    net.expand([(0, 1)])
    with pytest.raises(ArchitectureError, match="groups only grow"):
        net.expand([(1, 2)])
    with pytest.raises(SpaceError, match="not 'senas_tiny' or a subspace"):
        net.expand([(0, 1, 2)], chain(4, "other"))
    from graphnas.space.registry import get_space

    nb = Supernet(get_space("nb201", resolution=8, channels=4, cells_per_stage=1))
    with pytest.raises(SpaceError, match="repeats its cell"):
        nb.expand([(0, 1)])


# ---------------------------------------------------------------------- the stages
def _senas(space, val, **options) -> SENAS:
    return SENAS(space, val, **{**dict(stages=2, stage_epochs=1, k=3, t=9, samples=3, images=32), **options},
                 progress=False)


def _train(out, stop=None, resume=False, **options):
    space = chain(4)
    train, val = digits()
    torch.manual_seed(0)
    net = Supernet(space)
    se = _senas(space, val, **options)
    result = se.train(net, train, CONFIG, out, resume=resume, checkpoint_every=3, stop_after_steps=stop)
    return net, se, result


def test_stages_shrink_merge_expand_and_share_one_schedule(tmp_path):
    net, se, result = _train(tmp_path / "a")
    assert se.stage == 2 and len(se.log) == 3 and result.step == result.total_steps == 4 * (TRAIN // 32)
    assert [h["stage"] for h in result.history] == [0, 0, 1, 2]
    # one linear schedule over the 4 epochs: lr x (1 - e/4) at the end of each epoch
    assert [h["lr"] for h in result.history] == pytest.approx([0.05 * (1 - e / 4) for e in (1, 2, 3, 4)])
    for s in (1, 2):
        entry = se.log[s]
        assert len(entry["removed"]) == 3 and entry["scores"]["mode"] == "si_sc"
        assert all(len(ops) >= 1 for ops in entry["allowed"].values())  # no edge loses its last operator
    assert se.space.size == np.prod([len(ops) for ops in se.log[-1]["allowed"].values()]) < 3 ** 4
    assert net.groups == [tuple(g) for g in se.groups] and se.log[-1]["params"] == net.parameter_counts()
    # the shared weights stay as they were; private copies come and (with partial models shrunk away) go
    assert se.log[0]["params"]["private"] == 0 and {e["params"]["shared"] for e in se.log} == {
        se.log[0]["params"]["total"]}
    assert (tmp_path / "a" / CHECKPOINT).exists() and json.loads((tmp_path / "a" / "train_log.json").read_text())[
        "stages"] == 2


# 6 steps an epoch, checkpoints every 3: in the warm-up (12 steps); in stage 1 before its first checkpoint (the boundary
# is scored again) and after it; in stage 2
@pytest.mark.parametrize("stop", [5, 13, 16, 22])
def test_a_run_killed_anywhere_resumes_to_the_same_space_groups_and_weights(tmp_path, stop):
    ref, se_ref, _ = _train(tmp_path / "ref")
    _train(tmp_path / "run", stop=stop)
    net, se, result = _train(tmp_path / "run", resume=True)
    assert se.log[-1]["allowed"] == se_ref.log[-1]["allowed"] and se.groups == se_ref.groups
    a, b = ref.state_dict(), net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["stage"] for h in result.history] == [0, 0, 1, 2]


def test_bad_options_an_unmeetable_limit_and_another_strategys_checkpoint(tmp_path):
    space = chain(4)
    train, val = digits()
    for options, match in [(dict(k=0), "k \\(operators removed"), (dict(t=0), "t \\(largest"),
                           (dict(mode="x"), "mode"), (dict(score_with="estimator"), "needs an evaluator")]:
        with pytest.raises(GraphnasError, match=match):
            _senas(space, val, **options)
    with pytest.raises(ConstraintError, match="cannot be met"):
        SENAS(space, val, [make_limit("madds", "1K")], progress=False)
    with pytest.raises(GraphnasError, match="--epochs above stages x stage_epochs"):
        _senas(space, val).train(Supernet(space), train, TrainConfig(epochs=2), tmp_path / "few")
    from graphnas.train.loop import fit

    fit(Supernet(space), train, TrainConfig(epochs=1, batch_size=32), UniformSampler(space), progress=False,
        out=stage_dir(tmp_path / "u", 0))
    with pytest.raises(CheckpointError, match="not written by an SE-NAS run"):
        _senas(space, val).train(Supernet(space), train, CONFIG, tmp_path / "u", resume=True)
    _train(tmp_path / "s", stop=4)
    with pytest.raises(CheckpointError, match="other settings \\(k differ"):
        _train(tmp_path / "s", resume=True, k=2)


def test_a_damaged_senas_state_is_one_checkpoint_error_line(tmp_path):
    _, se, _ = _train(tmp_path / "a")
    good = se.state_dict()
    se.check_state(good, "ckpt.pt")
    damage = {
        "not a dict": lambda s: [1],
        "extra key": lambda s: {**s, "x": 1},
        "stage too high": lambda s: {**s, "stage": 7},
        "stage a bool": lambda s: {**s, "stage": True},
        "log short": lambda s: {**s, "log": s["log"][:2]},
        "op not in space": lambda s: _entry(s, 2, allowed={**s["log"][2]["allowed"], "0": ["conv_9x9"]}),
        "op back again": lambda s: _entry(s, 2, allowed={**s["log"][2]["allowed"], "0": list(OPS)}),
        "edge emptied": lambda s: _entry(s, 2, allowed={**s["log"][2]["allowed"], "1": []}),
        "removed mismatch": lambda s: _entry(s, 1, removed=[]),
        "group too big": lambda s: _entry(s, 2, groups=[[0, 1, 2, 3]], allowed={str(e): list(OPS) for e in range(4)}),
        "group overlap": lambda s: _entry(s, 2, groups=[[0, 1], [1, 2]]),
        "group not an edge": lambda s: _entry(s, 2, groups=[[0, 8]]),
        "params negative": lambda s: _entry(s, 1, params={"total": -1}),
        "history not a list": lambda s: _entry(s, 0, history="x"),
        "scores at stage 0": lambda s: _entry(s, 0, scores={}),
        "other t": lambda s: {**s, "options": {**s["options"], "t": 5}},
    }
    for name, bad in damage.items():
        with pytest.raises(CheckpointError, match="ckpt.pt") as err:
            se.check_state(bad(copy.deepcopy(good)), "ckpt.pt")
        assert "\n" not in str(err.value), name


def _entry(state, stage, **changes):
    log = [dict(e) for e in state["log"]]
    log[stage] = {**log[stage], **changes}
    return {**state, "log": log}


# ---------------------------------------------------------------------- the job
def test_graphnas_run_strategy_senas_and_a_search_of_its_checkpoint(tmp_path, capsys):
    from graphnas.cli.main import main
    from test_train import TINY_SPACE_FILE

    space_file = tmp_path / "clitiny.py"
    space_file.write_text(TINY_SPACE_FILE)
    out = tmp_path / "run"
    common = ["--space", str(space_file), "--quiet", "--no-lookup", "--population", "4", "--generations", "2"]
    options = ["--strategy-option", "stages=1", "stage_epochs=1", "k=2", "t=4", "samples=2", "images=32"]
    assert main(["run", *common, "--strategy", "senas", "--epochs", "2", "--batch-size", "64", *options,
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    se = report["search"]["senas"]
    assert report["config"]["search"]["estimator"] == "weight_averaging"
    assert report["config"]["training"]["train"]["lr_schedule"] == "linear"
    assert len(se["stages"]) == 2 and len(se["stages"][1]["removed"]) == 2 and se["parameters"]["total"] > 0
    assert (out / "senas.png").read_bytes()[:4] == b"\x89PNG" and str(out / "senas.png") in report["files"]["pictures"]
    best = report["best"]["ops"]
    allowed = se["stages"][-1]["allowed"]
    assert all(best[int(e)] in ops for e, ops in allowed.items())  # the pick is of the shrunk space
    again = tmp_path / "again"  # any strategy searches the shrunk space of an SE-NAS checkpoint
    assert main(["search", "--checkpoint", str(out / "checkpoint.pt"), *common, "--strategy", "random",
                 "--out", str(again)]) == 0
    picked = json.loads((again / "report.json").read_text())["best"]["ops"]
    assert all(picked[int(e)] in ops for e, ops in allowed.items())
    capsys.readouterr()
    uniform = tmp_path / "uniform"
    assert main(["train", "--space", str(space_file), "--quiet", "--epochs", "1", "--out", str(uniform)]) == 0
    assert main(["search", "--checkpoint", str(uniform / "checkpoint.pt"), *common, "--strategy", "senas",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "was not trained by SE-NAS" in err
    for bad, match in [(["--epochs", "1"], "--epochs above stages"), (["--strategy-option", "k=0"], "k"),
                       (["--strategy-option", "t=0"], "t"), (["--strategy-option", "x=1"], "unknown senas option"),
                       (["--resume", "some.pt"], "resumes from its own stage checkpoints"),
                       (["--madds", "1K"], "cannot be met")]:
        assert main(["run", *common, "--strategy", "senas", *bad, "--out", str(tmp_path / "y")]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and match in err, (bad, err)


def test_a_repeated_pairs_flag_adds_its_pairs():
    from graphnas.cli.main import _job_config, build_parser

    args = build_parser().parse_args(["run", "--strategy", "senas", "--strategy-option", "stages=1",
                                      "--strategy-option", "k=2", "t=4", "--scale", "width=0.5", "--scale",
                                      "resolution=8"])
    config = _job_config(args, "run")
    assert config.search.strategy_options == {"stages": 1, "k": 2, "t": 4}
    assert config.setup.scale == {"width": 0.5, "resolution": 8}
