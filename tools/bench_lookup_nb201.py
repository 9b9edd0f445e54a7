#!/usr/bin/env python
"""Constrained lookup on NAS-Bench-201: how good is "the best architecture under 15 ms" from a lookup table?

Each seed spends the same number of labels (default 1,000 of the 15,625 cells, labelled with their
true CIFAR-10 accuracy) three ways, and asks each table for the best cell under each latency limit:

* **random + predicted order**: labels drawn at random, the GCN (``predict_space``) predicts every
  cell, and the table ranks by prediction alone (no measured column);
* **GCN-NAS front** (graphnas's way, ``graphnas.lookup.label_and_predict``): four fifths drawn at
  random, the rest on the accuracy-latency front the GCN predicts, in two rounds with the GCN
  retrained after each; the table keeps the measured values and ranks them first;
* **random, best measured** (no predictor): the best labelled cell within the limit, from the random
  labels alone: what the labels buy without a model.

Latency is the benchmark's measured ``metric_latency``; MAdds are graphnas's analytic counts (equal
to the CSV's FLOPs). For each limit: regret (accuracy points below the true best within the limit)
and the answer's percentile (share of the cells within the limit that are truly better; 0% = the
true best). The ground truth stays in ../shared/data; tables live in a temporary folder.

    python tools/bench_lookup_nb201.py [--labels 1000] [--seeds 0 1 2] [--limits 10 12 15 17 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import mean_and_runs, nb201_truth, update_section

import graphnas
from graphnas.lookup import LookupTable, label_and_predict
from graphnas.predictor import predict_space
from graphnas.estimate.ranking import kendall_tau


def answer(acc, lat, table, limit: float) -> tuple[float, float]:
    """(regret in points, percentile) of the table's best answer under ``limit`` ms."""
    ok = lat <= limit
    got = acc[table.best(latency=f"{limit}ms").index]
    return 100 * (acc[ok].max() - got), 100 * float(np.mean(acc[ok] > got))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--limits", type=float, nargs="+", default=[10, 12, 15, 17, 20])
    ap.add_argument("--features", default="gray", help="GCN node features: gray (default) or onehot")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    start = time.perf_counter()
    space = graphnas.get_space("nb201")
    t = nb201_truth(space)
    acc, lat = t["acc"], t["latency"]
    recipe = {"features": args.features, "epochs": 600, "patience": 200}  # predict_space's default recipe
    kinds = ("random", "front", "measured")
    results = {k: {limit: [] for limit in args.limits} for k in kinds}
    taus = {k: [] for k in kinds[:2]}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            labelled = rng.choice(space.size, args.labels, replace=False)
            pred, _ = predict_space(space, {int(i): float(acc[i]) for i in labelled}, seed=seed, **recipe)
            taus["random"].append(kendall_tau(pred, acc))
            front_pred, measured, info = label_and_predict(space, lambda v: float(acc[v]), args.labels, cost=lat,
                                                           rng=seed, predictor=recipe, progress=False)
            taus["front"].append(kendall_tau(front_pred, acc))
            source = {"latency": lat, "latency_source": "NAS-Bench-201 metric_latency"}
            random_table = LookupTable.build(Path(tmp) / f"random_{seed}.db", space, pred, **source,
                                             meta={"predictor": f"gcn {args.features}, {args.labels} random labels"})
            front_table = LookupTable.build(Path(tmp) / f"front_{seed}.db", space, front_pred, measured=measured,
                                            **source, meta={"predictor": f"gcn {args.features}, {info['random']} "
                                                                         f"random + {info['front']} front labels"})
            only = np.full(space.size, np.nan)
            only[labelled] = acc[labelled]
            measured_table = LookupTable.build(Path(tmp) / f"measured_{seed}.db", space, np.full(space.size, -1.0),
                                               measured=only, **source, meta={"predictor": "none"})
            for kind, table in zip(kinds, (random_table, front_table, measured_table)):
                for limit in args.limits:
                    results[kind][limit].append(answer(acc, lat, table, limit))
                table.close()
    rows = []
    for limit in args.limits:
        n = int((lat <= limit).sum())
        cells = []
        for kind in kinds:
            regret, pct = zip(*results[kind][limit])
            cells += [mean_and_runs(regret), mean_and_runs(pct, "%")] if kind != "measured" else [mean_and_runs(pct, "%")]
        rows.append(f"| {limit:g} ms | {n:,} | " + " | ".join(cells) + " |")
    mean = {k: np.mean([p for runs in results[k].values() for _, p in runs]) for k in kinds}
    body = "\n".join([
        "## Constrained lookup on NAS-Bench-201 (issue 7)",
        "",
        f"`python tools/bench_lookup_nb201.py --labels {args.labels} --features {args.features}` — "
        f"{args.labels:,} of the 15,625 cells labelled with their true CIFAR-10 validation accuracy, spent three "
        f"ways (tools/bench_lookup_nb201.py's doc): *random + predicted order* (random labels, GCN "
        f"predictions, the table ranks by prediction), *GCN-NAS front* (`label_and_predict`: "
        f"{args.labels - args.labels // 5:,} random, {args.labels // 5:,} on the GCN's predicted accuracy-latency "
        f"front in 2 rounds; the table ranks measured cells first), and *random, best measured* (the best "
        f"random label within the limit, no predictor). GCN: {args.features} features, `predict_space`'s default "
        f"recipe. Seeds {', '.join(map(str, args.seeds))}; Kendall tau of the predictions over all cells: random "
        f"{mean_and_runs(taus['random'], digits=3)}, front {mean_and_runs(taus['front'], digits=3)}. Latency: the benchmark's "
        f"measured `metric_latency`. "
        f"Regret: accuracy points below the true best within the limit; percentile: share of the cells within "
        f"the limit truly better than the answer (0% = the true best); mean (per seed).",
        "",
        "| latency limit | cells meeting it | random + predicted order: regret | percentile | GCN-NAS front: "
        "regret | percentile | random, best measured: percentile |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Goal: the answer within the top 1% of the cells that meet the limit, with 1,000 labels. Mean percentile "
        f"over limits and seeds: random + predicted order {mean['random']:.2f}%, GCN-NAS front "
        f"{mean['front']:.2f}%, random best measured {mean['measured']:.2f}%. "
        f"Whole run {(time.perf_counter() - start) / 60:.1f} min.",
    ])
    if not args.no_write:
        update_section("lookup-nb201", body)
    print(body)


if __name__ == "__main__":
    main()
