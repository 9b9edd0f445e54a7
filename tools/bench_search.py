#!/usr/bin/env python
"""Search strategies on NAS-Bench-201 as a zero-cost oracle: random, evolution and NSGA-II (on DEAP), with
pymoo's NSGA-II as the peer.

Every cell's true CIFAR-10 accuracy (1 - ``metric_valid_error``), latency (``metric_latency``) and FLOPs
(``metric_flops``) come from ../shared/data (read here, never copied). Two questions:

* **Under a latency limit** (a hard constraint: nothing above it is evaluated), how good is each strategy's
  best after 100, 300 and 1,000 evaluations? Regret (accuracy points below the true best within the limit)
  and percentile (share of the cells within the limit truly better; 0% = the true best), mean over seeds.
* **The whole front**: NSGA-II without limits over (accuracy, latency) and (accuracy, FLOPs, graphnas's
  ``madds`` objective); the hypervolume
  of the front of what it evaluated over the true front's (both axes scaled to [0, 1] by the space's range,
  reference point at the worst accuracy and cost). pymoo's NSGA-II (in ``.venv-pymoo``: integer variables,
  its default operators for them, duplicates eliminated) runs the same problem at the same evaluation counts.

Schedules (``schedule``): population 20 at 100 evaluations, 30 at 300, 50 at 1,000 (evolution keeps the top
fifth as parents: SPOS's 10 of 50); NSGA-II 10, 30 and ST-NAS's 45.

    python tools/bench_search.py [--seeds 10] [--limits 12 15 17] [--budgets 100 300 1000] [--no-pymoo]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from benchlib import ROOT, nb201_truth, update_section

import graphnas
from graphnas.cost.limits import Limit
from graphnas.search import evolution, nsga2, random_search
from graphnas.search.pareto import hypervolume, nondominated
from graphnas.search.plot import plot_front
from graphnas.space.encoding import indices_of

PYMOO_PYTHON = ROOT / ".venv-pymoo" / "bin" / "python"
PICTURE = ROOT / "docs" / "img" / "search_nb201.png"
CROSSOVERS = ("one_point", "uniform")  # NSGA-II's: ST-NAS's (the default) first


def schedule(budget: int, strategy: str = "evolution") -> int:
    """The population at ``budget`` evaluations: SPOS's 50 and ST-NAS's 45 at 1,000; below, 20 / 30 for evolution
    and random, and 10 / 30 for NSGA-II, whose crowding spreads a wide population over the whole cost range
    (at 100 evaluations, 10 generations of 10 left it 0.74 / 0.48 points below the best under 15 / 17 ms
    against 0.87 / 0.54 with 5 generations of 20; 30 seeds)."""
    if budget >= 990:
        return 45 if strategy == "nsga2" else 50
    return {100: 10 if strategy == "nsga2" else 20, 300: 30}.get(budget, 50)


def run_strategy(name: str, space, t, budget: int, seed: int, limit: float | None, cost: str = "latency",
                 crossover: str = "one_point"):
    index = space.index
    score = lambda a: float(t["acc"][index(a)])  # noqa: E731
    measure = {m: (lambda a, m=m: float(t[m][index(a)])) for m in ("latency", "madds")}
    limits = [Limit("latency", limit, measure["latency"])] if limit is not None else []
    pop = schedule(budget, name)
    if name == "random":
        return random_search(space, score, limits, budget=budget, rng=seed, population=pop, progress=False)
    if name == "evolution":
        return evolution(space, score, limits, budget=budget, rng=seed, population=pop, parents=max(2, pop // 5),
                         progress=False)
    return nsga2(space, score, limits, budget=budget, rng=seed, population=pop, objectives=("accuracy", cost),
                 measures=measure, crossover=crossover, progress=False)


def scaled_hv(score, cost, t, cost_key: str) -> float:
    """Hypervolume with both axes scaled to [0, 1] over the whole space; reference at the worst of both."""
    a, c = t["acc"], t[cost_key]
    s = (np.asarray(score) - a.min()) / (a.max() - a.min())
    k = (np.asarray(cost) - c.min()) / (c.max() - c.min())
    return hypervolume(s, k, ref_score=0.0, ref_cost=1.0 + 1e-9)


def run_pymoo(t, budgets, seeds, tmp: Path) -> dict:
    """pymoo's NSGA-II in .venv-pymoo: ``{cost: {budget: [hv, ...]}}``, or ``{"error": ...}``."""
    x = np.array(list(itertools.product(range(5), repeat=6)))[::97]
    assert (indices_of(graphnas.get_space("nb201"), x) == x @ 5 ** np.arange(5, -1, -1)).all(), "index order"
    if not PYMOO_PYTHON.exists():
        return {"error": f"{PYMOO_PYTHON} is missing: python -m venv .venv-pymoo && .venv-pymoo/bin/pip install pymoo"}
    np.savez(tmp / "problem.npz", acc=t["acc"], latency=t["latency"], madds=t["madds"])
    cmd = [str(PYMOO_PYTHON), str(ROOT / "tools" / "bench_search_pymoo.py"), str(tmp / "problem.npz"),
           "--budgets", *map(str, budgets), "--seeds", str(seeds), "--out", str(tmp / "pymoo.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    fronts = json.loads((tmp / "pymoo.json").read_text())
    out = {"version": fronts.pop("version")}
    for cost, per_budget in fronts.items():
        out[cost] = {int(b): [scaled_hv([t["acc"][i] for i in run], [t[cost][i] for i in run], t, cost)
                              for run in runs] for b, runs in per_budget.items()}
    return out


def fmt(values, unit: str = "") -> str:
    return f"{np.mean(values):.2f}{unit}"


def fmt_se(percent) -> str:
    """Mean ± standard error over seeds, in percent."""
    v = np.asarray(percent, dtype=float)
    return f"{v.mean():.2f} ± {v.std(ddof=1) / np.sqrt(len(v)):.2f}%" if len(v) > 1 else f"{v.mean():.2f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--limits", type=float, nargs="+", default=[12.0, 15.0, 17.0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--no-pymoo", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    start = time.perf_counter()
    space = graphnas.get_space("nb201")
    t = nb201_truth(space)
    strategies = ("random", "evolution", "nsga2")
    runs = [(s, b, seed, lim) for lim in args.limits for b in args.budgets for s in strategies
            for seed in range(args.seeds)]
    regret = {}
    for s, b, seed, lim in tqdm(runs, desc="limited searches", unit="search"):
        best = run_strategy(s, space, t, b, seed, lim).best
        ok = t["latency"] <= lim
        got = best.score
        regret.setdefault((s, b, lim), []).append((100 * (t["acc"][ok].max() - got),
                                                   100 * float(np.mean(t["acc"][ok] > got))))
    true_hv, ours, last = {}, {}, {}
    for cost in ("latency", "madds"):
        on = nondominated(np.column_stack([t["acc"], t[cost]]))
        true_hv[cost] = scaled_hv(t["acc"][on], t[cost][on], t, cost)
        for b, crossover, seed in itertools.product(args.budgets, CROSSOVERS, range(args.seeds)):
            result = run_strategy("nsga2", space, t, b, seed, None, cost, crossover)
            front = result.front()
            ours.setdefault((cost, b, crossover), []).append(
                scaled_hv([r.score for r in front], [r.costs[cost] for r in front], t, cost) / true_hv[cost])
            if seed == 0 and b == max(args.budgets) and crossover == CROSSOVERS[0]:
                last[cost] = (result, (t[cost][on], t["acc"][on]))
    with tempfile.TemporaryDirectory() as tmp:
        peer = {"error": "not run (--no-pymoo)"} if args.no_pymoo else run_pymoo(t, args.budgets, args.seeds, Path(tmp))
    wall = time.perf_counter() - start

    rows = []
    for lim in args.limits:
        n = int((t["latency"] <= lim).sum())
        for b in args.budgets:
            cells = []
            for s in strategies:
                r, p = zip(*regret[(s, b, lim)])
                cells += [fmt(r), fmt(p, "%")]
            rows.append(f"| {lim:g} ms | {n:,} | {b:,} | " + " | ".join(cells) + " |")
    hv_rows = []
    for cost in ("latency", "madds"):
        for b in args.budgets:
            mine = [fmt_se(np.array(ours[(cost, b, x)]) * 100) for x in CROSSOVERS]
            theirs = fmt_se(np.array(peer[cost][b]) / true_hv[cost] * 100) if cost in peer else "—"
            name = "FLOPs" if cost == "madds" else cost
            worst = min(ours[(cost, b, CROSSOVERS[0])]) * 100
            hv_rows.append(f"| accuracy vs {name} | {b:,} | {mine[0]} (min {worst:.2f}%) | {mine[1]} | {theirs} |")
    picture = None
    if not args.no_write:
        from graphnas.search.result import SearchResult

        res_lat, true_lat = last["latency"]
        merged = SearchResult("nsga2", res_lat.history, objectives=("accuracy", "latency"))
        picture = plot_front(merged, PICTURE, title=f"NSGA-II on NAS-Bench-201, {len(merged.history)} evaluations "
                             f"(seed 0)", true_front={"latency": true_lat}, ylabel="accuracy (true)")
    body = "\n".join([
        "## Search strategies on NAS-Bench-201 (issue 14)",
        "",
        f"`python tools/bench_search.py --seeds {args.seeds} --limits {' '.join(f'{v:g}' for v in args.limits)} "
        f"--budgets {' '.join(map(str, args.budgets))}` — the 15,625 cells as a zero-cost oracle (true CIFAR-10 "
        f"accuracy, measured latency, FLOPs from ../shared/data). Random, evolution (SPOS: top fifth as parents, "
        f"half uniform crossover, half mutation at 0.1) and NSGA-II (ST-NAS: crowded tournament, one-point "
        f"crossover, mutation at 0.1, `deap.tools.selNSGA2`), all on graphnas's DEAP toolbox; populations 20 / 30 / "
        f"50 at 100 / 300 / 1,000 evaluations (NSGA-II: 10 / 30 / ST-NAS's 45; `schedule` in the script says "
        f"why). {args.seeds} seeds each; "
        f"mean over seeds. The latency limit is a hard constraint: no cell above it is ever evaluated.",
        "",
        "Best architecture found under a latency limit: regret (accuracy points below the true best within the "
        "limit) and percentile (share of the cells within the limit truly better; 0% = the true best).",
        "",
        "| latency limit | cells meeting it | evaluations | random: regret | percentile | evolution: regret | "
        "percentile | nsga2: regret | percentile |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Hypervolume of the front NSGA-II evaluated (no limits) over the true front's (both axes scaled to [0, 1] "
        "over the space; reference point: worst accuracy, largest cost), mean ± standard error over seeds; "
        "graphnas's NSGA-II with ST-NAS's one-point crossover (the default) and with uniform crossover "
        "(`crossover='uniform'`, `--crossover uniform`); the peer is pymoo's NSGA-II "
        f"({'pymoo ' + peer['version'] if 'version' in peer else peer.get('error')}; integer variables, its "
        f"default operators for them, duplicates eliminated) at the same evaluation counts and seeds.",
        "",
        "| objectives | evaluations | graphnas nsga2, one-point (default) | graphnas nsga2, uniform | pymoo NSGA-II |",
        "|---|---|---|---|---|",
        *hv_rows,
        "",
        *([f"![NSGA-II front on NAS-Bench-201]({picture.relative_to(ROOT)})", ""] if picture else []),
        f"Wall time: {wall / 60:.1f} min.",
    ])
    print(body)
    if not args.no_write:
        update_section("search", body)


if __name__ == "__main__":
    sys.exit(main())
