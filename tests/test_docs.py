"""The tutorials in docs/ run as written: every ```python block executes in order in one namespace."""

from __future__ import annotations

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
