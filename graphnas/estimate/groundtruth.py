"""Ground-truth tables: architectures trained from scratch, their accuracy per seed (the labels rankings are scored on).

Written by ``tools/train_standalone.py`` and read by it (to resume) and by ``tools/bench_ranking.py``
(see ``benchmarks/ranking_ground_truth.json``). The JSON object::

    {"meta": {"space", "fingerprint", "scale", "data", "train_size", "data_seed",
              "recipe": {"epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "label_smoothing"}},
     "archs": {HASH: {"arch": <Architecture.to_json object>, "madds": N, "params": N}, ...},
     "runs": [{"hash", "seed", "val_accuracy", "test_accuracy", "train_accuracy_last_epoch", "seconds",
               "device"}, ...],
     "summary": {HASH: {"mean", "std", "seeds"}, ...}}            (optional: written at the end of a run)

A table is untrusted: :func:`load_ground_truth` checks every field's type and range (accuracies in
[0, 1], counts and seconds finite and >= 0, every run of a listed architecture, no (architecture, seed)
twice) and refuses a bad file with one :class:`~graphnas.errors.EstimatorError` line. Architectures are
parsed with the space's own ``from_json`` by :func:`ground_truth_archs` once the space is built, and each
must have the hash it is listed under.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from typing import TYPE_CHECKING

from ..checks import shown
from ..errors import EstimatorError
from ..files import regular_file

if TYPE_CHECKING:
    from ..space.architecture import Architecture
    from ..space.searchspace import SearchSpace

__all__ = ["RECIPE_KEYS", "load_ground_truth", "mean_accuracy", "ground_truth_archs"]

#: Training-recipe fields of ``meta["recipe"]``.
RECIPE_KEYS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "label_smoothing")
_HASH = re.compile(r"^[0-9a-f]{16}$")
FIX = "fix the file or make it again with tools/train_standalone.py --table"


def _int(lo=0):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v < 2 ** 63


def _real(lo=None, hi=None, low_open=False):
    def ok(v):
        return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                and (lo is None or (v > lo if low_open else v >= lo)) and (hi is None or v <= hi))
    return ok


def _text(v) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 1000


def _optional(check):
    return lambda v: v is None or check(v)


_ACCURACY = (_real(0, 1), "an accuracy in [0, 1]")
_META = {
    "space": (_text, "a space name"),
    "fingerprint": (_text, "a space fingerprint"),
    "scale": (lambda v: isinstance(v, dict) and ("resolution" not in v or _int(1)(v["resolution"])),
              "an object of scale arguments (resolution a positive integer)"),
    "data": (_text, "a data set name"),
    "train_size": (_optional(_int(1)), "null or a positive integer"),
    "data_seed": (_int(), "a non-negative integer"),
    "recipe": (lambda v: isinstance(v, dict), "an object"),
}
_RECIPE = {
    "epochs": (_int(1), "a positive integer"),
    "batch_size": (_int(1), "a positive integer"),
    "lr": (_real(0, low_open=True), "a positive number"),
    "momentum": (_real(0, 1), "a number in [0, 1]"),
    "nesterov": (lambda v: isinstance(v, bool), "true or false"),
    "weight_decay": (_real(0), "a number >= 0"),
    "label_smoothing": (_real(0, 1), "a number in [0, 1]"),
}
_ARCH = {
    "arch": (lambda v: isinstance(v, dict), "an architecture object (Architecture.to_json)"),
    "madds": (_real(0), "a count >= 0"),
    "params": (_real(0), "a count >= 0"),
}
_RUN = {
    "hash": (lambda v: isinstance(v, str) and bool(_HASH.match(v)), "an architecture hash (16 hex digits)"),
    "seed": (_int(), "a non-negative integer"),
    "val_accuracy": _ACCURACY,
    "test_accuracy": _ACCURACY,
    "train_accuracy_last_epoch": _ACCURACY,
    "seconds": (_real(0), "a number of seconds >= 0"),
    "device": (_text, "a device name"),
}
_SUMMARY = {
    "mean": _ACCURACY,
    "std": (_real(0), "a number >= 0"),
    "seeds": (_int(1), "a positive integer"),
}


def _check(obj, fields: dict, where: str, path) -> None:
    if not isinstance(obj, dict):
        raise EstimatorError(f"ground-truth table {path}: {where} is {shown(obj)}, expected an object; {FIX}")
    for key, (ok, want) in fields.items():
        if key not in obj:
            raise EstimatorError(f"ground-truth table {path}: {where} has no '{key}'; {FIX}")
        if not ok(obj[key]):
            raise EstimatorError(f"ground-truth table {path}: {where}['{key}'] is {shown(obj[key])}, expected "
                                 f"{want}; {FIX}")


def load_ground_truth(path: str | os.PathLike) -> dict:
    """The ground-truth table at ``path`` (the JSON object above), every field checked.

    Raises:
        EstimatorError: the file is missing, not a regular file, not JSON, or a field has a wrong type or
            range (the message names it), a run names an architecture the table does not list, or an
            (architecture, seed) pair is there twice.
    """
    path = regular_file(path, "ground-truth table", FIX, error=EstimatorError)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        text = " ".join(str(e).split())[:120] if not isinstance(e, RecursionError) else "nested too deeply"
        raise EstimatorError(f"ground-truth table {path} is not readable JSON ({text}); {FIX}") from None
    _check(table, {"meta": (lambda v: isinstance(v, dict), "an object"),
                   "archs": (lambda v: isinstance(v, dict), "an object of architectures by hash"),
                   "runs": (lambda v: isinstance(v, list), "a list of runs")}, "the table", path)
    _check(table["meta"], _META, "meta", path)
    _check(table["meta"]["recipe"], _RECIPE, "meta['recipe']", path)
    for h, entry in table["archs"].items():
        if not _HASH.match(h):
            raise EstimatorError(f"ground-truth table {path}: archs key {shown(h)} is not an architecture hash (16 "
                                 f"hex digits); {FIX}")
        _check(entry, _ARCH, f"archs['{h}']", path)
    seen = set()
    for k, run in enumerate(table["runs"]):
        _check(run, _RUN, f"runs[{k}]", path)
        if run["hash"] not in table["archs"]:
            raise EstimatorError(f"ground-truth table {path}: runs[{k}] is of architecture {run['hash']}, which archs "
                                 f"does not list; {FIX}")
        if (run["hash"], run["seed"]) in seen:
            raise EstimatorError(f"ground-truth table {path}: runs[{k}] repeats architecture {run['hash']} with seed "
                                 f"{run['seed']}; {FIX}")
        seen.add((run["hash"], run["seed"]))
    summary = table.get("summary")
    if summary is not None:
        if not isinstance(summary, dict):
            raise EstimatorError(f"ground-truth table {path}: summary is {shown(summary)}, expected an object; {FIX}")
        for h, entry in summary.items():
            if h not in table["archs"]:
                raise EstimatorError(f"ground-truth table {path}: summary lists {shown(h)}, which archs does not; "
                                     f"{FIX}")
            _check(entry, _SUMMARY, f"summary['{h}']", path)
    return table


def mean_accuracy(table: dict, min_seeds: int = 2) -> tuple[list[str], dict[str, float], list[float]]:
    """``(hashes, mean test accuracy by hash, seed standard deviations)`` of the architectures with at least
    ``min_seeds`` runs, hashes sorted."""
    by: dict[str, list[float]] = {}
    for run in table["runs"]:
        by.setdefault(run["hash"], []).append(run["test_accuracy"])
    hashes = sorted(h for h in by if len(by[h]) >= min_seeds)
    return hashes, {h: statistics.fmean(by[h]) for h in hashes}, [statistics.stdev(by[h]) for h in hashes
                                                                   if len(by[h]) > 1]


def ground_truth_archs(table: dict, space: "SearchSpace", hashes, path="") -> list["Architecture"]:
    """The architectures listed under ``hashes``, parsed with ``space.from_json`` (its errors propagate as
    :class:`~graphnas.errors.GraphnasError`); each must have the hash it is listed under."""
    archs = []
    for h in hashes:
        try:
            text = json.dumps(table["archs"][h]["arch"])
        except RecursionError:
            raise EstimatorError(f"ground-truth table {path}: archs['{h}'] is nested too deeply; {FIX}") from None
        arch = space.from_json(text)
        if arch.hash != h:
            raise EstimatorError(f"ground-truth table {path}: archs['{h}'] holds an architecture with hash "
                                 f"{arch.hash}; {FIX}")
        archs.append(arch)
    return archs
