#!/usr/bin/env python
"""Analytic cost of an architecture vs counting it on the compiled module: agreement and speed.

For every built-in space, the same random architectures (same process) are costed twice: by
``graphnas.arch_cost`` (closed form over the DAG) and by compiling the network and counting its
multiply-adds and parameters with forward hooks (``graphnas.count_module``). The figure is the
ratio of the median time per architecture (count / analytic) and the largest relative MAdds
difference. The analytic model builds a per-space table of every candidate's cost on first use
(``graphnas.cost.model.cost_table``); the first architecture of a space pays for it and is timed
separately ("cold").

    python tools/bench_cost.py [--archs 20] [--scale cpu|paper] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchlib import median, update_section

import graphnas
from graphnas import arch_cost, count_module
from graphnas.nets import compile
from graphnas.cost.model import clear_cost_cache
from graphnas.space.registry import _builtin_names, space_info


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--scale", choices=("cpu", "paper"), default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows, ratios = [], []
    for name in _builtin_names():
        scale = space_info(name).cpu_scale if args.scale == "cpu" else {}
        space = graphnas.get_space(name, **scale)
        archs = [space.sample(1000 + k) for k in range(args.archs)]
        clear_cost_cache()  # a fresh space: its cost table is built by the first call, timed as "cold"
        _, cold = timed(lambda: arch_cost(archs[0]))
        analytic, counted, worst = [], [], 0.0
        for arch in archs[1:]:
            cost, t = timed(lambda: arch_cost(arch))
            analytic.append(t)

            def count():
                with torch.no_grad():
                    return count_module(compile(arch).eval(), space.input_shape)

            ref, t = timed(count)
            counted.append(t)
            worst = max(worst, abs(cost.madds - ref.madds) / ref.madds)
            assert cost.params == ref.params, (name, arch.ops)
        ratio = median(counted) / median(analytic)
        ratios.append(ratio)
        rows.append(f"| `{name}` | {space.input_shape[1]} px | {median(analytic) * 1e3:.2f} ms | {cold * 1e3:.1f} ms "
                    f"| {median(counted) * 1e3:.1f} ms | **{ratio:.0f}x** | {100 * worst:.3f}% |")
        print(rows[-1], flush=True)
    body = (f"## Analytic cost vs counting the compiled module (issue 4)\n\n"
            f"`python tools/bench_cost.py --archs {args.archs} --scale {args.scale} --threads {args.threads}`\n\n"
            f"{args.archs - 1} random architectures per space at its {'CPU' if args.scale == 'cpu' else 'paper'} scale "
            f"(after one cold call that builds the space's cost table). Counting = compile + one forward pass "
            f"with hooks. Goal: analytic at least 100x faster; parameters equal, MAdds within 1%.\n\n"
            "| space | input | analytic, median | analytic, cold | compile + count, median | speed-up | "
            "largest MAdds difference |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
            f"\n\nSmallest speed-up over the spaces: **{min(ratios):.0f}x**.")
    if not args.no_write:
        update_section(f"cost-{args.scale}", body)
    print(body)


if __name__ == "__main__":
    main()
