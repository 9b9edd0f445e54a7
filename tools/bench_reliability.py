#!/usr/bin/env python
"""Reliability harness: fuzz every loader, kill and resume every long job, race two writers.

    python tools/bench_reliability.py [--quick] [--seed N] [--out FOLDER] [--write]

1. **Genuine files.** graphnas makes one small file of each kind in ``--out`` (a tiny space, the
   ``nb201`` space at its laptop scale): an architecture JSON, a training checkpoint (mid-run and
   finished), a latency table, a lookup table, an image folder, a finished run (report.json,
   best_arch.json, its page), a retrained model.pt and its ONNX and TorchScript exports, and the ranking
   ground truth when a validated loader (``load_ground_truth``) exists.
2. **Fuzzer.** Each file is damaged (truncation at a random offset, byte flips, zero fill; for JSON
   wrong types per field, deleted/foreign keys, deep nesting, huge ints, NaN/Infinity; for SQLite
   UPDATE/DELETE/ALTER of meta and rows) or replaced by a crafted code-execution payload (a pickle
   whose ``__reduce__`` writes a marker file, a table whose meta names a ``.py`` space that writes one),
   then read through the public API and the CLI (``graphnas.cli.main`` in this process). Bad
   ``KEY=VALUE`` configs go through the CLI too. Each attempt is classified by :mod:`fuzzlib`: clean
   refusal, accepted with the undamaged file's answer, traceback, hang, code executed, silent wrong answer.
3. **Kills.** ``graphnas train``, ``graphnas search``, ``graphnas latency build``, a lookup-table build,
   ``graphnas run`` and ``graphnas retrain`` run in subprocesses, get SIGKILL at a random moment (sometimes twice), are
   resumed until they finish, and are compared with an uninterrupted run of the same seed (what is
   compared is in :data:`COMPARED`). Temporaries left behind count as orphans.
4. **Concurrent writers.** Two writers of one output: exactly one may run; the other must fail at once
   with one line naming the holder.

``--quick`` is the CI slice (seeded, well under a minute on 2 cores); the full run is the benchmark
(>= 1,000 fuzzed inputs, >= 50 kills) and ``--write`` puts its counts in BENCHMARKS.md.
Exit status: 0 when no attempt failed, 1 otherwise (the failures are listed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import fuzzlib as fz  # noqa: E402

SPACE_NAME = "relitiny"
SPACE_FILE = f'''from graphnas import ChoiceEdge, Node, SearchSpace, Stem


def make_space(resolution=8, num_classes=10, in_channels=1):
    nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
    edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
             ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
             ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1"))]
    return SearchSpace("{SPACE_NAME}", nodes, edges, input_shape=(in_channels, resolution, resolution),
                       num_classes=num_classes, stem=Stem(8))
'''
TIMEOUT = 10.0  # seconds an in-process attempt may take before it counts as a hang
COMPARED = {
    "retrain": "every tensor of model.pt, every epoch's loss, accuracies and learning rate, and the test accuracy",
    "train": "every tensor of the final checkpoint's model, optimizer and averaged weights (torch.equal), and its step",
    "search": "report.json: the best architecture (hash, ops, validation/test accuracy, MAdds, params) and the search "
              "record (evaluations, Pareto front)",
    "latency build": "the table opens complete, with the reference run's set of entry keys",
    "lookup build": "every row (index, hash, predicted, measured, MAdds, params, latency) identical",
    "main job": "report.json's best architecture and search record (latency timings excluded), and the lookup "
                "table's rows without their latency",
    "pcnas job": "report.json (the best architecture, the pool ranked by potential, the validation images spent), "
                 "every boundary's potentials and kept set, and every tensor of the final checkpoint",
    "senas job": "report.json (the best architecture of the shrunk space, every stage's scores, removals, groups and "
                 "parameter counts), the SE-NAS log and every tensor of the final checkpoint (private weights too)",
}
_LOOKUP_CHILD = "--child-lookup-build"


# ---------------------------------------------------------------------- processes
def graphnas_root() -> Path:
    import graphnas
    return Path(graphnas.__file__).resolve().parents[1]


def child_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(graphnas_root()), env.get("PYTHONPATH")) if p)
    return env


def graphnas_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "graphnas", *map(str, args)]


def lookup_build_cmd(table: Path, latency: Path | str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), _LOOKUP_CHILD, str(table), str(latency)]


def start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return 124, out, err + f"\n(hang: no exit in {timeout:g} s)"
    return proc.returncode, out, err


def last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:200] if lines else ""


# ---------------------------------------------------------------------- genuine files
class Genuine:
    """The undamaged files of one run, made by graphnas in ``folder`` (see the module doc)."""

    def __init__(self, folder: Path) -> None:
        import graphnas
        from graphnas.space.registry import space_info

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.space_file = folder / f"{SPACE_NAME}.py"
        self.space_file.write_text(SPACE_FILE)
        self.marker = folder / "CODE_EXECUTED"
        self.evil_space = folder / "evil_space.py"
        self.evil_space.write_text(fz.space_payload(self.marker))
        self.nb201 = graphnas.get_space("nb201", **space_info("nb201").cpu_scale)
        self.st_nas = graphnas.get_space("st_nas", **space_info("st_nas").cpu_scale)
        self.files: dict[str, Path] = {}
        self.errors: list[str] = []

    def tiny(self):
        from graphnas import ChoiceEdge, Node, SearchSpace, Stem

        nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
        edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
                 ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
                 ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e1"))]
        return SearchSpace(SPACE_NAME, nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))

    def train_set(self):
        import torch
        g = torch.Generator().manual_seed(0)
        return torch.utils.data.TensorDataset(torch.randn(32, 1, 8, 8, generator=g), torch.arange(32) % 10)

    def train_config(self):
        from graphnas.train.loop import TrainConfig
        return TrainConfig(epochs=2, batch_size=8, lr=0.05, seed=0)

    def make(self) -> "Genuine":
        for name, fn in (("arch", self._arch), ("checkpoint", self._checkpoint),
                         ("latency", self._latency), ("lookup", self._lookup), ("images", self._images),
                         ("labels", self._labels), ("history", self._history),
                         ("predictor labels", self._predictor_labels), ("run", self._run),
                         ("model", self._model)):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - recorded as a failure of the run, the rest goes on
                self.errors.append(f"cannot make the genuine {name} file: {fz.where(e)}")
        return self

    def _arch(self):
        path = self.folder / "arch.json"
        path.write_text(self.st_nas.sample(1).to_json())
        self.files["arch"] = path

    def _checkpoint(self):
        import torch
        from graphnas import Supernet
        from graphnas.train.samplers import UniformSampler
        from graphnas.train.loop import fit

        space = self.tiny()
        torch.manual_seed(0)
        mid = self.folder / "train_mid"
        fit(Supernet(space), self.train_set(), self.train_config(), UniformSampler(space), progress=False, out=mid,
            checkpoint_every=2, stop_after_steps=3)
        self.files["checkpoint"] = mid / "checkpoint.pt"
        done = self.folder / "train_done"
        torch.manual_seed(0)
        fit(Supernet(space), self.train_set(), self.train_config(), UniformSampler(space), progress=False, out=done,
            average_last_epoch=True)
        self.files["checkpoint_done"] = done / "checkpoint.pt"

    def _latency(self):
        path = self.folder / "latency.db"
        rc, out, err = fz.run_cli(["latency", "build", "--space", "nb201", "--cpu-scale", "--out", str(path), "--threads", "1",
                                   "--budget", "0.05", "--fit-networks", "4", "--quiet"])
        if rc != 0:
            raise RuntimeError(f"graphnas latency build failed ({rc}): {last_line(err)}")
        self.files["latency"] = path

    def _lookup(self):
        import numpy as np
        from graphnas.cost.latency import LatencyModel
        from graphnas.lookup import LookupTable

        space = self.nb201
        allowed = {i: e.candidates[:1] for i, e in enumerate(space.edges) if i >= 2}
        sub = space.subspace(allowed=allowed, name="nb201/fuzz")
        n = sub.size
        predicted = np.linspace(0.3, 0.9, n)[np.random.default_rng(0).permutation(n)]
        measured = np.full(n, np.nan)
        measured[::4] = predicted[::4] + 0.01
        path = self.folder / "lookup.db"
        LookupTable.build(path, sub, predicted, measured=measured,
                          latency_model=LatencyModel.load(self.files["latency"])).close()
        self.files["lookup"] = path

    def _images(self):
        import numpy as np
        from PIL import Image

        root = self.folder / "images"
        rng = np.random.default_rng(0)
        for c in ("cat", "dog", "owl"):
            (root / c).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
        self.files["images"] = root

    def _labels(self):
        self.load_ground_truth, self.mean_accuracy = find_ground_truth_loader()
        if self.load_ground_truth is None:
            return
        src = graphnas_root() / "benchmarks" / "ranking_ground_truth.json"
        path = self.folder / "ground_truth.json"
        shutil.copyfile(src, path)
        self.files["labels"] = path


    def _predictor_labels(self):
        """The labels file of ``graphnas predict`` with exactly the fewest labels it takes (8), so that dropping an
        entry, which leaves a valid file of other labels, is refused as well."""
        from graphnas.lookup.label_file import MIN_LABELS

        path = self.folder / "predictor_labels.json"
        rows = [{"ops": list(self.nb201.from_index(i * 1999).ops), "accuracy": 0.5 + i / 100} for i in range(MIN_LABELS)]
        path.write_text(json.dumps(rows))
        self.files["predictor labels"] = path

    def _run(self):
        """A finished graphnas run of the tiny space (report.json, best_arch.json, report.html)."""
        folder = self.folder / "run"
        rc, out, err = fz.run_cli(["run", "--space", str(self.space_file), "--epochs", "1", "--batch-size", "64",
                                   "--resolution", "8", "--budget", "4", "--population", "2", "--no-lookup",
                                   "--seed", "1", "--quiet", "--out", str(folder)])
        if rc != 0:
            raise RuntimeError(f"graphnas run failed ({rc}): {last_line(err)}")
        self.files["report"], self.files["best_arch"] = folder / "report.json", folder / "best_arch.json"

    def _model(self):
        """graphnas retrain's model.pt of the run's best architecture, and its two exported files."""
        folder = self.folder / "retrained"
        rc, out, err = fz.run_cli(["retrain", str(self.files["best_arch"]), "--space", str(self.space_file),
                                   "--epochs", "1", "--batch-size", "64", "--quiet", "--out", str(folder)])
        if rc != 0:
            raise RuntimeError(f"graphnas retrain failed ({rc}): {last_line(err)}")
        self.files["model"] = folder / "model.pt"
        rc, out, err = fz.run_cli(["export", str(folder / "model.pt"), "--space", str(self.space_file)])
        if rc != 0:
            raise RuntimeError(f"graphnas export failed ({rc}): {last_line(err)}")
        self.files["onnx"], self.files["torchscript"] = folder / "model.onnx", folder / "model.torchscript.pt"

    def _history(self):
        from graphnas.search import random_search
        from graphnas.search.history import SearchHistory

        path = self.folder / "search_history.json"
        random_search(self.tiny(), SearchHistory(lambda a: float(sum(a.choices)), self.tiny(), path,
                                                 meta=HISTORY_META), budget=6, rng=0, progress=False)
        self.files["history"] = path


#: The scorer identity of the genuine search history (a resumed search must name the same).
HISTORY_META = {"supernet": "fuzz", "estimator": "single_checkpoint"}


def find_ground_truth_loader() -> tuple[Callable | None, Callable | None]:
    """The validated loader of the ranking ground truth (``load_ground_truth``) and ``mean_accuracy``, or Nones."""
    import importlib

    for module in ("graphnas.estimate.groundtruth", "graphnas.estimate.ranking", "bench_ranking"):
        try:
            m = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a module that does not import is just not the loader
            continue
        load, mean = getattr(m, "load_ground_truth", None), getattr(m, "mean_accuracy", None)
        if callable(load):
            return load, (mean if callable(mean) else lambda table: table)
    return None, None


# ---------------------------------------------------------------------- fuzz targets
class Target:
    """One loader: ``fn(path)`` returns its answer (made comparable by :func:`fuzzlib.canonical`).

    ``kind`` chooses the mutations: bytes, json, sqlite, torch or folder; ``cli`` marks a CLI run whose
    ``argv(path)`` goes through ``graphnas.cli.main`` and whose stdout is the answer."""

    def __init__(self, name: str, genuine: Path, kind: str, fn: Callable | None = None,
                 argv: Callable | None = None, payloads: Callable | None = None, hash_column: str | None = None,
                 keep: tuple[str, ...] | None = None):
        self.name, self.genuine, self.kind, self.fn, self.argv = name, genuine, kind, fn, argv
        self.keep = keep  # the keys of a CLI's JSON output that are its answer (not what it echoes of the file)
        self.payloads, self.hash_column = payloads, hash_column
        self.reference: str | None = None

    def classify(self, path: Path, marker: Path) -> tuple[str, str]:
        if self.argv is not None:  # the output names the file it read: the damaged copy's name is not a difference
            return fz.classify_cli(self.argv(path), self.reference, marker, TIMEOUT,
                                   answer=lambda out: self._answer(out.replace(str(path), str(self.genuine))))
        return fz.classify_call(lambda: self.fn(path), self.reference, marker, TIMEOUT)

    def set_reference(self) -> str | None:
        """The answer on the undamaged file; an error message when it fails (then the target is broken)."""
        if self.argv is not None:
            rc, out, err = fz.run_cli(self.argv(self.genuine))
            if rc != 0:
                return f"exit status {rc}: {last_line(err)}"
            self.reference = fz.canonical(self._answer(out))
            return None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                self.reference = fz.canonical(self.fn(self.genuine))
        except Exception as e:  # noqa: BLE001
            return fz.where(e)
        return None


    def _answer(self, out: str):
        try:
            answer = json.loads(out)
        except ValueError:
            return out
        if self.keep and isinstance(answer, dict):
            return {k: answer.get(k) for k in self.keep}
        return answer


def work_folder(g: Genuine) -> Path:
    """The harness's work folder (the genuine files' parent)."""
    return g.folder.parent


def _state_digest(module) -> dict:
    return {k: fz.digest_tensor(v) for k, v in module.state_dict().items()}


def build_targets(g: Genuine) -> list[Target]:
    import torch
    from graphnas import Supernet
    from graphnas.train.checkpoint import read_trained
    from graphnas.cost.latency import LatencyModel
    from graphnas.train.data import load_dataset
    from graphnas.lookup import LookupTable
    from graphnas.lookup.label_file import read_labels
    from graphnas.train.samplers import UniformSampler
    from graphnas.train.loop import fit

    f = g.files
    archs = [g.nb201.sample(i) for i in range(4)]
    targets = []

    def arch(path):
        a = g.st_nas.from_json(Path(path).read_bytes())
        return [a.hash, list(a.choices)]

    def resume(path):
        space = g.tiny()
        torch.manual_seed(0)
        model = Supernet(space)
        fit(model, g.train_set(), g.train_config(), UniformSampler(space), progress=False, resume=Path(path))
        return _state_digest(model)

    def trained(path):
        t = read_trained(path, averaged=True)
        model = Supernet(g.tiny())
        t.load_into(model)
        return [_state_digest(model), t.meta, t.history, t.seed]

    def lookup(path):
        with LookupTable.open(path) as t:
            rows = [r.to_dict() for r in t.query(top=6)]
            rows += [t.row(i).to_dict() for i in (0, 7, len(t) - 1)]
            best = t.query(latency=float(rows[0]["latency"]) * 2, top=3) if t.has_latency else []
            return [len(t), rows, [r.to_dict() for r in best]]

    def latency(path):
        m = LatencyModel.load(path)
        return [m.latency(a) for a in archs] + [m.parts(a) for a in archs]

    def images(path):
        d = load_dataset("imagefolder", root=str(path), resolution=8, seed=0)
        items = [(fz.digest_tensor(x), int(y)) for split in (d.train, d.val, d.test) for x, y in split]
        return [d.num_classes, list(d.input_shape), items]

    def labels(path):  # what tools/bench_ranking.py uses of it: the architectures and their mean accuracy
        table = g.load_ground_truth(path)
        return [sorted(table["archs"]), g.mean_accuracy(table)]

    def history(path):  # what a resumed search is served: every architecture's score
        from graphnas.search.history import SearchHistory

        return sorted(SearchHistory(len, g.tiny(), path, resume=True, meta=HISTORY_META).scores.items())

    if "arch" in f:
        targets.append(Target("arch JSON: SearchSpace.from_json", f["arch"], "json", fn=arch,
                              payloads=lambda p, m: _json_payloads(p, g)))
        targets.append(Target("arch JSON: graphnas cost --arch", f["arch"], "json",
                              argv=lambda p: ["cost", "--space", "st_nas", "--arch", str(p)],
                              payloads=lambda p, m: _json_payloads(p, g)))
    if "checkpoint" in f:
        targets.append(Target("checkpoint: fit(resume=)", f["checkpoint"], "torch", fn=resume,
                              payloads=_torch_payloads))
    if "checkpoint_done" in f:
        targets.append(Target("checkpoint: read_trained(averaged)", f["checkpoint_done"], "torch", fn=trained,
                              payloads=_torch_payloads))
    if "lookup" in f:
        targets.append(Target("lookup table: open/query/row", f["lookup"], "sqlite", fn=lookup, hash_column="hash",
                              payloads=lambda p, m: _sqlite_payloads(p, g)))
        targets.append(Target("lookup table: graphnas lookup --json", f["lookup"], "sqlite", hash_column="hash",
                              argv=lambda p: ["lookup", "--table", str(p), "--json", "--top", "5"],
                              keep=("rows", "limits"),
                              payloads=lambda p, m: _sqlite_payloads(p, g)))
    if "latency" in f:
        targets.append(Target("latency table: LatencyModel.load/latency", f["latency"], "sqlite", fn=latency,
                              hash_column="hash", payloads=lambda p, m: _sqlite_payloads(p, g)))
        targets.append(Target("latency table: graphnas latency predict", f["latency"], "sqlite",
                              argv=lambda p: ["latency", "predict", "--table", str(p), "--random", "--seed", "3",
                                              "--any-device", "--json"],
                              keep=("hash", "latency_ms", "sum_of_entries_ms", "module_calls", "batch"),
                              payloads=lambda p, m: _sqlite_payloads(p, g)))
    if "images" in f:
        targets.append(Target("image folder: load_dataset(imagefolder)", f["images"], "folder", fn=images))
    if "labels" in f:
        targets.append(Target("ranking ground truth: load_ground_truth", f["labels"], "json", fn=labels))
    if "history" in f:
        targets.append(Target("search history: SearchHistory(resume=True)", f["history"], "json", fn=history))
    space_file = str(g.space_file)

    def found(path):
        from graphnas.jobs.found import read_found

        a = read_found(path, given=space_file).arch
        return [a.hash, list(a.ops)]

    def model(path):
        from graphnas.jobs.retrain import read_model

        m = read_model(path, space_file)
        return [_state_digest(m.net), m.info]

    def page(path):  # the run folder with this report.json: the page's sections and pictures
        from graphnas.jobs.html_report import write_run_report

        folder = Path(path).parent / f"run_{Path(path).stem}"
        _remove(folder)
        shutil.copytree(f["report"].parent, folder)
        shutil.copyfile(path, folder / "report.json")
        (folder / "report.html").unlink(missing_ok=True)
        try:
            text = write_run_report(folder, space=space_file).read_text()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        import re

        return [re.findall(r"<h2>([^<(]*)", text), text.count("<img ")]

    def metadata(path):
        from graphnas.nets.export import read_export_metadata

        return read_export_metadata(path)

    if "report" in f:
        targets.append(Target("report.json: read_found", f["report"], "json", fn=found))
        targets.append(Target("report.json: graphnas report's page", f["report"], "json", fn=page))
        targets.append(Target("best_arch.json: read_found", f["best_arch"], "json", fn=found))
    if "model" in f:
        targets.append(Target("retrained model: read_model", f["model"], "torch", fn=model, payloads=_torch_payloads))
        export_to = work_folder(g) / "export" / "x"
        targets.append(Target("retrained model: graphnas export", f["model"], "torch",
                              argv=lambda p: ["export", str(p), "--space", space_file, "--formats", "onnx",
                                              "--out", str(export_to)], payloads=_torch_payloads))
        targets.append(Target("exported ONNX: read_export_metadata", f["onnx"], "bytes", fn=metadata))
        targets.append(Target("exported TorchScript: read_export_metadata", f["torchscript"], "bytes", fn=metadata))
    if "predictor labels" in f:
        targets.append(Target("predictor labels: read_labels", f["predictor labels"], "json",
                              fn=lambda p: sorted(read_labels(p, g.nb201).items())))
    return targets


# ---------------------------------------------------------------------- crafted payloads
def _json_payloads(path: Path, g: Genuine) -> list[tuple[str, str]]:
    """Architecture JSON whose space is a .py file, or a module, that would write the marker when imported."""
    data = json.loads(g.files["arch"].read_text())
    out = []
    for label, value in (("space names evil .py", str(g.evil_space)), ("space names evil module", "evil_space")):
        out.append((json.dumps({**data, "space": value}), label))
    return out


def _torch_payloads(path: Path, marker: Path) -> list[tuple[bytes, str]]:
    tmp = path.with_name(path.name + ".payload")
    fz.torch_payload(marker, tmp)
    zipped = tmp.read_bytes()
    tmp.unlink()
    return [(zipped, "torch.save zip with a __reduce__ payload"),
            (fz.pickle_payload(marker), "raw pickle with a __reduce__ payload")]


def _sqlite_payloads(path: Path, g: Genuine) -> list[tuple[list[str], str]]:
    """Meta naming the marker-writing .py space (as root, as space), for tables rebuilt from their meta."""
    p = json.dumps(str(g.evil_space))
    return [([f"UPDATE meta SET value = {_sql(p)} WHERE key = 'root'",
              "INSERT OR IGNORE INTO meta VALUES ('root', " + _sql(p) + ")"], "meta root names evil .py"),
            ([f"UPDATE meta SET value = {_sql(p)} WHERE key = 'space'"], "meta space names evil .py"),
            ([f"UPDATE meta SET value = {_sql(json.dumps('evil_space'))} WHERE key IN ('space', 'root')"],
             "meta names module evil_space")]


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------- mutating one file
def _mutant(target: Target, rng: random.Random, dst: Path, g: Genuine) -> str:
    """Write one damaged copy of the target's file at ``dst``; returns the mutation's label."""
    src = target.genuine
    if target.kind == "folder":
        return fz.mutate_image_folder(src, dst, rng)
    data = src.read_bytes()
    r = rng.random()
    if target.kind == "sqlite" and r < 0.6:
        return fz.tamper_sqlite(src, dst, rng, target.hash_column)
    if target.kind == "json" and r < 0.6:
        text, label = fz.mutate_json(data.decode(), rng)
        dst.write_text(text)
        return label
    if target.kind == "torch" and r < 0.25:
        return fz.mutate_torch(src, dst, rng)
    out, label = fz.mutate_bytes(data, rng)
    dst.write_bytes(out)
    return label


# ---------------------------------------------------------------------- configs through the CLI
def config_cases(g: Genuine, work: Path) -> list[tuple[list[str], str]]:
    """Invalid KEY=VALUE scale and sampler options: each must be refused with one line (exit 0 is wrong)."""
    bad = ("nan", "inf", "-inf", "-1", "0", "1e400", "9" * fz.HUGE_DIGITS, "abc", "", "[1]", "None")
    payload = f"__import__('pathlib').Path({str(g.marker)!r}).touch()"
    arch = str(g.files.get("arch", work / "arch.json"))
    cases = []
    for key in ("resolution", "width", "num_classes", "in_channels", "stem_stride"):
        for value in bad + (payload,):
            cases.append((["cost", "st_nas", "--arch", arch, "--scale", f"{key}={value}"], f"scale {key}={value[:12]}"))
    cases.append((["cost", "st_nas", "--arch", arch, "--scale", "bogus=1"], "scale bogus=1"))
    cases.append((["cost", "st_nas", "--arch", arch, "--scale", "resolution"], "scale without ="))
    train = ["train", "--space", str(g.space_file), "--epochs", "1", "--batch-size", "256", "--resolution", "8",
             "--quiet"]
    options = [("stnas", "p_drop", v) for v in ("nan", "inf", "-0.1", "1.5", "abc", "", "9" * fz.HUGE_DIGITS, payload)]
    options += [("stnas", "target_madds", v) for v in ("-1M", "abc", "nan", "1e400M")]
    options += [("constrained", "madds", v) for v in ("abc", "-5M", "nan", "5", "inf")]
    options += [("constrained", "params", v) for v in ("-1K", "1e999")]
    options += [("stnas", "bogus", "1"), ("constrained", "latency", "3ms")]  # latency without its table
    for i, (sampler, key, value) in enumerate(options):
        cases.append((train + ["--out", str(work / f"cfg{i}"), "--sampler", sampler, "--sampler-option",
                               f"{key}={value}"], f"train --sampler {sampler} {key}={value[:12]}"))
    return cases


# ---------------------------------------------------------------------- the fuzzer
def fuzz(g: Genuine, tally: fz.Tally, rng: random.Random, per_target: int, configs: int, work: Path,
         log: Callable[[str], None]) -> None:
    targets = build_targets(g)
    if "labels" not in g.files:
        tally.skipped.append("ranking ground truth: no load_ground_truth loader found (grep for it)")
    sys.path.insert(0, str(g.folder))  # a payload naming module evil_space would find it: importing it is seen
    try:
        for t in targets:
            problem = t.set_reference()
            if problem:
                tally.add(fz.Attempt("fuzz", t.name, "undamaged file", "traceback", problem))
                continue
            folder = work / "fuzz" / t.name.split(":")[0].replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            payloads = t.payloads(t.genuine, g.marker) if t.payloads else []
            for i in range(per_target + len(payloads)):
                dst = folder / f"m{i}{t.genuine.suffix}"
                _remove(dst)
                if i < len(payloads):
                    label = _write_payload(t, payloads[i], dst)
                else:
                    label = _mutant(t, rng, dst, g)
                outcome, detail = t.classify(dst, g.marker)
                if label.startswith("payload") and outcome == "wrong":
                    outcome, detail = "inert", f"read without running it; {detail}"
                a = tally.add(fz.Attempt("fuzz", t.name, label, outcome, detail))
                if outcome in fz.FAILURES:
                    log(a.line())
                _remove(dst)
            log(f"  {t.name}: {per_target + len(payloads)} inputs in {time.perf_counter() - start:.1f} s")
    finally:
        sys.path.remove(str(g.folder))
    cases = config_cases(g, work)
    for argv, label in rng.sample(cases, min(configs, len(cases))):
        outcome, detail = fz.classify_cli(argv, "refused", g.marker, TIMEOUT, answer=lambda out: "accepted")
        if outcome == "wrong":
            detail = "an invalid value was accepted (exit status 0)"
        a = tally.add(fz.Attempt("fuzz", "configs: KEY=VALUE through the CLI", label, outcome, detail))
        if outcome in fz.FAILURES:
            log(a.line())


def _write_payload(t: Target, payload, dst: Path) -> str:
    body, label = payload
    if t.kind == "sqlite":
        shutil.copyfile(t.genuine, dst)
        conn = sqlite3.connect(dst)
        try:
            with conn:
                for s in body:
                    conn.execute(s)
        finally:
            conn.close()
        fz.renew_digest(dst)  # a crafted table carries a matching digest: the import defence itself must hold
    elif isinstance(body, bytes):
        dst.write_bytes(body)
    else:
        dst.write_text(body)
    return "payload: " + label


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    elif path.exists():  # a FIFO
        path.unlink()


# ---------------------------------------------------------------------- kills
class Job:
    """A long command, how to resume it, and what of its result must equal the uninterrupted run's."""

    def __init__(self, name: str, first: Callable[[Path], list[str]], again: Callable[[Path], list[str]],
                 result: Callable[[Path], object], output: Callable[[Path], Path]):
        self.name, self.first, self.again, self.result, self.output = name, first, again, result, output


def jobs(g: Genuine, work: Path) -> list[Job]:
    space = str(g.space_file)
    train = ["train", "--space", space, "--epochs", "3", "--batch-size", "32", "--resolution", "8", "--seed", "1",
             "--quiet", "--checkpoint-every", "5", "--average-last-epoch"]
    ref_ckpt = work / "kill" / "train_ref" / "checkpoint.pt"
    search = ["search", "--checkpoint", str(ref_ckpt), "--space", space, "--resolution", "8", "--budget", "6",
              "--population", "2", "--no-lookup", "--seed", "1", "--quiet"]
    latency = ["latency", "build", "--space", "nb201", "--cpu-scale", "--threads", "1", "--budget", "0.2", "--tolerance",
               "0.001", "--fit-networks", "4", "--quiet"]
    run = ["run", "--space", space, "--epochs", "2", "--batch-size", "64", "--resolution", "8", "--budget", "4",
           "--population", "2", "--seed", "1", "--quiet", "--lookup-labels", "8"]
    pcnas = ["run", "--space", space, "--epochs", "5", "--batch-size", "32", "--resolution", "8", "--seed", "1",
             "--quiet", "--no-lookup", "--strategy", "pcnas", "--strategy-option", "samples=6", "pool=2",
             "batch_size=16", "save_every=1", "--checkpoint-every", "5"]
    senas = ["run", "--space", space, "--epochs", "4", "--batch-size", "32", "--resolution", "8", "--seed", "1",
             "--quiet", "--no-lookup", "--strategy", "senas", "--strategy-option", "stages=2", "stage_epochs=1", "k=1",
             "t=4", "samples=3", "images=32", "--checkpoint-every", "5", "--budget", "4", "--population", "2"]
    retrain = ["retrain", str(g.files.get("best_arch", "")), "--space", space, "--epochs", "3", "--batch-size", "32",
               "--seed", "1", "--quiet"]
    return [
        Job("retrain", lambda d: graphnas_cmd(*retrain, "--out", d), lambda d: graphnas_cmd(*retrain, "--out", d,
                                                                                             "--resume"),
            _retrain_result, lambda d: d),
        Job("train", lambda d: graphnas_cmd(*train, "--out", d), lambda d: graphnas_cmd(*train, "--out", d, "--resume"),
            _train_result, lambda d: d),
        Job("search", lambda d: graphnas_cmd(*search, "--out", d), lambda d: graphnas_cmd(*search, "--out", d),
            lambda d: _report_result(d, lookup=False), lambda d: d),
        Job("latency build", lambda d: graphnas_cmd(*latency, "--out", d / "latency.db"),
            lambda d: graphnas_cmd(*latency, "--out", d / "latency.db"), _latency_result, lambda d: d),
        Job("lookup build", lambda d: lookup_build_cmd(d / "lookup.db", g.files["latency"]),
            lambda d: lookup_build_cmd(d / "lookup.db", g.files["latency"]), _lookup_result, lambda d: d),
        Job("main job", lambda d: graphnas_cmd(*run, "--out", d), lambda d: graphnas_cmd(*run, "--out", d, "--resume"),
            lambda d: _report_result(d, lookup=True), lambda d: d),
        Job("pcnas job", lambda d: graphnas_cmd(*pcnas, "--out", d),
            lambda d: graphnas_cmd(*pcnas, "--out", d, "--resume"), _pcnas_result, lambda d: d),
        Job("senas job", lambda d: graphnas_cmd(*senas, "--out", d),
            lambda d: graphnas_cmd(*senas, "--out", d, "--resume"), _senas_result, lambda d: d),
    ]


def _retrain_result(folder: Path):
    """The retrained weights and every epoch's numbers but its wall-clock seconds."""
    import torch

    blob = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    summary = json.loads((folder / "retrain.json").read_text())
    tensors = {}
    _tensors(blob["state_dict"], "model", tensors)
    return {"tensors": tensors, "history": [{k: v for k, v in h.items() if k != "seconds"} for h in summary["history"]],
            "test_accuracy": summary["test_accuracy"]}


def _senas_result(folder: Path):
    """:func:`_pcnas_result` with the stages' epoch records without their wall-clock seconds."""
    out = _pcnas_result(folder)
    for entry in out["log"]:
        entry["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in entry["history"]]
    return out


def _pcnas_result(folder: Path):
    """The report (best, search record: PC-NAS's pool ranked by potential, SE-NAS's stages) and the sampler's log
    of every boundary (PC-NAS's potentials, SE-NAS's stages)."""
    import torch

    blob = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    return {**_report_result(folder, lookup=False), "log": blob["sampler_state"]["log"],
            "weights": _train_result(folder)["tensors"]}


def _train_result(folder: Path):
    import torch

    blob = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    tensors = {}
    for part in ("model", "optimizer", "averaged_state_dict"):
        _tensors(blob.get(part), part, tensors)
    return {"step": blob.get("step"), "tensors": tensors}


def _tensors(value, prefix: str, out: dict) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        out[prefix] = fz.digest_tensor(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _tensors(v, f"{prefix}.{k}", out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _tensors(v, f"{prefix}.{i}", out)
    elif prefix.count(".") > 1:  # plain values inside the state (optimizer hyper-parameters, steps)
        out[prefix] = value


def _report_result(folder: Path, lookup: bool):
    report = json.loads((folder / "report.json").read_text())
    best = {k: v for k, v in report["best"].items() if "latency" not in k}
    search = json.loads(json.dumps(report["search"]), object_hook=lambda d: {k: v for k, v in d.items()
                                                                              if "latency" not in k})
    out = {"best": best, "search": search}
    if lookup:
        conn = sqlite3.connect(folder / "lookup.db")
        try:
            out["lookup"] = conn.execute("SELECT idx, hash, predicted, measured, madds, params FROM archs "
                                         "ORDER BY idx").fetchall()
        finally:
            conn.close()
    return out


def _latency_result(folder: Path):
    from graphnas.cost.latency import LatencyModel

    return sorted(LatencyModel.load(folder / "latency.db").entries)


def _lookup_result(folder: Path):
    conn = sqlite3.connect(folder / "lookup.db")
    try:
        return [conn.execute("SELECT COUNT(*) FROM archs").fetchone()[0],
                fz.canonical(conn.execute("SELECT idx, hash, predicted, measured, madds, params, latency FROM archs "
                                          "ORDER BY idx").fetchall())]
    finally:
        conn.close()


def kills(g: Genuine, tally: fz.Tally, rng: random.Random, per_job: int, names: tuple[str, ...] | None,
          work: Path, log: Callable[[str], None]) -> None:
    root = work / "kill"
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()  # kills land between the end of the imports and the end of the work
    finish(start([sys.executable, "-c", "import graphnas.cli.main, graphnas.jobs"], root))
    imports = time.perf_counter() - t0
    for job in jobs(g, work):
        if names is not None and job.name not in names:
            continue
        ref = root / (job.name.replace(" ", "_") + "_ref")
        t0 = time.perf_counter()
        rc, out, err = finish(start(job.first(ref), root))
        wall = time.perf_counter() - t0
        if rc != 0:
            tally.add(fz.Attempt("kill", job.name, "uninterrupted reference run", "traceback",
                                 f"exit status {rc}: {last_line(err)}"))
            continue
        expected = fz.canonical(job.result(ref))
        delivered = 0
        for i in range(per_job * 3):
            if delivered >= per_job:
                break
            folder = root / f"{job.name.replace(' ', '_')}_{i}"
            a, n = _kill_cycle(job, folder, root, rng, (min(0.8 * imports, 0.5 * wall), wall), expected)
            delivered += n
            tally.kills += n
            tally.add(a)
            if a.outcome in fz.FAILURES:
                log(a.line())
            shutil.rmtree(folder, ignore_errors=True)
        log(f"  {job.name}: {delivered} kills (uninterrupted run {wall:.1f} s)")


def _kill_cycle(job: Job, folder: Path, cwd: Path, rng: random.Random, window: tuple[float, float],
                expected: str) -> tuple[fz.Attempt, int]:
    """Start, SIGKILL at a random moment in ``window`` (seconds after the start; a second time, in the resumed
    run, in a third of the cycles), resume until done, compare with the uninterrupted run."""
    moments, delivered = [], 0
    cmd = job.first(folder)
    for k in range(2 if rng.random() < 1 / 3 else 1):
        at = rng.uniform(*window)
        proc = start(cmd, cwd)
        try:
            proc.wait(timeout=at)
            moments.append(f"finished before {at:.1f}s")
            proc.communicate()
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            delivered += 1
            moments.append(f"killed at {at:.1f}s")
        cmd = job.again(folder)
    label = ", ".join(moments)
    rc, out, err = finish(start(job.again(folder), cwd))
    if rc != 0:
        return fz.Attempt("kill", job.name, label, "lost", f"resume failed, exit status {rc}: {last_line(err)}"), \
            delivered
    try:
        got = fz.canonical(job.result(folder))
    except Exception as e:  # noqa: BLE001
        return fz.Attempt("kill", job.name, label, "lost", f"result unreadable: {fz.where(e)}"), delivered
    if got != expected:
        return fz.Attempt("kill", job.name, label, "lost", "result differs from the uninterrupted run"), delivered
    left = fz.leftover_temporaries(job.output(folder))
    if left:
        return fz.Attempt("kill", job.name, label, "orphans", ", ".join(Path(p).name for p in left)[:200]), delivered
    return fz.Attempt("kill", job.name, label, "same"), delivered


# ---------------------------------------------------------------------- concurrent writers
def concurrent(g: Genuine, tally: fz.Tally, rounds: int, names: tuple[str, ...] | None, work: Path,
               log: Callable[[str], None]) -> None:
    space = str(g.space_file)
    root = work / "race"
    root.mkdir(parents=True, exist_ok=True)
    cases = [
        ("train", lambda d: graphnas_cmd("train", "--space", space, "--epochs", "5", "--batch-size", "16",
                                         "--resolution", "8", "--quiet", "--out", d)),
        ("latency build", lambda d: graphnas_cmd("latency", "build", "st_nas", "--cpu-scale", "--threads", "1",
                                                 "--budget", "0.3", "--fit-networks", "8", "--quiet", "--out",
                                                 d / "latency.db")),  # seconds of work: the second arrives in them
        ("lookup build", lambda d: lookup_build_cmd(d / "lookup.db", "-")),
    ]
    for r in range(rounds):
        for name, cmd in cases:
            if names is not None and name not in names:
                continue
            folder = root / f"{name.replace(' ', '_')}_{r}"
            folder.mkdir(parents=True, exist_ok=True)
            a = start(cmd(folder), root)
            _wait_for_lock(folder, a)  # the second writer starts while the first holds its output
            b = start(cmd(folder), root)
            ends: dict[int, float] = {}
            deadline = time.monotonic() + 300
            while len(ends) < 2 and time.monotonic() < deadline:  # when each ends: the loser must not wait
                for i, p in enumerate((a, b)):
                    if i not in ends and p.poll() is not None:
                        ends[i] = time.monotonic()
                time.sleep(0.02)
            results = [(*finish(p, 1)[::2], ends.get(i, float("inf"))) for i, p in enumerate((a, b))]
            attempt = fz.Attempt("concurrent", name, "two writers of one output", *_race_verdict(results))
            tally.add(attempt)
            if attempt.outcome in fz.FAILURES:
                log(attempt.line())
            shutil.rmtree(folder, ignore_errors=True)


def _wait_for_lock(folder: Path, proc: subprocess.Popen, limit: float = 20) -> None:
    """Until a lock file (``*.lock``, graphnas.files.output_lock) with its holder in it is in ``folder``, the
    process ends, or ``limit`` seconds pass (a writer that takes no lock is raced all the same)."""
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        if any(p.name.endswith(".lock") and p.stat().st_size for p in folder.iterdir() if p.is_file()):
            return
        time.sleep(0.02)


def _race_verdict(results) -> tuple[str, str]:
    ok = [r for r in results if r[0] == 0]
    if len(ok) == 2:
        return "both_writers", "both writers ran to the end (exit status 0 twice)"
    if len(ok) == 0:
        return "both_writers", "neither writer finished: " + " | ".join(last_line(r[1]) for r in results)
    loser = next(r for r in results if r[0] != 0)
    lines = loser[1].strip().splitlines()
    if loser[0] != 2 or len(lines) != 1 or not lines[0].startswith("graphnas: error: "):
        return "both_writers", f"the second writer failed with exit status {loser[0]}: {last_line(loser[1])}"
    if "pid" not in lines[0]:
        return "both_writers", f"the refusal does not name the holder: {lines[0][:160]}"
    if loser[2] > next(r for r in results if r[0] == 0)[2]:
        return "both_writers", f"the second writer waited for the first to finish: {lines[0][:140]}"
    return "refused", lines[0][:160]


# ---------------------------------------------------------------------- the child that builds a lookup table
def lookup_child(table: str, latency: str) -> int:
    """Build a lookup table from fixed inputs: with a latency table, the whole nb201 space (15,625 rows, 500
    per transaction, the kill target); with ``-``, 279,936 rows of fairnas (a few seconds: the race target)."""
    import numpy as np
    import graphnas
    from graphnas.cost.latency import LatencyModel
    from graphnas.errors import GraphnasError
    from graphnas.lookup import LookupTable
    from graphnas.space.registry import space_info

    try:
        if latency == "-":
            space = graphnas.get_space("fairnas", **space_info("fairnas").cpu_scale)
            space = space.subspace(allowed={i: e.candidates[:1] for i, e in enumerate(space.edges) if i >= 7},
                                   name="fairnas/race")
        else:
            space = graphnas.get_space("nb201", **space_info("nb201").cpu_scale)
        rng = np.random.default_rng(0)
        predicted = rng.uniform(0.3, 0.9, space.size)
        measured = np.where(rng.random(space.size) < 0.1, predicted + 0.01, np.nan)
        model = LatencyModel.load(latency) if latency != "-" else None
        LookupTable.build(table, space, predicted, measured=measured, latency_model=model,
                          batch=500 if model else 1000).close()
    except GraphnasError as e:
        print(f"graphnas: error: {e}", file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------------- the whole run and its report
SIZES = {  # fuzzed inputs per target, config cases, kills per job, concurrent rounds
    "quick": dict(per_target=12, configs=6, kills=1, kill_jobs=("train", "retrain"), rounds=1, race_jobs=("train",)),
    "full": dict(per_target=150, configs=90, kills=12, kill_jobs=None, rounds=2, race_jobs=None),
}


def run(seed: int = 0, out: str | Path | None = None, quick: bool = False,
        log: Callable[[str], None] = print) -> tuple[fz.Tally, float]:
    """The whole harness (``quick``: the CI slice); returns the tally and the wall time in seconds."""
    import torch

    torch.set_num_threads(1)
    size = SIZES["quick" if quick else "full"]
    work = Path(out).resolve() if out else Path(tempfile.mkdtemp(prefix="graphnas-reliability-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    rng = random.Random(seed)
    tally = fz.Tally()
    t0 = time.perf_counter()
    log(f"reliability harness, seed {seed}, {'quick' if quick else 'full'} run, work folder {work}")
    g = Genuine(work / "genuine").make()
    for e in g.errors:
        tally.add(fz.Attempt("setup", "genuine files", "", "traceback", e))
        log("traceback: " + e)
    log(f"genuine files made in {time.perf_counter() - t0:.1f} s; fuzzing")
    fuzz(g, tally, rng, size["per_target"], size["configs"], work, log)
    log(f"kills ({time.perf_counter() - t0:.0f} s so far)")
    if "latency" in g.files:
        kills(g, tally, rng, size["kills"], size["kill_jobs"], work, log)
        if size["rounds"]:
            log(f"concurrent writers ({time.perf_counter() - t0:.0f} s so far)")
            concurrent(g, tally, size["rounds"], size["race_jobs"], work, log)
    return tally, time.perf_counter() - t0


def failure_groups(fails: list[fz.Attempt]) -> list[tuple[int, fz.Attempt]]:
    """``(count, first example)`` per kind of failure: outcome, target, mutation kind (``flip``, ``meta: batch``,
    ...) and the error (exception and place) or the kind of difference, most frequent first."""
    import re

    groups: dict[tuple, list[fz.Attempt]] = {}
    for a in fails:
        family = re.split(r"[@=\[(]", a.mutation, maxsplit=1)[0].strip()
        reason = re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", "N", a.detail.split(":", 1)[0] if a.outcome == "wrong"
                        else a.detail)[:80]
        groups.setdefault((a.outcome, a.kind, a.target, family, reason), []).append(a)
    return sorted(((len(v), v[0]) for v in groups.values()), key=lambda x: -x[0])


def summary(tally: fz.Tally, seconds: float, seed: int, quick: bool) -> str:
    c = tally.counts()
    fuzzed = sum(1 for a in tally.attempts if a.kind == "fuzz")
    kill_cycles = sum(1 for a in tally.attempts if a.kind == "kill")
    races = sum(1 for a in tally.attempts if a.kind == "concurrent")
    head = (f"| attempts | clean refusals | accepted, same answer | payload read, not run | tracebacks | hangs | code executed | "
            f"silent wrong answers | results lost | orphans | two writers |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {len(tally.attempts)} ({fuzzed} fuzzed inputs, {kill_cycles} kill cycles with {tally.kills} kills, "
            f"{races} races) | {c['refused']} | {c['same']} | {c['inert']} | {c['traceback']} | {c['hang']} | {c['code_executed']} | "
            f"{c['wrong']} | {c['lost']} | {c['orphans']} | {c['both_writers']} |\n")
    rows = ("| kind | target | attempts | refused | same | inert | traceback | hang | code | wrong | lost | orphans | "
            "two writers |\n" + "|---" * 13 + "|\n")
    for (kind, target), n in tally.by_target().items():
        rows += (f"| {kind} | {target} | {sum(n.values())} | {n['refused']} | {n['same']} | {n['inert']} | {n['traceback']} | "
                 f"{n['hang']} | {n['code_executed']} | {n['wrong']} | {n['lost']} | {n['orphans']} | "
                 f"{n['both_writers']} |\n")
    fails = tally.failures()
    groups = failure_groups(fails)
    listed = "".join(f"- {n} x {a.line()}\n" for n, a in groups[:40]) + \
        (f"- ... and {len(groups) - 40} more kinds\n" if len(groups) > 40 else "")
    compared = "".join(f"- {k}: {v}\n" for k, v in COMPARED.items())
    skipped = "".join(f"- skipped: {s}\n" for s in tally.skipped)
    return (f"## Reliability: fuzzed files, kills, concurrent writers\n\n"
            f"`python tools/bench_reliability.py{' --quick' if quick else ''} --seed {seed}`: {seconds:.0f} s. "
            f"Goal: 0 tracebacks, 0 hangs, 0 code executed, 0 silent wrong answers, 0 lost, 0 orphans, 0 two "
            f"writers.\n\n{head}\n{rows}\nCompared after a kill with an uninterrupted run of the same seed:\n\n"
            f"{compared}\n" + (skipped + "\n" if skipped else "")
            + (f"Failures ({len(fails)}, grouped by outcome, target, mutation kind and error; one example each):\n\n"
               f"{listed}" if fails else "No failures.\n"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [_LOOKUP_CHILD]:
        return lookup_child(*argv[1:3])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the CI slice: seeded, under a minute")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="work folder (emptied first; default: a new temporary folder)")
    p.add_argument("--write", action="store_true", help="write the counts to BENCHMARKS.md (section reliability)")
    args = p.parse_args(argv)
    tally, seconds = run(args.seed, args.out, args.quick)
    body = summary(tally, seconds, args.seed, args.quick)
    print(body)
    if args.write:
        from benchlib import update_section
        update_section("reliability", body)
    return 1 if tally.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
