"""`graphnas search`: search a supernet trained before (the checkpoint.pt of graphnas train or graphnas run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graphnas.jobs.setup as job_setup
from graphnas.train.checkpoint import save_checkpoint
from graphnas.cli.main import main

from test_train import TINY_SPACE_FILE

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny space trained one epoch by `graphnas train` with seed 3, averaging the last epoch."""
    tmp = tmp_path_factory.mktemp("search")
    space_file = tmp / "clitiny.py"
    space_file.write_text(TINY_SPACE_FILE)
    out = tmp / "train"
    assert main(["train", "--space", str(space_file), "--epochs", "1", "--batch-size", "256", "--out", str(out),
                 "--seed", "3", "--quiet", "--average-last-epoch"]) == 0
    return space_file, out / "checkpoint.pt"


def error_line(capsys, rc: int) -> str:
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().split("\n")) == 1, err
    return err.strip()


@pytest.mark.parametrize("strategy", ["gcn", "evolution"])
def test_search_a_trained_checkpoint(trained, tmp_path, capsys, monkeypatch, strategy):
    space_file, ckpt = trained
    seeds = []
    real = job_setup.load_dataset
    monkeypatch.setattr(job_setup, "load_dataset", lambda *a, **kw: seeds.append(kw["seed"]) or real(*a, **kw))
    out = tmp_path / "s"
    before = ckpt.read_bytes()
    assert main(["search", "--checkpoint", str(ckpt), "--space", str(space_file), "--strategy", strategy,
                 "--budget", "4", "--population", "2", "--madds", "1G", "--out", str(out), "--quiet",
                 "--no-lookup"]) == 0
    printed = capsys.readouterr().out
    assert f"supernet loaded from {ckpt}" in printed and "best architecture" in printed
    report = json.loads((out / "report.json").read_text())
    blob = torch.load(ckpt, weights_only=True)
    assert report["supernet"]["history"] == json.loads(json.dumps(blob["history"]))  # its training, not a new one
    assert report["files"]["supernet"] == str(ckpt) and not (out / "checkpoint.pt").exists()
    assert ckpt.read_bytes() == before
    assert seeds == [3]  # the data splits of the training run: no path is scored on images it trained on
    assert report["search"]["strategy"] == strategy and (out / "best_arch.json").is_file()


def test_nsga2_search_writes_its_front_and_resumes_from_its_history(trained, tmp_path, capsys):
    space_file, ckpt = trained
    out = tmp_path / "n"
    args = ["search", "--checkpoint", str(ckpt), "--space", str(space_file), "--strategy", "nsga2", "--objectives",
            "accuracy,madds,params", "--population", "2", "--generations", "2", "--levels", "100K,1G",
            "--madds", "1K:1G", "--out", str(out), "--quiet", "--no-lookup"]
    assert main(args) == 0
    first = json.loads((out / "report.json").read_text())
    front = json.loads((out / "front.json").read_text())
    assert front["objectives"] == ["accuracy", "madds", "params"] and first["search"]["evaluations"] == 4  # the whole space
    assert [p["level"] for p in front["picks"]] == [1e5, 1e9] and all(len(p["records"]) <= 2 for p in front["picks"])
    assert first["search"]["picks"] == front["picks"]  # the report's picks are at the job's levels
    assert (out / "front.png").read_bytes()[:4] == b"\x89PNG" and first["timings"]["scores_from_history"] == 0
    history = json.loads((out / "search_history.json").read_text())
    assert len(history["records"]) == 4 and history["meta"]["estimator"] == "single_checkpoint"
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0  # every score read back: the same search, nothing scored again
    again = json.loads((out / "report.json").read_text())
    assert again["timings"]["scores_from_history"] == 4
    assert again["search"]["front"] == first["search"]["front"] and again["best"] == first["best"]
    line = error_line(capsys, main(args[:1] + ["--checkpoint", str(ckpt), "--space", str(space_file), "--strategy",
                                               "nsga2", "--objectives", "accuracy,flops", "--out", str(tmp_path / "x")]))
    assert "unknown objective 'flops'" in line
    line = error_line(capsys, main(args[:1] + ["--checkpoint", str(ckpt), "--space", str(space_file), "--levels",
                                               "1M,2", "--out", str(tmp_path / "y")]))
    assert "MAdds limit '2' has no unit" in line and not (tmp_path / "y").exists()


def test_search_averaged_weights_and_the_checkpoint_of_a_run(trained, tmp_path, capsys):
    space_file, ckpt = trained
    common = ["--space", str(space_file), "--budget", "2", "--strategy", "random", "--quiet", "--no-lookup"]
    assert main(["search", "--checkpoint", str(ckpt), "--estimator", "weight_averaging", "--out", str(tmp_path / "a"),
                 *common]) == 0
    assert "(estimator weight_averaging)" in capsys.readouterr().out
    # graphnas run writes the same checkpoint.pt, searched the same way (its own seed recorded in it)
    assert main(["run", "--space", str(space_file), "--epochs", "1", "--batch-size", "256", "--budget", "2",
                 "--strategy", "random", "--out", str(tmp_path / "r"), "--quiet", "--no-lookup", "--seed", "5"]) == 0
    capsys.readouterr()
    weights = tmp_path / "r" / "checkpoint.pt"
    assert main(["search", "--checkpoint", str(weights), "--out", str(tmp_path / "b"), *common]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["supernet"]["history"] == json.loads((tmp_path / "r" / "report.json").read_text())["supernet"][
        "history"]
    capsys.readouterr()
    line = error_line(capsys, main(["search", "--checkpoint", str(weights), "--estimator", "weight_averaging",
                                    "--out", str(tmp_path / "c"), *common]))
    assert "holds no averaged weights" in line and "--average-last-epoch" in line


def test_search_bad_checkpoints_fail_with_one_line(trained, tmp_path, capsys):
    space_file, ckpt = trained
    common = ["--budget", "2", "--strategy", "random", "--quiet", "--no-lookup", "--out", str(tmp_path / "o")]
    line = error_line(capsys, main(["search", "--checkpoint", str(tmp_path / "nope.pt"), "--space", str(space_file),
                                    *common]))
    assert "does not exist" in line and "graphnas train" in line
    line = error_line(capsys, main(["search", "--checkpoint", str(ckpt), "--space", "nb201", *common]))
    assert 'was made for space "clitiny"' in line and "same --space" in line
    blob = torch.load(ckpt, weights_only=True)
    blob["epoch"] = 0
    unfinished = tmp_path / "unfinished.pt"
    save_checkpoint(unfinished, blob)
    line = error_line(capsys, main(["search", "--checkpoint", str(unfinished), "--space", str(space_file), *common]))
    assert "epoch 0 of 1" in line and "graphnas train --resume" in line
    blob = torch.load(ckpt, weights_only=True)
    blob["averaged_state_dict"] = None
    plain = tmp_path / "plain.pt"
    save_checkpoint(plain, blob)
    line = error_line(capsys, main(["search", "--checkpoint", str(plain), "--space", str(space_file), "--estimator",
                                    "weight_averaging", *common]))
    assert "no averaged weights" in line and "--average-last-epoch" in line
    (tmp_path / "junk.pt").write_bytes(b"junk")
    line = error_line(capsys, main(["search", "--checkpoint", str(tmp_path / "junk.pt"), "--space", str(space_file),
                                    *common]))
    assert "unreadable" in line
    assert not (tmp_path / "o").exists()  # nothing written before the checks


def test_tools_search_wraps_the_cli():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "search.py"), "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--checkpoint" in out and "--estimator" in out and "--strategy" in out


def test_too_few_lookup_labels_or_rows_fail_with_one_line_before_any_work(trained, tmp_path, capsys):
    space_file, ckpt = trained
    for flag, value in (("--lookup-labels", "4"), ("--lookup-rows", "1")):
        out = tmp_path / flag.strip("-")
        line = error_line(capsys, main(["run", "--space", str(space_file), flag, value, "--out", str(out), "--quiet"]))
        assert f"{flag.strip('-').replace('-', '_')}={value}" in line and "at least 8 labels and 2 rows" in line
        assert not out.exists()
