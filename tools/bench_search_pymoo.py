#!/usr/bin/env python
"""The peer of tools/bench_search.py: pymoo's NSGA-II on the same NAS-Bench-201 problem (run in .venv-pymoo).

Reads the problem tools/bench_search.py wrote (every cell's accuracy, latency and FLOPs in index order; the
index of choice vector ``x`` is ``sum(x[i] * 5 ** (5 - i))``), runs NSGA-II with integer variables
(``IntegerRandomSampling``, SBX and polynomial mutation with rounding repair: pymoo's documented set-up for
integer problems; duplicates eliminated) for each budget and seed, and writes every evaluated cell's index
per run: ``{cost: {budget: [[index, ...], ...]}, "version": ...}``. Only numpy and pymoo are needed.

    .venv-pymoo/bin/python tools/bench_search_pymoo.py problem.npz --budgets 100 300 1000 --seeds 10 --out o.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pymoo
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize

EDGES, OPS = 6, 5


class Cells(Problem):
    """Minimise (-accuracy, cost) over the 5^6 cells; records every index it evaluates."""

    def __init__(self, acc, cost) -> None:
        super().__init__(n_var=EDGES, n_obj=2, xl=0, xu=OPS - 1, vtype=int)
        self.acc, self.cost, self.seen = acc, cost, []

    def _evaluate(self, x, out, *args, **kwargs):
        x = np.clip(np.rint(x).astype(np.int64), 0, OPS - 1)
        idx = x @ (OPS ** np.arange(EDGES - 1, -1, -1))
        self.seen.extend(int(i) for i in idx)
        out["F"] = np.column_stack([-self.acc[idx], self.cost[idx]])


def schedule(budget: int) -> int:
    """NSGA-II's populations in tools/bench_search.py, so both run the same schedule."""
    return 45 if budget >= 990 else {100: 10, 300: 30}.get(budget, 50)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("problem")
    ap.add_argument("--budgets", type=int, nargs="+", required=True)
    ap.add_argument("--seeds", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = np.load(args.problem)
    out = {"version": pymoo.__version__}
    for cost in ("latency", "madds"):
        out[cost] = {}
        for budget in args.budgets:
            runs = []
            for seed in range(args.seeds):
                problem = Cells(data["acc"], data[cost])
                algorithm = NSGA2(pop_size=schedule(budget), sampling=IntegerRandomSampling(),
                                  crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                                  mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                                  eliminate_duplicates=True)
                minimize(problem, algorithm, ("n_evals", budget), seed=seed, verbose=False)
                runs.append(problem.seen[:budget])
            out[cost][str(budget)] = runs
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
