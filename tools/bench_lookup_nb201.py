#!/usr/bin/env python
"""Constrained lookup on NAS-Bench-201: how good is "the best architecture under 15 ms" from GCN predictions?

For each seed, 1,000 cells (default) are labelled with their true CIFAR-10 accuracy, the GCN
(``graphnas.predictor.predict_space``, Gray-code features) predicts all 15,625, and a lookup table
is built from the predictions with the benchmark's measured latency (``metric_latency``) and
graphnas's analytic MAdds (which equal the CSV's FLOPs). For each latency limit the table's best
answer is compared with the true best architecture under the same limit: regret (accuracy points)
and the answer's percentile among the architectures that meet the limit (0% = the true best).
The ground truth stays in ../shared/data (never copied here); the table lives in a temporary folder.

    python tools/bench_lookup_nb201.py [--labels 1000] [--seeds 0 1 2] [--limits 10 12 15 17 20]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import ROOT, update_section

import graphnas
from graphnas.lookup import LookupTable
from graphnas.predictor import index_of, predict_space

DATA = ROOT.parent / "shared" / "data" / "nasbench201_cifar10.csv"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def truth(space) -> tuple[np.ndarray, np.ndarray]:
    """True accuracy and latency (ms) of every cell, in ``space.index`` order."""
    with DATA.open() as f:
        rows = list(csv.DictReader(f))
    edges = [e.candidates for e in space.edges]
    choices = np.array([[edges[i].index(row[f"hp_x{i}"]) for i in range(6)] for row in rows])
    acc = np.full(space.size, np.nan)
    lat = np.full(space.size, np.nan)
    idx = index_of(space, choices)
    acc[idx] = 1.0 - np.array([float(r["metric_valid_error"]) for r in rows])
    lat[idx] = 1e3 * np.array([float(r["metric_latency"]) for r in rows])
    assert np.isfinite(acc).all() and np.isfinite(lat).all(), "every cell needs a row"
    return acc, lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--limits", type=float, nargs="+", default=[10, 12, 15, 17, 20])
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"{DATA} is missing: this benchmark needs the NAS-Bench-201 ground truth in ../shared/data")
    space = graphnas.get_space("nb201")
    acc, lat = truth(space)
    results = {limit: [] for limit in args.limits}
    taus, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            labelled = rng.choice(space.size, args.labels, replace=False)
            t0 = time.perf_counter()
            pred, _ = predict_space(space, {int(i): float(acc[i]) for i in labelled}, seed=seed)
            seconds.append(time.perf_counter() - t0)
            from graphnas.ranking import kendall_tau

            taus.append(kendall_tau(pred, acc))
            table = LookupTable.build(Path(tmp) / f"nb201_{seed}.db", space, pred, latency=lat,
                                      latency_source="NAS-Bench-201 metric_latency",
                                      meta={"predictor": f"gcn gray, {args.labels} labels, seed {seed}"})
            for limit in args.limits:
                ok = lat <= limit
                best = table.best(latency=f"{limit}ms")
                got = acc[best.index]
                results[limit].append((100 * (acc[ok].max() - got), 100 * float(np.mean(acc[ok] > got)),
                                       int(ok.sum())))
            table.close()
    rows = []
    for limit, runs in results.items():
        regret, pct, n = zip(*runs)
        rows.append(f"| {limit:g} ms | {n[0]:,} | {np.mean(regret):.2f} ({', '.join(f'{r:.2f}' for r in regret)}) | "
                    f"{np.mean(pct):.2f}% ({', '.join(f'{p:.2f}' for p in pct)}) |")
    within = np.mean([p for runs in results.values() for _, p, _ in runs])
    body = "\n".join([
        "## Constrained lookup on NAS-Bench-201 (issue 7)",
        "",
        f"`python tools/bench_lookup_nb201.py --labels {args.labels}` — {args.labels:,} of the 15,625 cells labelled "
        f"with their true CIFAR-10 validation accuracy, the GCN (`predict_space`, Gray-code features, default "
        f"recipe) predicts the rest, and a lookup table holds the predictions with the benchmark's measured "
        f"latency. Seeds {', '.join(map(str, args.seeds))}; Kendall tau of the predictions over all cells "
        f"{np.mean(taus):.3f} ({', '.join(f'{t:.3f}' for t in taus)}); GCN training {np.mean(seconds):.0f} s per "
        f"seed. For each limit: the true accuracy of the table's best answer against the true best under the "
        f"same limit (regret in points, mean and per seed) and the share of the architectures meeting the "
        f"limit that are truly better than the answer (0% = the true best).",
        "",
        "| latency limit | cells meeting it | regret, points | truly better than the answer |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Goal: the answer within the top 1% of the architectures that meet the limit, with 1,000 labels. "
        f"Mean over limits and seeds: {within:.2f}%.",
    ])
    if not args.no_write:
        update_section("lookup-nb201", body)
    print(body)


if __name__ == "__main__":
    main()
