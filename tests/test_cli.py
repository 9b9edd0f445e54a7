"""The command line, in-process (``graphnas.cli.main``) and through ``python -m graphnas``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import graphnas
from graphnas import arch_cost
from graphnas.cli.main import main

ST_NAS_SIZE = 3316237953983866431531 * 10 ** 33

TINY_SPACE = '''
from graphnas import ChoiceEdge, Node, SearchSpace, Stem


def make_space(resolution=16, num_classes=10, in_channels=1):
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    ops = ("mbconv_k3_e3", "identity")
    edges = [ChoiceEdge(0, 1, "stem", ops), ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3",)),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e3"))]
    return SearchSpace("tiny", nodes, edges, input_shape=(in_channels, resolution, resolution),
                       num_classes=num_classes, stem=Stem(8))
'''


def one_error_line(capsys, rc: int) -> str:
    """Assert the CLI's bad-input contract: status 2, exactly one stderr line 'graphnas: error: ...'."""
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("graphnas: error: ")
    return lines[0]


@pytest.fixture
def arch_file(tmp_path, capsys) -> Path:
    path = tmp_path / "arch.json"
    assert main(["sample", "st_nas", "--seed", "1", "--out", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    return path


def edit_json(src: Path, dst: Path, **changes) -> Path:
    data = json.loads(src.read_text())
    for key, value in changes.items():
        if callable(value):
            value(data)
        else:
            data[key] = value
    dst.write_text(json.dumps(data))
    return dst


# ---------------------------------------------------------------------- good input
def test_spaces_lists_st_nas_with_exact_size(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.split()[0] == "st_nas")
    assert f"(exact: {ST_NAS_SIZE})" in line
    assert "54 choice edges (19 stem, 35 branch)" in line
    assert graphnas.get_space("st_nas").size == ST_NAS_SIZE


def test_spaces_json(capsys):
    assert main(["spaces", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    st = next(r for r in rows if r["name"] == "st_nas")
    assert st["size"] == ST_NAS_SIZE
    assert st["topologies"] == 2 ** 35
    low, high = st["madds"]
    assert 0 < low < high


def test_sample_then_cost(arch_file, capsys):
    data = json.loads(arch_file.read_text())
    assert data["space"] == "st_nas" and len(data["ops"]) == 54
    space = graphnas.get_space("st_nas")
    arch = space.from_json(arch_file.read_text())
    assert arch == space.sample(1)
    assert main(["cost", "st_nas", "--arch", str(arch_file)]) == 0
    cost = json.loads(capsys.readouterr().out)
    assert cost["hash"] == arch.hash
    assert cost["madds"] > 0 and cost["params"] > 0
    assert cost["madds"] == arch_cost(arch).madds
    assert cost["params"] == arch_cost(arch).params
    assert cost["scale"]["resolution"] == 224


def test_cost_at_another_scale(arch_file, capsys):
    assert main(["cost", "st_nas", "--scale", "resolution=32", "width=0.25", "stem_stride=1",
                 "head_channels=none", "num_classes=10", "in_channels=1", "--arch", str(arch_file)]) == 0
    small = json.loads(capsys.readouterr().out)
    space = graphnas.get_space("st_nas", resolution=32, width=0.25, stem_stride=1, head_channels=None,
                               num_classes=10, in_channels=1)
    arch = space.from_json(arch_file.read_text())
    assert small["madds"] == arch_cost(arch).madds
    assert small["scale"]["head_channels"] is None and small["scale"]["width"] == 0.25


def test_sample_prints_json_and_is_seeded(capsys):
    assert main(["sample", "st_nas", "--seed", "4"]) == 0
    first = capsys.readouterr().out
    assert main(["sample", "st_nas", "--seed", "4"]) == 0
    assert capsys.readouterr().out == first
    assert json.loads(first)["choices"] == list(graphnas.get_space("st_nas").sample(4).choices)


def test_render_random_svg(tmp_path, capsys):
    out = tmp_path / "pic"
    assert main(["render", "st_nas", "--random", "--seed", "0", "--out", str(out), "--formats", "svg"]) == 0
    printed = capsys.readouterr().out.split()
    svg = out.with_suffix(".svg")
    assert svg.is_file() and out.with_suffix(".dot").is_file()
    assert not out.with_suffix(".png").exists()
    assert str(svg) in printed
    text = svg.read_text()
    assert "<svg" in text
    assert graphnas.get_space("st_nas").sample(0).hash in text


def test_render_space_default_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.py"
    path.write_text(TINY_SPACE)
    assert main(["render", str(path), "--formats", "svg"]) == 0
    assert (tmp_path / "tiny_space.svg").is_file()
    assert "1 ops | none" in (tmp_path / "tiny_space.dot").read_text()


def test_py_file_space_with_scale(tmp_path, capsys):
    path = tmp_path / "tiny.py"
    path.write_text(TINY_SPACE)
    out = tmp_path / "a.json"
    assert main(["sample", str(path), "--scale", "resolution=8", "--seed", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["cost", str(path), "--arch", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["madds"] > 0


# ---------------------------------------------------------------------- bad input: one line, status 2
def test_unknown_space(capsys):
    line = one_error_line(capsys, main(["sample", "no_such_space"]))
    assert "no_such_space" in line and "st_nas" in line


def test_malformed_json_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": ')
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(bad)]))
    assert "malformed architecture JSON" in line


def test_json_that_is_not_an_architecture(tmp_path, capsys):
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2, 3]")
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(bad)]))
    assert "not a graphnas architecture" in line


def test_missing_arch_file(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(missing)]))
    assert str(missing) in line and "graphnas sample" in line


def test_missing_arch_file_for_render(tmp_path, capsys):
    one_error_line(capsys, main(["render", "st_nas", "--arch", str(tmp_path / "nope.json"), "--out",
                                 str(tmp_path / "x")]))
    assert not list(tmp_path.iterdir())


def test_arch_from_another_space(tmp_path, capsys):
    path = tmp_path / "tiny.py"
    path.write_text(TINY_SPACE)
    other = tmp_path / "tiny_arch.json"
    assert main(["sample", str(path), "--seed", "0", "--out", str(other)]) == 0
    capsys.readouterr()
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(other)]))
    assert "'tiny'" in line and "'st_nas'" in line


def test_arch_with_renamed_space(arch_file, tmp_path, capsys):
    bad = edit_json(arch_file, tmp_path / "renamed.json", space="nb_other")
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(bad)]))
    assert "nb_other" in line


@pytest.mark.parametrize("edge, op", [(3, "mbconv_k3_e3"), (0, "no_such_op"), (1, "identity")])
def test_op_not_in_space(arch_file, tmp_path, capsys, edge, op):
    # mbconv_k3_e3 is a registered op but not an st_nas candidate; identity is dropped on edge 1->2 (stride 2)
    def change(d):
        d["ops"][edge] = op
        d.pop("choices")

    bad = edit_json(arch_file, tmp_path / "op.json", _=change)
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(bad)]))
    assert f"'{op}'" in line and f"edge {edge}" in line


def test_wrong_number_of_ops(arch_file, tmp_path, capsys):
    bad = edit_json(arch_file, tmp_path / "short.json", _=lambda d: (d["ops"].pop(), d.pop("choices")))
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(bad)]))
    assert "54" in line


def test_scale_without_equals(capsys):
    line = one_error_line(capsys, main(["sample", "st_nas", "--scale", "resolution32"]))
    assert "resolution32" in line and "key=value" in line


def test_unknown_scale_key(capsys):
    line = one_error_line(capsys, main(["sample", "st_nas", "--scale", "colour=3"]))
    assert "'colour'" in line and "resolution" in line and "width" in line


def test_scale_value_out_of_range(capsys):
    line = one_error_line(capsys, main(["sample", "st_nas", "--scale", "resolution=4"]))
    assert "resolution" in line


def test_scale_value_of_wrong_type(capsys):
    line = one_error_line(capsys, main(["sample", "st_nas", "--scale", "width=abc"]))
    assert "width='abc'" in line and "must be a number" in line


def test_binary_arch_file(tmp_path, capsys):
    bad = tmp_path / "bin.json"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    line = one_error_line(capsys, main(["cost", "st_nas", "--arch", str(bad)]))
    assert "not UTF-8" in line


def test_render_unknown_format(tmp_path, capsys):
    line = one_error_line(capsys, main(["render", "st_nas", "--random", "--out", str(tmp_path / "p"),
                                        "--formats", "bogus"]))
    assert "'bogus'" in line and "svg" in line
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_render_without_graphviz(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    line = one_error_line(capsys, main(["render", "st_nas", "--random", "--out", str(tmp_path / "p")]))
    assert "apt-get install graphviz" in line


def test_run_madds_without_unit(tmp_path, capsys):
    line = one_error_line(capsys, main(["run", "--madds", "5", "--out", str(tmp_path / "run"), "--quiet"]))
    assert "'5'" in line and "5M" in line
    assert not (tmp_path / "run").exists()


def test_run_unknown_strategy(tmp_path, capsys):
    line = one_error_line(capsys, main(["run", "--strategy", "annealing", "--out", str(tmp_path / "run")]))
    assert "annealing" in line and "evolution" in line


def test_run_params_without_unit(tmp_path, capsys):
    line = one_error_line(capsys, main(["run", "--params", "300", "--out", str(tmp_path / "run")]))
    assert "300M" in line


# ---------------------------------------------------------------------- the real process
def _graphnas(*args, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-m", "graphnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_subprocess_bad_input_exit_code(tmp_path):
    proc = _graphnas("run", "--madds", "5", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1 and re.match(r"graphnas: error: MAdds limit '5' has no unit", lines[0])


def test_subprocess_help(tmp_path):
    proc = _graphnas("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for cmd in ("run", "spaces", "sample", "cost", "render"):
        assert cmd in proc.stdout
    assert proc.stderr == ""


def test_cost_reports_bitops_for_quantised_spaces(tmp_path, capsys):
    path = tmp_path / "q.json"
    assert main(["sample", "spos_quant", "--seed", "3", "--out", str(path)]) == 0
    capsys.readouterr()
    assert main(["cost", "spos_quant", "--arch", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = arch_cost(graphnas.get_space("spos_quant").from_json(path.read_text()))
    assert out["bitops"] == expected.bitops > out["madds"] == expected.madds
