"""Ground-truth tables: architectures trained from scratch, their accuracy per seed (the labels rankings are scored on).

Written by ``tools/train_standalone.py`` and read by it (to resume) and by ``tools/bench_ranking.py``
(see ``benchmarks/ranking_ground_truth_stnas.json``, the ranking benchmark's, and
``benchmarks/ranking_ground_truth.json``, issue 5's 16 random architectures that the search benchmarks read).
The JSON object::

    {"meta": {"space", "fingerprint", "scale", "data", "train_size", "data_seed",
              "recipe": {"epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "label_smoothing"}},
     "archs": {HASH: {"arch": <Architecture.to_json object>, "madds": N, "params": N}, ...},
     "runs": [{"hash", "seed", "val_accuracy", "test_accuracy", "train_accuracy_last_epoch", "seconds",
               "device"}, ...],
     "summary": {HASH: {"mean", "std", "seeds"}, ...},            (optional: written at the end of a run)
     "selected": [HASH, ...]}                                    (optional: the architectures a pilot kept)

``selected`` is written by ``tools/train_standalone.py --spread K``: after a pilot trained every candidate with
one seed, the K whose accuracy spreads most evenly (:func:`graphnas.estimate.spread.pick_spread`) are the
ground truth and get the further seeds; the other candidates stay in the table with their one run.
:func:`ground_truth_stats` gives a table's own figures: range, seed noise, standard errors against the
neighbour gaps, the seed-to-seed Kendall tau, and the ceiling: the tau a perfect estimator would reach
against the table's means.

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

import numpy as np

from ..checks import shown
from ..errors import EstimatorError
from ..files import regular_file

if TYPE_CHECKING:
    from ..space.architecture import Architecture
    from ..space.searchspace import SearchSpace

__all__ = ["RECIPE_KEYS", "load_ground_truth", "mean_accuracy", "ground_truth_archs", "ground_truth_hashes",
           "ground_truth_stats"]

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
    selected = table.get("selected")
    if selected is not None:
        if (not isinstance(selected, list) or len(selected) < 2 or not all(isinstance(h, str) for h in selected)
                or len(set(selected)) != len(selected)):
            raise EstimatorError(f"ground-truth table {path}: selected is {shown(selected)}, expected a list of at "
                                 f"least 2 distinct architecture hashes; {FIX}")
        missing = [h for h in selected if h not in table["archs"]]
        if missing:
            raise EstimatorError(f"ground-truth table {path}: selected lists {shown(missing[0])}, which archs does "
                                 f"not; {FIX}")
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


def ground_truth_hashes(table: dict, min_seeds: int = 2) -> list[str]:
    """The ground truth's architectures, sorted: the ``selected`` ones when the table has a selection (whether
    or not all their seeds are in yet), else every architecture with at least ``min_seeds`` runs."""
    if table.get("selected") is not None:
        return sorted(table["selected"])
    return mean_accuracy(table, min_seeds)[0]


def ground_truth_stats(table: dict, hashes=None, ceiling_draws: int = 500, seed: int = 0) -> dict:
    """The figures of a ground truth (test accuracy in points, 0-100): how finely it can rank.

    Over ``hashes`` (default :func:`ground_truth_hashes`) with at least 2 runs each: ``n``; ``runs``; ``seeds``
    (the smallest and largest count per architecture); ``low``/``high``/``range`` of the means;
    ``seed_std`` (median over architectures of the standard deviation over seeds); ``std_error`` (median of
    std / sqrt(seeds)); ``neighbour_gap`` (median gap between architectures adjacent in the ranking of means);
    ``se_over_gap`` (std_error / neighbour_gap; under 1/3 means the means rank above their noise);
    ``seed_tau`` (Kendall tau between two seeds' accuracies over the architectures both trained, mean over
    seed pairs: how well one training run ranks like another, the ceiling an estimator can reach against a
    one-seed truth) and ``seed_pairs``; ``mean_vs_seed_tau`` (mean over seeds of the tau between that seed's
    run and the mean of the other seeds); ``ceiling_tau``: the Kendall tau that the architectures' true
    (infinitely many seeds) accuracies would score against this table's means, the ceiling of an estimator
    scored against them. It is simulated (``ceiling_draws`` draws, seeded by ``seed``): true accuracies are
    the means shrunk toward their average until their spread is the means' spread less the noise
    (variance of the means minus the mean squared standard error), and each draw adds to them Gaussian
    noise of a mean's standard error (the seed variance pooled over architectures, over each one's seed
    count), as the table's own means carry.
    """
    from scipy.stats import kendalltau

    hashes = ground_truth_hashes(table) if hashes is None else list(hashes)
    runs: dict[str, dict[int, float]] = {}
    for run in table["runs"]:
        if run["hash"] in hashes:
            runs.setdefault(run["hash"], {})[run["seed"]] = 100.0 * run["test_accuracy"]
    kept = [h for h in hashes if len(runs.get(h, {})) >= 2]
    if len(kept) < 2:
        raise EstimatorError(f"ground truth has {len(kept)} architectures with 2 or more seeds; its figures need at "
                             f"least 2 (train more seeds with tools/train_standalone.py)")
    mean_of = np.array([statistics.fmean(runs[h].values()) for h in kept])
    count = np.array([len(runs[h]) for h in kept])
    stds = [statistics.stdev(runs[h].values()) for h in kept]
    ses = [sd / math.sqrt(c) for sd, c in zip(stds, count)]
    means = sorted(mean_of.tolist())
    gaps = [b - a for a, b in zip(means, means[1:])]
    seeds = sorted({s for h in kept for s in runs[h]})
    taus = []
    for i, a in enumerate(seeds):
        for b in seeds[i + 1:]:
            both = [h for h in kept if a in runs[h] and b in runs[h]]
            if len(both) >= 3:
                taus.append(float(kendalltau([runs[h][a] for h in both], [runs[h][b] for h in both])[0]))
    vs_mean = []
    for s in seeds:
        both = [h for h in kept if s in runs[h] and len(runs[h]) >= 2]
        if len(both) >= 3:
            rest = [statistics.fmean(v for t, v in runs[h].items() if t != s) for h in both]
            vs_mean.append(float(kendalltau([runs[h][s] for h in both], rest)[0]))
    gap = statistics.median(gaps)
    pooled = statistics.fmean(sd ** 2 for sd in stds)  # one seed's noise variance
    se_of = np.sqrt(pooled / count)
    variance = float(mean_of.var(ddof=1))
    spread = max(0.0, variance - float(np.mean(se_of ** 2)))
    truth = mean_of.mean() + (mean_of - mean_of.mean()) * math.sqrt(spread / variance) if variance > 0 else mean_of
    rng = np.random.default_rng(seed)
    ceiling = [float(kendalltau(truth, truth + rng.normal(0.0, 1.0, len(kept)) * se_of)[0])
               for _ in range(ceiling_draws)] if spread > 0 else [0.0]
    return {"n": len(kept), "runs": int(count.sum()), "seeds": [int(count.min()), int(count.max())],
            "low": means[0], "high": means[-1], "range": means[-1] - means[0],
            "seed_std": statistics.median(stds), "std_error": statistics.median(ses), "neighbour_gap": gap,
            "se_over_gap": statistics.median(ses) / gap if gap > 0 else math.inf,
            "seed_tau": statistics.fmean(taus) if taus else None, "seed_pairs": len(taus),
            "mean_vs_seed_tau": statistics.fmean(vs_mean) if vs_mean else None,
            "ceiling_tau": statistics.fmean(ceiling)}


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
