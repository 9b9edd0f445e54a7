"""Files graphnas did not just write: never a hang, never URI syntax in a path, one writer per output,
no orphan temporaries, outputs checked before the work, and no code run because a file names it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphnas
from graphnas import files
from graphnas.cli.main import main
from graphnas.errors import GraphnasError, LookupTableError, SpaceError
from graphnas.lookup import LookupTable
from graphnas.lookup.store import rewrite_digest
from graphnas.space.registry import space_named_by_file
from graphnas.utils import atomic_write_text

TINY_SPACE = """
import graphnas
from graphnas import ChoiceEdge, Node, SearchSpace, Stem
{payload}

def make_space(resolution=16, num_classes=10, in_channels=1):
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    ops = ("mbconv_k3_e3", "identity")
    edges = [ChoiceEdge(0, 1, "stem", ops), ChoiceEdge(1, 2, "stem", ops),
             ChoiceEdge(0, 2, "branch", ("none",) + ops)]
    return SearchSpace("tiny_file_space", nodes, edges, input_shape=(in_channels, resolution, resolution),
                       num_classes=num_classes, stem=Stem(8), drop_unfit=True)
"""


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("graphnas: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# ---------------------------------------------------------------------- regular files, sqlite paths
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "checkpoint.pt"
    os.mkfifo(fifo)
    with pytest.raises(GraphnasError, match="not a regular file"):
        files.regular_file(fifo, "checkpoint", "delete it")
    with pytest.raises(GraphnasError, match="is a folder"):
        files.regular_file(tmp_path, "checkpoint", "delete it")
    with pytest.raises(GraphnasError, match="does not exist"):
        files.regular_file(tmp_path / "nope.pt", "checkpoint", "delete it")


@pytest.mark.parametrize("content, problem", [
    (b"{", "is not JSON (JSONDecodeError)"),
    (b"\xff\xfe{}", "is not JSON (UnicodeDecodeError)"),
    (b"[" * 100_000, "is not JSON (RecursionError)"),
    (b"1" * 5000, "is not JSON (ValueError)"),  # an integer past Python's 4,300-digit limit
    (b"[1, 2]", "holds a JSON list, not an object"),
    (b" " * 200_001, "is 200001 bytes, more than any graphnas job config (200000)"),
])
def test_read_json_gives_one_line_for_any_damage(tmp_path, content, problem):
    path = tmp_path / "job.json"
    path.write_bytes(content)
    with pytest.raises(LookupTableError) as err:
        files.read_json(path, "job config", "pass the job.json a job wrote", LookupTableError, max_bytes=200_000,
                        kind=dict)
    assert str(err.value) == f"job config {path} {problem}; pass the job.json a job wrote"
    with pytest.raises(GraphnasError, match="is a folder"):
        files.read_json(tmp_path, "job config", "pass a file")
    path.write_text('{"a": [1, 2.5, null]}')
    assert files.read_json(path, "job config", "-", kind=dict) == {"a": [1, 2.5, None]}


@pytest.mark.parametrize("name", ["lat#1.db", "pct%41.db", "q?mode=ro.db", "sp ace.db"])
def test_sqlite_paths_are_paths_not_uris(tmp_path, name):
    decoy = tmp_path / "pctA.db"  # what '%41' would decode to
    sqlite3.connect(decoy).execute("CREATE TABLE decoy (x)").connection.close()
    conn = files.connect_sqlite(tmp_path / name, "rwc")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    assert (tmp_path / name).stat().st_size > 0
    conn = files.connect_sqlite(tmp_path / name, "ro")
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["t"]
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({name, "pctA.db"})


# ---------------------------------------------------------------------- locks and temporaries
def _hold_lock(path: Path, folder: bool) -> subprocess.Popen:
    code = (f"import sys, time; from graphnas.files import output_lock\n"
            f"with output_lock({str(path)!r}, 'output', folder={folder}):\n"
            f"    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    holder = _hold_lock(out, folder=True)
    try:
        with pytest.raises(GraphnasError, match=rf"being written by another graphnas process \(pid {holder.pid}"):
            with files.output_lock(out, "output folder", folder=True):
                pass
    finally:
        holder.kill()
        holder.wait()
    with files.output_lock(out, "output folder", folder=True):  # the kernel released the killed holder's lock
        with files.output_lock(out, "output folder", folder=True):  # re-entrant within a process
            pass


def test_two_trainings_on_one_folder(tmp_path, capsys):
    out = tmp_path / "train"
    holder = _hold_lock(out, folder=True)
    try:
        line = one_line_error(capsys, ["train", "--space", "nb201", "--epochs", "1", "--out", str(out), "--quiet"])
    finally:
        holder.kill()
        holder.wait()
    assert f"pid {holder.pid}" in line and "choose another output" in line
    assert sorted(p.name for p in out.iterdir()) == [files.LOCK_NAME]  # the refused run wrote nothing


def test_two_jobs_on_one_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    holder = _hold_lock(out, folder=True)
    try:
        for argv in (["run", "--space", "nb201", "--epochs", "1", "--no-lookup", "--quiet", "--out", str(out)],
                     ["search", "--space", "nb201", "--checkpoint", str(tmp_path / "none.pt"), "--quiet",
                      "--no-lookup", "--out", str(out)]):
            line = one_line_error(capsys, argv)
            assert f"pid {holder.pid}" in line, line
    finally:
        holder.kill()
        holder.wait()
    assert sorted(p.name for p in out.iterdir()) == [files.LOCK_NAME]


def test_table_lock_is_per_file(tmp_path):
    holder = _hold_lock(tmp_path / "a.db", folder=False)
    try:
        with files.output_lock(tmp_path / "b.db", "table", folder=False):  # another file: free
            pass
        with pytest.raises(GraphnasError, match="a.db is being written"):
            with files.output_lock(tmp_path / "a.db", "table", folder=False):
                pass
    finally:
        holder.kill()
        holder.wait()


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temporaries_of_dead_writers_are_removed_on_lock(tmp_path):
    dead = tmp_path / f".checkpoint.pt.{_dead_pid()}.abcd1234.tmp"
    live = tmp_path / f".checkpoint.pt.{os.getppid()}.abcd1234.tmp"
    other = tmp_path / ".notes.txt"
    for p in (dead, live, other):
        p.write_bytes(b"half a file")
    with files.output_lock(tmp_path, "output folder", folder=True):
        pass
    assert not dead.exists() and live.exists() and other.exists()


def test_atomic_writes_name_their_temporaries_for_cleanup(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_text(tmp_path / "report.json", "{}")
    assert files._TEMP.match(seen[0]) and f".report.json.{os.getpid()}." in seen[0]


def test_a_failed_run_leaves_no_empty_folder(tmp_path):
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError):
        with files.output_lock(out, "output folder", folder=True):
            raise RuntimeError("bad input found after locking")
    assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------------- outputs checked before the work
def test_unwritable_outputs_fail_before_the_work(tmp_path):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(GraphnasError, match="is a file, not a folder"):
        files.writable_folder(a_file)
    with pytest.raises(GraphnasError, match="a parent of it is a file"):
        files.writable_folder(a_file / "sub")
    with pytest.raises(GraphnasError, match="cannot be"):
        files.writable_folder("/proc/graphnas-x")
    with pytest.raises(GraphnasError, match="is a folder"):
        files.writable_file(tmp_path)
    with pytest.raises(GraphnasError, match="too long"):
        files.writable_file(tmp_path / ("x" * 250 + ".db"))
    assert files.writable_file(tmp_path / "ok.db") == tmp_path / "ok.db" and not (tmp_path / "ok.db").exists()


def test_checking_an_output_file_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "new" / "sub" / "x.db"
    assert files.writable_file(out) == out and not (tmp_path / "new").exists()
    line = one_line_error(capsys, ["latency", "build", "nb201", "--cpu-scale", "--batch", "0", "--out", str(out)])
    assert "batch size must be at least 1" in line and not (tmp_path / "new").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(GraphnasError, match="a parent of it is a file"):
        files.writable_file(tmp_path / "afile" / "x" / "y.db")
    with pytest.raises(GraphnasError, match="too long"):
        files.writable_file(tmp_path / ("d" * 300) / "y.db")


def test_run_on_an_unwritable_folder_fails_before_training(tmp_path, capsys):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    line = one_line_error(capsys, ["run", "--space", "nb201", "--epochs", "1", "--no-lookup", "--quiet",
                                   "--out", str(a_file / "r")])
    assert "a parent of it is a file" in line


# ---------------------------------------------------------------------- no code run because a file names it
@pytest.fixture
def file_space_table(tmp_path):
    """A lookup table of a space defined in a .py file, and that file (now rewritten to plant a payload)."""
    space_file = tmp_path / "my_space.py"
    space_file.write_text(TINY_SPACE.format(payload=""))
    space = graphnas.get_space(str(space_file))
    table = tmp_path / "t.db"
    LookupTable.build(table, space, np.linspace(0.1, 0.9, space.size)).close()
    with sqlite3.connect(table) as conn:  # crafted: the table names the file to import
        conn.execute("UPDATE meta SET value=? WHERE key='root'", (json.dumps(str(space_file)),))
    conn.close()
    rewrite_digest(table)  # a crafted table carries a matching digest
    marker = tmp_path / "pwned"
    space_file.write_text(TINY_SPACE.format(payload=f"open({str(marker)!r}, 'w').write('ran')"))
    return table, space_file, marker


def test_a_table_naming_a_py_file_never_imports_it(file_space_table, capsys):
    table, space_file, marker = file_space_table
    assert json.loads(sqlite3.connect(table).execute("SELECT value FROM meta WHERE key='root'").fetchone()[0]) \
        == str(space_file)
    assert main(["lookup", "--table", str(table), "--json"]) == 0  # answers without the space's operators
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and "ops" not in rows[0]
    line = one_line_error(capsys, ["lookup", "--table", str(table), "--render", str(table.parent / "best.svg")])
    assert "never runs code a file names" in line and "--space" in line
    with LookupTable.open(table) as t, pytest.raises(LookupTableError, match="never runs code"):
        t.space
    assert not marker.exists()
    # the user may pass the file: then it is theirs to trust, and it must be the table's space
    assert main(["lookup", "--table", str(table), "--json", "--space", str(space_file)]) == 0
    assert "ops" in json.loads(capsys.readouterr().out)["rows"][0]
    assert marker.exists()


def test_a_user_space_of_another_structure_is_refused(file_space_table, tmp_path, capsys):
    table, _, _ = file_space_table
    other = tmp_path / "other.py"
    other.write_text(TINY_SPACE.format(payload="").replace('("mbconv_k3_e3", "identity")', '("mbconv_k5_e3", "identity")'))
    line = one_line_error(capsys, ["lookup", "--table", str(table), "--render", str(tmp_path / "b.svg"),
                                   "--space", str(other)])
    assert "cannot rebuild space" in line


def test_space_named_by_file(tmp_path):
    assert space_named_by_file("nb201", {"resolution": 16}, "table t").name == "nb201"
    py = tmp_path / "s.py"
    py.write_text(TINY_SPACE.format(payload=""))
    with pytest.raises(SpaceError, match="never runs code a file names"):
        space_named_by_file(str(py), {}, "table t")
    with pytest.raises(SpaceError, match="unknown space 'nope'"):
        space_named_by_file("nope", {}, "table t")
    for bad_name, bad_scale in ((["nb201"], {}), (None, {}), ("nb201", "resolution=16"), ("nb201", {1: 2})):
        with pytest.raises(SpaceError, match="table t"):
            space_named_by_file(bad_name, bad_scale, "table t")
    assert space_named_by_file(str(py), {}, "table t", given=str(py)).name == "tiny_file_space"
