#!/usr/bin/env python
"""Supernet single-path training step vs the same architecture's standalone step.

For each of ``--archs`` random architectures of st_nas at CPU scale, a Supernet and the standalone
network extracted from it (same weights) take training steps on the same batch, interleaved
(supernet, standalone, supernet, ...) so drift hits both; the figure is the median over steps of
the supernet step time divided by the standalone step time, and the median of that over
architectures. A step is forward + backward + SGD update, as in ``graphnas.train``.

    python tools/bench_step.py [--archs 10] [--steps 30] [--batch 64] [--resolution 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchlib import median, update_section

from graphnas import Supernet, get_space


def step_time(model, x, y, opt, arch=None) -> float:
    start = time.perf_counter()
    logits = model(x, arch) if arch is not None else model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("st_nas", resolution=args.resolution, width=0.25, num_classes=10, in_channels=3,
                      stem_stride=1, head_channels=None)
    torch.manual_seed(0)
    supernet = Supernet(space).to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.resolution, args.resolution).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))
    rng = np.random.default_rng(0)
    ratios, sup_ms, std_ms = [], [], []
    for a in range(args.archs):
        arch = space.sample(rng)
        net = supernet.extract(arch).to(memory_format=torch.channels_last)
        opt_s = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9)
        opt_n = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        for _ in range(3):  # warm-up
            step_time(supernet, x, y, opt_s, arch)
            step_time(net, x, y, opt_n)
        ts, tn = [], []
        for _ in range(args.steps):
            ts.append(step_time(supernet, x, y, opt_s, arch))
            tn.append(step_time(net, x, y, opt_n))
        ratios.append(median(ts) / median(tn))
        sup_ms.append(median(ts) * 1e3)
        std_ms.append(median(tn) * 1e3)
        print(f"arch {a}: supernet {sup_ms[-1]:.1f} ms, standalone {std_ms[-1]:.1f} ms, ratio {ratios[-1]:.3f}")
    params = sum(p.numel() for p in supernet.parameters())
    body = (f"## Supernet step vs standalone step (issue 3)\n\n"
            f"`python tools/bench_step.py --archs {args.archs} --steps {args.steps} --batch {args.batch} "
            f"--resolution {args.resolution} --threads {args.threads}`\n\n"
            f"st_nas at {args.resolution} px, width 0.25, all operators ({space.size:.2e} architectures, supernet "
            f"{params / 1e6:.2f}M parameters), batch {args.batch}, channels-last, SGD with momentum. "
            f"Median over {args.steps} interleaved steps per architecture, {args.archs} random architectures.\n\n"
            f"| figure | value |\n|---|---|\n"
            f"| supernet step / standalone step, median over architectures | **{median(ratios):.3f}** |\n"
            f"| range over architectures | {min(ratios):.3f} - {max(ratios):.3f} |\n"
            f"| supernet step, median | {median(sup_ms):.1f} ms |\n"
            f"| standalone step, median | {median(std_ms):.1f} ms |\n")
    print(body)
    if not args.no_write:
        update_section("step", body)


if __name__ == "__main__":
    main()
