"""Bad command-line input: every numeric flag with 0, -1, nan, inf, 1e309 or a 25-digit integer, and every output
path that is a folder, under a file, unwritable or too long, ends as exit status 2 with ONE stderr line
``graphnas: error: ...`` (argparse's refusals included: :class:`graphnas.cli.main.UsageError`), nothing on stdout, and
no work done first (no output written)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from graphnas.cli.main import main
from graphnas.checks import INT64_MAX, check_float, check_int, float_arg, int_arg
from graphnas.cost.limits import bound_value, make_limit, parse_count, parse_latency
from graphnas.errors import ConstraintError, GraphnasError
from graphnas.lookup import parse_limit
from graphnas.train.loop import TrainConfig
from graphnas.jobs import JobConfig, SearchConfig, TrainingConfig, run
from graphnas.options import with_values

ROOT = Path(__file__).resolve().parents[1]
HUGE = "1" + "0" * 24  # a 25-digit integer
LONG = "n" * 300  # a file name longer than any file system allows
FAST = ["--epochs", "1", "--budget", "2", "--strategy", "random", "--no-lookup", "--quiet"]

CASES = [
    # ------------------------------------------------------------------ output paths
    (["sample", "st_nas", "--out", "{dir}"], "is a folder"),
    (["sample", "st_nas", "--out", "{file}/a.json"], "is a file, not a folder"),
    (["sample", "st_nas", "--out", "/proc/x.json"], "cannot be"),
    (["sample", "st_nas", "--out", "{tmp}/" + LONG + ".json"], "too long"),
    (["train", "--out", "{file}", *FAST[:2]], "is a file, not a folder"),
    (["train", "--out", "{file}/sub", *FAST[:2]], "a parent of it is a file"),
    (["train", "--out", "/proc/r", *FAST[:2]], "cannot be made"),
    (["train", "--out", "{tmp}/" + LONG, *FAST[:2]], "cannot be made"),
    (["run", "--out", "{file}", *FAST], "is a file, not a folder"),
    (["run", "--out", "/proc/r", *FAST], "cannot be made"),
    (["run", "--out", "{tmp}/" + LONG, *FAST], "cannot be made"),
    (["search", "--checkpoint", "{tmp}/none.pt", "--out", "/proc/r", *FAST[2:]], "/proc/r"),
    (["render", "st_nas", "--random", "--out", "{dir}.svg"], "is a folder"),
    (["render", "st_nas", "--random", "--out", "{file}/p"], "is a file, not a folder"),
    (["render", "st_nas", "--random", "--out", "/proc/p"], "cannot be"),
    (["render", "st_nas", "--random", "--out", "{tmp}/" + LONG], "too long"),
    (["render", "st_nas", "--random", "--out", "{tmp}/.."], "names a folder"),
    (["render", "st_nas", "--random", "--out", "{tmp}/p", "--formats", "bmpx"], "unknown image format 'bmpx'"),
    (["lookup", "--table", "{tmp}/none.db", "--render", "{dir}.svg"], "is a folder"),
    (["lookup", "--table", "{tmp}/none.db", "--render", "{file}/best.svg"], "is a file, not a folder"),
    (["lookup", "--table", "{tmp}/none.db", "--render", "/proc/best.svg"], "cannot be"),
    (["lookup", "--table", "{tmp}/none.db", "--render", "{tmp}/best.xyz"], "unknown image format 'xyz'"),
    (["lookup", "--table", "{tmp}/none.db", "--plot", "{tmp}/t.xyz"], "use a .png, .svg or .pdf"),
    (["lookup", "--table", "{tmp}/none.db", "--plot", "{dir}.png"], "is a folder"),
    (["lookup", "--table", "{tmp}/none.db", "--plot", "/proc/t.png"], "cannot be"),
    (["lookup", "--table", "{tmp}/none.db", "--plot", "{tmp}/" + LONG + ".png"], "too long"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{dir}"], "is a folder"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{file}/x.db"], "is a file, not a folder"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "/proc/x.db"], "cannot be"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/" + LONG + ".db"], "too long"),
    (["latency", "validate", "--table", "{tmp}/none.db", "--plot", "{tmp}/v.xyz"], "use a .png, .svg or .pdf"),
    (["latency", "validate", "--table", "{tmp}/none.db", "--plot", "{dir}.png"], "is a folder"),
    (["latency", "validate", "--table", "{tmp}/none.db", "--plot", "/proc/v.png"], "cannot be"),
    # ------------------------------------------------------------------ seeds
    *[(argv + ["--seed", "-1"], "argument --seed: -1 is out of range") for argv in (
        ["run", "--out", "{tmp}/o", *FAST], ["search", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/o"],
        ["train", "--out", "{tmp}/o"], ["sample", "st_nas"], ["render", "st_nas", "--random"],
        ["latency", "validate", "--table", "{tmp}/none.db"], ["latency", "predict", "--table", "{tmp}/none.db",
                                                               "--random"])],
    (["sample", "st_nas", "--seed", HUGE], f"argument --seed: {HUGE} is too large"),
    (["sample", "st_nas", "--seed", "1.5"], "argument --seed: '1.5' is not an integer"),
    # ------------------------------------------------------------------ run / search
    (["run", "--out", "{tmp}/o", *FAST, "--budget", "0"], "argument --budget: 0 is out of range"),
    (["run", "--out", "{tmp}/o", *FAST, "--budget", "-1"], "argument --budget"),
    (["run", "--out", "{tmp}/o", *FAST, "--budget", HUGE], "is too large"),
    (["run", "--out", "{tmp}/o", *FAST, "--population", "0"], "argument --population"),
    (["search", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/o", "--population", "-1"], "argument --population"),
    (["run", "--out", "{tmp}/o", *FAST, "--madds", "1e309M"], "MAdds limit '1e309M' is too large (not a finite"),
    (["run", "--out", "{tmp}/o", *FAST, "--params", "1e400K"], "parameters limit '1e400K' is too large"),
    (["run", "--out", "{tmp}/o", *FAST, "--latency", "1e309ms"], "latency limit '1e309ms' is too large"),
    (["run", "--out", "{tmp}/o", *FAST, "--latency=-1ms"], "is negative"),
    (["run", "--out", "{tmp}/o", *FAST, "--madds", "nanM"], "not a number with a unit"),
    (["run", "--out", "{tmp}/o", *FAST, "--resolution", "0"], "argument --resolution: 0 is out of range"),
    (["run", "--out", "{tmp}/o", *FAST, "--resolution", "-16"], "argument --resolution"),
    (["run", "--out", "{tmp}/o", *FAST, "--resolution", HUGE], "argument --resolution"),
    (["run", "--out", "{tmp}/o", *FAST, "--batch-size", "0"], "argument --batch-size"),
    (["run", "--out", "{tmp}/o", *FAST, "--epochs", "0"], "argument --epochs"),
    (["run", "--out", "{tmp}/o", *FAST, "--lr", "inf"], "argument --lr: 'inf' is not a finite number"),
    (["run", "--out", "{tmp}/o", *FAST, "--lr", "nan"], "argument --lr"),
    (["run", "--out", "{tmp}/o", *FAST, "--lr", "1e309"], "argument --lr"),
    (["run", "--out", "{tmp}/o", *FAST, "--lr", "0"], "argument --lr: '0' is out of range; give a number in (0, 10]"),
    (["run", "--out", "{tmp}/o", *FAST[:-2], "--lookup-labels", HUGE], "argument --lookup-labels"),
    (["run", "--out", "{tmp}/o", *FAST[:-2], "--lookup-rows", HUGE], "argument --lookup-rows"),
    (["run", "--out", "{tmp}/o", *FAST[:-2], "--lookup-labels", "-1"], "lookup_labels=-1"),
    (["run", "--out", "{tmp}/o", *FAST, "--madds", "1K"], "cannot be met"),  # impossible: before training
    (["run", "--out", "{tmp}/o", *FAST, "--params", "0K"], "is zero"),
    (["run", "--out", "{tmp}/o", *FAST, "--lr", "1e24"], "argument --lr"),
    (["cost", "st_nas", "--arch", "{tmp}/" + LONG], "cannot be read"),
    (["cost", "st_nas", "--arch", "{dir}"], "is a folder"),
    (["sample", "st_nas", "--scale", "width=inf"], "scale argument width=inf is not a finite number"),
    (["sample", "st_nas", "--scale", "width=nan"], "scale argument width=nan is not a finite number"),
    (["sample", "st_nas", "--scale", "width=1e309"], "scale argument width=inf"),
    (["sample", "st_nas", "--scale", "resolution=" + HUGE], "is too large"),
    # ------------------------------------------------------------------ train
    (["train", "--out", "{tmp}/o", "--sampler", "stnas", "--sampler-option", "p_drop=nan"],
     "sampler option p_drop=nan is not a finite number"),
    (["train", "--out", "{tmp}/o", "--lr", HUGE], "argument --lr"),
    (["train", "--out", "{tmp}/o", "--weight-decay", "1"], "argument --weight-decay"),
    (["train", "--out", "{tmp}/o", "--lr", "inf"], "argument --lr"),
    (["train", "--out", "{tmp}/o", "--lr", "-0.1"], "argument --lr"),
    (["train", "--out", "{tmp}/o", "--momentum", "1"],
     "argument --momentum: '1' is out of range; give a number in [0, 1)"),
    (["train", "--out", "{tmp}/o", "--momentum", "nan"], "argument --momentum"),
    (["train", "--out", "{tmp}/o", "--weight-decay", "-1"], "argument --weight-decay"),
    (["train", "--out", "{tmp}/o", "--weight-decay", "inf"], "argument --weight-decay"),
    (["train", "--out", "{tmp}/o", "--label-smoothing", "1"], "argument --label-smoothing"),
    (["train", "--out", "{tmp}/o", "--label-smoothing", "-0.5"], "argument --label-smoothing"),
    (["train", "--out", "{tmp}/o", "--resolution", "0"], "argument --resolution"),
    (["train", "--out", "{tmp}/o", "--resolution", "-32"], "argument --resolution"),
    (["train", "--out", "{tmp}/o", "--batch-size", "0"], "argument --batch-size"),
    (["train", "--out", "{tmp}/o", "--epochs", "0"], "argument --epochs"),
    (["train", "--out", "{tmp}/o", "--epochs", "-3"], "argument --epochs"),
    (["train", "--out", "{tmp}/o", "--epochs", HUGE], "argument --epochs"),
    (["train", "--out", "{tmp}/o", "--checkpoint-every", "-1"], "argument --checkpoint-every"),
    # ------------------------------------------------------------------ latency
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--budget", "-1"], "argument --budget"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--budget", "inf"], "argument --budget"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--tolerance", "0"], "argument --tolerance"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--tolerance", "nan"], "argument --tolerance"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--tolerance", "-1"], "argument --tolerance"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--fit-networks", "-1"],
     "argument --fit-networks"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--fit-networks", HUGE],
     "argument --fit-networks"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--batch", HUGE], "argument --batch"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--threads", HUGE], "argument --threads"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/l.db", "--threads", "-1"], "threads must be"),
    (["latency", "validate", "--table", "{tmp}/none.db", "--archs", "0"], "argument --archs"),
    (["latency", "validate", "--table", "{tmp}/none.db", "--archs", "-1"], "argument --archs"),
    (["latency", "validate", "--table", "{tmp}/none.db", "--tolerance", "inf"], "argument --tolerance"),
    # ------------------------------------------------------------------ lookup
    (["lookup", "--table", "{tmp}/none.db", "--top", "0"], "argument --top"),
    (["lookup", "--table", "{tmp}/none.db", "--top", "-1"], "argument --top"),
    (["lookup", "--table", "{tmp}/none.db", "--top", HUGE], f"argument --top: {HUGE} is too large"),
    # ------------------------------------------------------------------ gcn search, lookup order, predict
    (["run", "--strategy", "gcn", "--segments", "7,x,6"], "--segments '7,x,6' must be positive sizes"),
    (["run", "--strategy", "gcn", "--segments", "7,0,6"], "--segments '7,0,6' must be positive sizes"),
    (["run", "--strategy", "gcn", "--top-k", "0"], "argument --top-k: 0 is out of range"),
    (["run", "--strategy", "gcn", "--select", "best"], "argument --select"),
    (["run", "--lookup-order", "best"], "argument --lookup-order"),
    (["predict", "--space", "nb201", "--labels", "{tmp}/none.json", "--out", "{tmp}/p.db"], "does not exist"),
    (["predict", "--space", "nb201", "--labels", "{tmp}/afile", "--out", "{tmp}/p.db"], "must end in .json or .csv"),
    (["predict", "--space", "nb201", "--labels", "x.json", "--out", "{tmp}/p.db", "--epochs", "0"],
     "argument --epochs"),
    (["predict", "--space", "darts", "--labels", "x.json", "--out", "{tmp}/p.db"], "in-degree constraints"),
    (["predict", "--space", "fairnas", "--labels", "x.json", "--out", "{tmp}/p.db"], "more than a lookup table"),
    # ------------------------------------------------------------------ argparse's own refusals: one line too
    (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ([], "the following arguments are required: command"),
    (["latency"], "the following arguments are required"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a)[:80] or "no-args" for a, _ in CASES])
def test_bad_flag_is_one_line_exit_2_and_no_work(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # defaults such as render's picture name land here
    folder, file = tmp_path / "adir", tmp_path / "afile"
    folder.mkdir()
    (tmp_path / "adir.svg").mkdir()
    (tmp_path / "adir.png").mkdir()
    file.write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main([a.format(tmp=tmp_path, dir=folder, file=file) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("graphnas: error: "), err
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written: no work started
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("tool, argv, message", [
    ("lookup.py", ["--table", "t.db", "--top", "0"], "argument --top"),
    ("search.py", ["--checkpoint", "c.pt", "--budget", "0"], "argument --budget"),
    ("render.py", ["st_nas", "--random", "--seed", "-1"], "argument --seed"),
    ("train_supernet.py", ["--lr", "inf"], "argument --lr"),
])
def test_tools_refuse_bad_flags_with_one_line(tool, argv, message, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / tool), *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("graphnas: error: ") and message in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- the library refuses the same values
@pytest.mark.parametrize("text", ["1e309M", "1e400K", "99999e999G"])
def test_count_limit_that_overflows_is_refused_not_unlimited(text):
    with pytest.raises(ConstraintError, match="too large"):
        parse_count(text, "MAdds")
    with pytest.raises(ConstraintError, match="too large"):
        parse_limit("madds", text)


@pytest.mark.parametrize("value", ["1e309ms", "1e306s", math.inf, float("nan"), -1.0, 10 ** 400, "-2ms"])
def test_latency_limit_not_finite_or_negative_is_refused(value):
    with pytest.raises(ConstraintError):
        bound_value("latency", value)
    with pytest.raises(ConstraintError):
        parse_limit("latency", value)
    with pytest.raises(ConstraintError):
        make_limit("latency", value, latency=object())


def test_one_parser_serves_limits_and_lookup_bounds():
    assert parse_latency("17ms") == bound_value("latency", "17ms") == parse_limit("latency", "17ms") == 17.0
    assert parse_limit("madds", "514.368K") == 514368.0 and make_limit("madds", "330M").value == 330e6
    assert bound_value("params", 5) == 5.0 and parse_limit("madds", 1) == 1.0
    with pytest.raises(ConstraintError, match="is negative"):
        parse_latency("-5ms")
    with pytest.raises(ConstraintError, match="not a number"):
        bound_value("madds", True)


@pytest.mark.parametrize("change, name", [
    (dict(lr=math.inf), "lr"), (dict(lr=math.nan), "lr"), (dict(lr=0.0), "lr"), (dict(lr=1e24), "lr"),
    (dict(weight_decay=math.inf), "weight_decay"), (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(momentum=1.0), "momentum"), (dict(momentum=math.nan), "momentum"),
    (dict(label_smoothing=1.0), "label_smoothing"), (dict(label_smoothing=-0.1), "label_smoothing"),
    (dict(grad_clip=math.inf), "grad_clip"), (dict(epochs=0), "epochs"), (dict(epochs=2.5), "epochs"),
    (dict(batch_size=0), "batch_size"), (dict(batch_size=True), "batch_size"), (dict(seed=-1), "seed"),
    (dict(final_lr_ratio=math.nan), "final_lr_ratio"),
])
def test_train_config_refuses_non_finite_and_out_of_range(change, name):
    with pytest.raises(GraphnasError, match=f"^training option {name}=") as info:
        TrainConfig(**change).validate()
    assert "\n" not in str(info.value)
    TrainConfig(grad_clip=None, momentum=0.9, label_smoothing=0.1).validate()


@pytest.mark.parametrize("change, match", [
    (dict(budget=0), "budget=0"), (dict(population=0), "population=0"), (dict(seed=-1), "seed=-1"),
    (dict(resolution=0), "resolution=0"), (dict(resolution=-8), "resolution=-8"),
    (dict(madds="1e309M"), "too large"), (dict(latency="1e309ms"), "too large"),
    (dict(lookup_rows=10 ** 23, lookup=True), "lookup_rows=100000000000000000000000 is too large"),
    (dict(train={"lr": math.inf}), "training option lr=inf"),
    (dict(train={"epochs": 0}), "training option epochs=0"),
    (dict(train={"lr": 1e24}), "training option lr=1e"),
    (dict(train={"epochs": "3"}), 'training option epochs="3" must be an integer'),
    (dict(strategy="annealing"), 'strategy="annealing" is not a choice'),
    (dict(estimator="guess"), 'estimator="guess" is not a choice'),
    (dict(sampler="greedy"), 'sampler="greedy" is not a choice'),
    (dict(madds="1K"), "cannot be met"), (dict(params=0), "is zero"), (dict(latency=math.inf), "too large"),
])
def test_run_config_is_checked_before_any_work(change, match, tmp_path):
    out = tmp_path / "run"
    tiny = JobConfig(training=TrainingConfig(train={"epochs": 1, "batch_size": 256}),
                     search=SearchConfig(budget=2, strategy="random", lookup=False), out=str(out), quiet=True)
    with pytest.raises(GraphnasError, match=match):  # tiny: should a check be missing, the job is short
        run(with_values(tiny, change))
    assert not out.exists()


def test_number_checks_and_argparse_types():
    assert check_int("n", 3, 1) == 3 and check_float("x", 0.5, 0, 1, hi_open=True) == 0.5
    assert int_arg(0)(str(INT64_MAX)) == INT64_MAX and float_arg(0, lo_open=True)("1e-3") == 1e-3
    for bad in (True, 1.0, "3", INT64_MAX + 1):
        with pytest.raises(GraphnasError):
            check_int("n", bad)
    for bad in (math.inf, -math.inf, math.nan, "0.1", None, 10 ** 400):
        with pytest.raises(GraphnasError):
            check_float("x", bad)


@pytest.mark.parametrize("scale, message", [
    ({"width": None}, "cannot be built at width=None"),
    ({"resolution": None}, "cannot be built at resolution=None"),
    ({"num_classes": None}, "cannot be built at num_classes=None"),
    ({"width": float("nan")}, "width=nan"),
    ({"width": float("inf")}, "width=inf"),
])
def test_a_scale_the_space_cannot_take_is_one_line(scale, message):
    import graphnas
    from graphnas.errors import SpaceError

    with pytest.raises(SpaceError, match=message) as info:
        graphnas.get_space("st_nas", **scale)
    assert "\n" not in str(info.value)
    assert graphnas.get_space("proxyless", resolution=32, head_channels=None).scale["head_channels"] is None
