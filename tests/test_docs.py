"""The tutorials in docs/ run as written: every ```python block executes in order in one namespace."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("name", ["custom_space.md"])
def test_tutorial_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOCS / name)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, f"{name}", "exec"), namespace)
    space, arch = namespace["space"], namespace["arch"]
    assert space.num_edges == 7
    # stem edges: identity dropped on 2->3 (a reduction); branches 1->3 and 2->4 cross it and lose identity too
    assert space.size == (4 * 4 * 3 * 4) * (5 * 4 * 4)
    assert (tmp_path / "tutorial_arch.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert sum(1 for line in blocks[0].splitlines() if line.strip()) < 30


def test_tutorial_space_file_works_from_the_cli(tmp_path):
    """Block 1 saved as a file is a space the CLI accepts by path."""
    (tmp_path / "my_space.py").write_text(python_blocks(DOCS / "custom_space.md")[0])
    run = [sys.executable, "-m", "graphnas"]
    out = subprocess.run(run + ["sample", "my_space.py", "--seed", "3", "--out", "arch.json"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(run + ["cost", "my_space.py", "--arch", "arch.json"], cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert '"madds"' in out.stdout


# ------------------------------------------------------------------- tutorials that run end to end
def blocks_in_order(path: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of every ```python and ```bash block, in document order."""
    return re.findall(r"```(python|bash)\n(.*?)```", path.read_text(), flags=re.S)


def shell_commands(code: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.split("  #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def run_tutorial(name: str, cwd: Path, env_extra: dict | None = None) -> dict:
    """Run every block of ``docs/<name>`` in order in ``cwd``: python blocks in one namespace, bash commands with
    ``graphnas`` / ``torchrun`` / ``python`` as this interpreter runs them. Returns the namespace, with each
    command's stdout under ``_out``."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    swap = {"graphnas": [sys.executable, "-m", "graphnas"], "torchrun": [sys.executable, "-m", "torch.distributed.run"],
            "python": [sys.executable]}
    namespace: dict = {"_out": []}
    for lang, code in blocks_in_order(DOCS / name):
        if lang == "python":
            cwd_before = os.getcwd()
            os.chdir(cwd)
            try:
                exec(compile(code, name, "exec"), namespace)
            finally:
                os.chdir(cwd_before)
            continue
        for command in shell_commands(code):
            import shlex

            argv = shlex.split(command)
            argv = swap.get(argv[0], [argv[0]]) + argv[1:]
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"{name}: `{command}` failed:\n{done.stderr[-2000:]}"
            namespace["_out"].append((command, done.stdout))
    return namespace


def test_own_data_tutorial_goes_from_an_image_folder_to_an_exported_model(tmp_path):
    ns = run_tutorial("own_data.md", tmp_path)
    commands = [c for c, _ in ns["_out"]]
    assert [c.split()[1] for c in commands] == ["run", "retrain", "export", "report"]
    retrain = json.loads((tmp_path / "runs/photos_retrained/retrain.json").read_text())
    best = json.loads((tmp_path / "runs/photos/best_arch.json").read_text())
    assert retrain["hash"] == best["hash"] and retrain["data"]["input_shape"] == [3, 24, 24]
    assert retrain["data"]["name"] == "imagefolder" and retrain["data"]["num_classes"] == 10
    assert ns["meta"]["hash"] == best["hash"] and ns["logits"].shape == (1, 10)
    for page in ("runs/photos/report.html", "runs/photos_retrained/report.html"):
        assert (tmp_path / page).read_text().startswith("<!doctype html>")


def test_latency_table_tutorial(tmp_path):
    ns = run_tutorial("latency_table.md", tmp_path)
    assert [c.split()[1:3] for c, _ in ns["_out"]] == [["latency", "build"], ["latency", "validate"],
                                                         ["latency", "predict"]]
    report = json.loads((tmp_path / "runs/under_limit/report.json").read_text())
    assert report["best"]["latency_ms"] <= ns["limit"] + 0.01
    assert (tmp_path / "validate.png").read_bytes()[:4] == b"\x89PNG"


def test_lookup_tutorial(tmp_path):
    ns = run_tutorial("lookup.md", tmp_path)
    answers = json.loads(ns["_out"][-1][1])
    rows = answers["rows"] if isinstance(answers, dict) else answers
    assert len(rows) == 3 and (tmp_path / "table.png").read_bytes()[:4] == b"\x89PNG"
    assert ns["best"].latency <= float(ns["limit"][:-2]) and ns["arch"].hash == ns["best"].hash
    assert ns["best"].madds <= ns["madds"][len(ns["madds"]) // 2]


def test_retrain_export_tutorial(tmp_path):
    ns = run_tutorial("retrain_export.md", tmp_path)
    warm = json.loads((tmp_path / "runs/warm/retrain.json").read_text())
    assert warm["init"] == "supernet" and warm["supernet"].endswith("checkpoint.pt")
    assert ns["summary"]["hash"] == ns["row"].hash and ns["summary"]["scale"]["resolution"] == 20
    assert tuple(ns["model"](ns["x"]).shape) == (7, 10)
    assert (tmp_path / "runs/deploy/untrained.onnx").is_file()


def test_distributed_tutorial(tmp_path):
    ns = run_tutorial("distributed.md", tmp_path)
    log = json.loads((tmp_path / "runs/ddp/train_log.json").read_text())
    assert log["world_size"] == 2
    assert ns["report"]["best"]["hash"]
