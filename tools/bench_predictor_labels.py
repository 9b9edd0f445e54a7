#!/usr/bin/env python
"""The predictor against the label budget on NAS-Bench-201: Kendall tau over the cells not labelled.

For 78, 200, 500, 781 and 1,000 labelled cells (drawn per seed with ``default_rng(1000 + seed)``, labelled
with their true CIFAR-10 validation accuracy, ``1 - metric_valid_error`` of
``../shared/data/nasbench201_cifar10.csv``, read in place), every predictor variant predicts all 15,625 cells;
the figure is Kendall tau between predicted and true accuracy over the unlabelled cells (as the published
predictors report it), mean of ``--seeds`` seeds, and the seconds each fit takes (one thread per fit,
``--jobs`` fits at a time).

* sweep: GCN-NAS's recipe (``recipe("gcn-nas")``: Gray features) against ``recipe("accurate")`` at every
  label count;
* ablation at 78 and 781 labels: a ladder from GCN-NAS's recipe to ``accurate``, one ingredient a row
  (its share is the row's gain over the row above), then single changes to the final recipe (rank weight 3,
  an MLP instead of the GCN, one member of width 512: the paper's width).

Every finished fit is appended to ``--record`` (``benchmarks/predictor_labels.json``: options, labels,
seed, tau, seconds; no per-cell data), so an interrupted run resumes where it stopped and a re-run only
writes the tables. Writes the section ``predictor-labels`` of BENCHMARKS.md unless ``--no-write``.

    OMP_NUM_THREADS=1 python tools/bench_predictor_labels.py --jobs 2     # ~45 min on 2 cores
    python tools/bench_predictor_labels.py --labels 78 --seeds 1 --only sweep --no-write --record /tmp/p.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchlib import NB201_DATA, ROOT, nb201_truth, run_recorded, update_section

from graphnas.predictor.recipes import recipe

LABELS = (78, 200, 500, 781, 1000)
ABLATION_LABELS = (78, 781)
#: Published Kendall tau over the unlabelled NAS-Bench-201 cells (PINAT), as issue 17 quotes them.
PINAT = {78: "≈ 0.55", 781: "≈ 0.76"}
GOALS = {78: 0.60, 781: 0.80}


def _ladder() -> list[tuple[str, str, dict]]:
    """(key, row label, predict_space options): each row adds one ingredient to the row above."""
    base = recipe("gcn-nas")
    rows = [("gcn-nas", "GCN-NAS: GCN, Gray features, 600 epochs, rank weight 1", base)]
    steps = [("onehot", "one-hot features instead of Gray", {"features": "onehot"}),
             ("cost", "+ analytic cost inputs (log params, log MAdds)", {"features": "onehot+cost"}),
             ("rank10", "+ ranking loss x10 (was x1)", {"rank_weight": 10.0}),
             ("short", "300 epochs, patience 100, validation every 5 (speed)",
              {"epochs": 300, "patience": 100, "eval_every": 5}),
             ("ens5", "+ average of 5 members", {"ensemble": 5}),
             ("path", "+ path encoding", {"features": "onehot+cost+path"}),
             ("xfit", "+ cross-fitted folds (member k early-stops on the k-th fifth) = `accurate`", {"cross_fit": True})]
    options = dict(base)
    for key, label, change in steps:
        options = {**options, **change}
        rows.append((key, label, dict(options)))
    assert rows[-1][2] == {**recipe("accurate")}, "the ladder must end at the accurate recipe"
    return rows


def _variants(n: int) -> list[tuple[str, str, dict]]:
    """Single changes to ``accurate`` measured at ``n`` labels (width 512 at the smallest count only: 4x the time)."""
    final = recipe("accurate")
    one = {k: v for k, v in final.items() if k not in ("ensemble", "cross_fit")}
    rows = [("accurate-rank3", "`accurate` with ranking loss x3", {**final, "rank_weight": 3.0}),
            ("accurate-mlp", "`accurate` with an MLP instead of the GCN", {**final, "model": "mlp"})]
    if n == min(ABLATION_LABELS):
        rows.append(("one-512", "one member of `accurate`, width 512 (GCN-NAS's paper width)",
                     {**one, "hidden": (512, 512)}))
    return rows


def _key(options: dict, n: int, seed: int) -> str:
    return json.dumps({"options": options, "labels": n, "seed": seed}, sort_keys=True, default=list)


_STATE: dict = {}


def _init() -> None:
    import torch

    torch.set_num_threads(1)
    import graphnas

    space = graphnas.get_space("nb201")
    _STATE.update(space=space, truth=nb201_truth(space)["acc"])


def _fit(job: tuple[dict, int, int]) -> dict:
    import warnings

    from graphnas.estimate.ranking import kendall_tau
    from graphnas.predictor import predict_space

    options, n, seed = job
    space, truth = _STATE["space"], _STATE["truth"]
    labelled = np.random.default_rng(1000 + seed).choice(space.size, size=n, replace=False)
    opts = dict(options)
    model = opts.pop("model", "gcn")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred, _ = predict_space(space, {int(i): float(truth[i]) for i in labelled}, model, seed=seed, **opts)
    seconds = time.perf_counter() - t0
    rest = np.ones(space.size, dtype=bool)
    rest[labelled] = False
    return {"options": options, "labels": n, "seed": seed, "tau": float(kendall_tau(pred[rest], truth[rest])),
            "seconds": seconds}


def _jobs(args) -> list[tuple[dict, int, int]]:
    jobs = []
    seeds = range(args.seeds)
    if "sweep" in args.only:
        for n in args.labels:
            for name in ("gcn-nas", "accurate"):
                jobs += [(recipe(name), n, s) for s in seeds]
    if "ablation" in args.only:
        for n in (n for n in ABLATION_LABELS if n in args.labels):
            for _, _, options in _ladder() + _variants(n):
                jobs += [(options, n, s) for s in seeds]
    unique, seen = [], set()
    for j in jobs:
        k = _key(*j)
        if k not in seen:
            seen.add(k)
            unique.append(j)
    return unique


def _cell(done: dict, options: dict, n: int, seeds: int) -> tuple[list[float], list[float]] | None:
    runs = [done.get(_key(options, n, s)) for s in range(seeds)]
    if any(r is None for r in runs):
        return None
    return [r["tau"] for r in runs], [r["seconds"] for r in runs]


def _fmt(taus) -> str:
    return f"{np.mean(taus):.3f} ± {np.std(taus):.3f}"


def report(done: dict, args, wall: float) -> str:
    g, a = recipe("gcn-nas"), recipe("accurate")
    lines = ["## Predictor against the label budget on NAS-Bench-201 (issue 17)", "",
             "`OMP_NUM_THREADS=1 python tools/bench_predictor_labels.py --jobs 2`", "",
             f"Ground truth read in place from `{NB201_DATA.relative_to(ROOT.parent)}` (all 15,625 cells, CIFAR-10 "
             f"validation accuracy; never copied). Labelled cells drawn per seed (`default_rng(1000 + seed)`), "
             f"labelled with their true accuracy; **Kendall tau over the cells not labelled**, mean ± standard "
             f"deviation over {args.seeds} seeds (the seed also draws the validation split and initialisation). "
             f"Seconds: one fit (all members), one thread, {args.jobs} fits at a time on this machine.", "",
             f"`gcn-nas` = `recipe(\"gcn-nas\")` ({json.dumps(g)}), `accurate` = `recipe(\"accurate\")` "
             f"({json.dumps(a)}), both through `predict_space` on the Hamming graph.", "",
             "| labelled cells | GCN-NAS (gray) tau | seconds | `accurate` tau | seconds | PINAT (published) | goal |",
             "|---|---|---|---|---|---|---|"]
    for n in args.labels:
        cg, ca = _cell(done, g, n, args.seeds), _cell(done, a, n, args.seeds)
        if cg is None or ca is None:
            continue
        goal = GOALS.get(n)
        met = "" if goal is None else f"≥ {goal:.2f}: {'**met**' if np.mean(ca[0]) >= goal else 'missed'}"
        lines.append(f"| {n:,} | {_fmt(cg[0])} | {np.mean(cg[1]):.0f} | **{_fmt(ca[0])}** | {np.mean(ca[1]):.0f} | "
                     f"{PINAT.get(n, '')} | {met} |")
    for n in (n for n in ABLATION_LABELS if n in args.labels):
        rows = [(lab, o, _cell(done, o, n, args.seeds)) for _, lab, o in _ladder() + _variants(n)]
        if any(c is None for _, _, c in rows):
            continue
        lines += ["", f"### Ablation, {n} labels", "",
                  "Each ladder row adds one ingredient to the row above (its share: the gain column); below the "
                  "line, single changes to `accurate`.", "",
                  "| row | tau | gain | seconds per fit |", "|---|---|---|---|"]
        prev = None
        for i, (lab, _, (taus, secs)) in enumerate(rows):
            if i == len(_ladder()):
                lines.append("| *single changes to `accurate`* | | | |")
                prev = np.mean(rows[len(_ladder()) - 1][2][0])
            gain = "" if prev is None else f"{np.mean(taus) - prev:+.3f}"
            lines.append(f"| {lab} | {_fmt(taus)} | {gain} | {np.mean(secs):.0f} |")
            if i < len(_ladder()):
                prev = np.mean(taus)
    lines += ["", f"Fits recorded in `{Path(args.record).relative_to(ROOT) if Path(args.record).is_relative_to(ROOT) else args.record}` "
              f"({len(done)} fits); this run {wall / 60:.1f} min."]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", type=int, nargs="+", default=list(LABELS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--only", nargs="+", default=["sweep", "ablation"], choices=["sweep", "ablation"])
    p.add_argument("--record", default=str(ROOT / "benchmarks" / "predictor_labels.json"))
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--report-only", action="store_true", help="write the tables from --record without running")
    args = p.parse_args()
    start = time.perf_counter()
    done = run_recorded([(_key(*j), j) for j in _jobs(args)], _fit, _init, args.jobs, args.record,
                        lambda r: _key(r["options"], r["labels"], r["seed"]),
                        lambda r: f"{r['labels']} labels seed {r['seed']} {json.dumps(r['options'])}: tau "
                                  f"{r['tau']:.3f} {r['seconds']:.0f}s", desc="fits", run=not args.report_only)
    body = report(done, args, time.perf_counter() - start)
    print(body)
    if not args.no_write:
        update_section("predictor-labels", body)


if __name__ == "__main__":
    main()
