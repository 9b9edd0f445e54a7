#!/usr/bin/env python
"""Supernet step / standalone step on a 12-block MBConv chain: graphnas and NNI 3.0 side by side.

An optional benchmark, not a dependency: NNI lives in its own virtual environment, ``.venv-nni``,
next to graphnas's ``.venv`` (graphnas is imported from this checkout, not installed there)::

    python3 -m venv .venv-nni
    .venv-nni/bin/pip install torch==2.14.1 torchvision==0.29.1 nni==3.0 pytorch-lightning
    .venv-nni/bin/python tools/bench_step_nni.py [--archs 20] [--steps 30] [--json runs/bench_step_nni.json]

The space: the FairNAS chain with 2 blocks per stage, i.e. 12 MBConv blocks (depthwise kernel 3/5/7 x
expansion 3/6, no identity, 6^12 architectures) at 32 px, width 1.0, stem stride 1, no head conv,
10 classes. Both libraries run the *same* operator modules (deep copies of graphnas's supernet's stem,
candidates and head), so any difference is the supernet machinery's:

- graphnas: ``Supernet(space)(x, arch)`` and the standalone ``supernet.extract(arch)``;
- NNI: a ``ModelSpace`` whose 12 blocks are ``LayerChoice``s, turned into NNI's SPOS supernet by
  ``RandomOneShot().mutate_model(space)`` (each ``LayerChoice`` becomes a ``PathSamplingLayer``); a
  step first sets the path on every supernet module with ``resample(memo=sample)``, which is what
  NNI's ``RandomSamplingLightningModule.training_step`` does before calling the model's step. NNI's
  standalone network is ``space.freeze(sample)`` (a copy, so the two have separate weights).

Per architecture, after 3 warm-up rounds, ``--steps`` rounds each run one training step of the four
models in turn (graphnas supernet, graphnas standalone, NNI supernet, NNI standalone) on one batch;
each library's ratio is the median supernet step over the median standalone step, and the figure
is the median over ``--archs`` architectures. A step is forward, ``zero_grad(set_to_none=True)``,
backward and an SGD (momentum 0.9) update, as in ``graphnas.train.loop``.

If NNI cannot be imported or driven, the JSON says so (``nni_error``, with the error line) and holds
graphnas's figures alone. ``tools/bench_step.py --nni`` runs this script and writes both ratios into
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import traceback
import warnings
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
for p in (str(ROOT), str(TOOLS)):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench_step import param_bytes, step_time, train_step  # noqa: E402
from benchlib import median  # noqa: E402

from graphnas import Supernet, get_space  # noqa: E402

CHAIN = dict(stage_blocks=(2, 2, 2, 2, 2, 2))  # FairNAS widths and strides, 12 blocks


def chain_space(resolution: int, width: float):
    return get_space("fairnas", resolution=resolution, width=width, num_classes=10, in_channels=3, stem_stride=1,
                     head_channels=None, **CHAIN)


def nni_supernet(supernet: Supernet):
    """NNI's SPOS supernet over deep copies of ``supernet``'s modules; returns (model, supernet modules)."""
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace
    from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
    from nni.nas.strategy import RandomOneShot

    space = supernet.space
    body = supernet.body[0]

    class ChainSpace(ModelSpace):
        def __init__(self):
            super().__init__()
            self.stem = copy.deepcopy(supernet.stem)
            self.blocks = nn.Sequential(*[
                LayerChoice({op: copy.deepcopy(body.edges[f"e{i}"][op]) for op in space.edges[i].candidates},
                            label=f"b{i}")
                for i in range(len(space.edges))])
            self.head = copy.deepcopy(supernet.head)

        def forward(self, x):
            return self.head(self.blocks(self.stem(x)))

    model = RandomOneShot().mutate_model(ChainSpace())
    return model, BaseSuperNetModule


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(ROOT / "runs" / "bench_step_nni.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    command = (f"python tools/bench_step_nni.py --archs {args.archs} --steps {args.steps} --batch {args.batch} "
               f"--resolution {args.resolution} --width {args.width:g} --threads {args.threads}")
    space = chain_space(args.resolution, args.width)
    torch.manual_seed(0)
    supernet = Supernet(space).to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.resolution, args.resolution).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,))

    out: dict = {"command": command, "versions": {"torch": torch.__version__, "python": sys.version.split()[0]},
                 "config": dict(archs=args.archs, steps=args.steps, batch=args.batch, resolution=args.resolution,
                                width=args.width, threads=args.threads,
                                description=(f"The FairNAS chain with 2 blocks per stage: 12 MBConv blocks "
                                             f"(kernel 3/5/7 x expansion 3/6, {space.size:,} architectures) at "
                                             f"{args.resolution} px, width {args.width:g}, stem stride 1, no head "
                                             f"conv, 10 classes, batch {args.batch}, channels-last, SGD with "
                                             f"momentum."))}
    nni_model = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import nni
            import pytorch_lightning
            out["versions"].update(nni=nni.__version__, pytorch_lightning=pytorch_lightning.__version__)
            nni_model, supernet_module_type = nni_supernet(supernet)
            nni_model = nni_model.to(memory_format=torch.channels_last)
        if caught:
            out["nni_warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        # sanity check: same weights and path -> same outputs (eval mode: batch-norm running statistics)
        arch = space.sample(np.random.default_rng(123))
        sample = {f"b{i}": op for i, op in enumerate(arch.ops)}
        for m in nni_model.modules():
            if isinstance(m, supernet_module_type):
                m.resample(memo=sample)
        supernet.eval(), nni_model.eval()
        with torch.no_grad():
            diff = (supernet(x, arch) - nni_model(x)).abs().max().item()
        supernet.train(), nni_model.train()
        out["check_max_abs_diff"] = diff
        if diff > 1e-4:
            raise RuntimeError(f"NNI supernet and graphnas supernet disagree on the same path (max |diff| {diff:.2e})")
    except Exception as exc:  # noqa: BLE001 - an optional benchmark reports why it could not run
        line = f"{type(exc).__name__}: {exc}".splitlines()[0]
        out["nni_error"] = line
        print(f"NNI cannot be measured on this machine: {line}", file=sys.stderr)
        traceback.print_exc()
        nni_model = None

    def nni_step(model, sample, opt):
        # NNI's RandomOneShot training step: set the path on every supernet module, then the step itself
        start = time.perf_counter()
        for m in model.modules():
            if isinstance(m, supernet_module_type):
                m.resample(memo=sample)
        train_step(model, x, y, opt)
        return time.perf_counter() - start

    rng = np.random.default_rng(0)
    res = {"graphnas": {"ratios": [], "sup_ms": [], "std_ms": []}, "nni": {"ratios": [], "sup_ms": [], "std_ms": []}}
    for a in range(args.archs):
        arch = space.sample(rng)
        sample = {f"b{i}": op for i, op in enumerate(arch.ops)}
        g_std = supernet.extract(arch).to(memory_format=torch.channels_last)
        models = [("graphnas", "sup", lambda o: step_time(supernet, x, y, o, arch), supernet),
                  ("graphnas", "std", lambda o: step_time(g_std, x, y, o), g_std)]
        if nni_model is not None:
            n_std = copy.deepcopy(nni_model.freeze(sample)).to(memory_format=torch.channels_last)
            n_std.train()
            if sum(p.numel() for p in n_std.parameters()) != sum(p.numel() for p in g_std.parameters()):
                raise RuntimeError("NNI's frozen network and graphnas's standalone network differ in parameters")
            models += [("nni", "sup", lambda o: nni_step(nni_model, sample, o), nni_model),
                       ("nni", "std", lambda o: step_time(n_std, x, y, o), n_std)]
        opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for *_, m in models]
        times = [[] for _ in models]
        for r in range(3 + args.steps):
            for k, (_, _, step, _) in enumerate(models):
                t = step(opts[k])
                if r >= 3:
                    times[k].append(t)
        line = f"arch {a}:"
        for lib in ("graphnas", "nni"):
            ks = [k for k, m in enumerate(models) if m[0] == lib]
            if not ks:
                continue
            ts, tn = median(times[ks[0]]), median(times[ks[1]])
            r = res[lib]
            r["ratios"].append(ts / tn)
            r["sup_ms"].append(ts * 1e3)
            r["std_ms"].append(tn * 1e3)
            line += f"  {lib} {ts * 1e3:.1f} / {tn * 1e3:.1f} ms = {ts / tn:.3f}"
        print(line, flush=True)
    for lib, model in (("graphnas", supernet), ("nni", nni_model)):
        r = res[lib]
        if not r["ratios"]:
            continue
        out[lib] = dict(ratio=median(r["ratios"]), min=min(r["ratios"]), max=max(r["ratios"]),
                        sup_ms=median(r["sup_ms"]), std_ms=median(r["std_ms"]), ratios=r["ratios"],
                        supernet_params=sum(p.numel() for p in model.parameters()),
                        supernet_param_mb=param_bytes(model) / 2 ** 20)
        print(f"{lib}: supernet step / standalone step, median over {args.archs} architectures: "
              f"{out[lib]['ratio']:.3f} (range {out[lib]['min']:.3f} - {out[lib]['max']:.3f})")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    if "nni_error" in out:
        sys.exit(2)


if __name__ == "__main__":
    main()
