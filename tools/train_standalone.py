#!/usr/bin/env python
"""Ground truth: train architectures from scratch (several seeds, one budget) and table their accuracy.

Each (architecture, seed) pair is one job: build the standalone network, train it with the given
recipe on the training split, record validation and test accuracy. The table is a JSON file,
rewritten atomically after every finished job; a rerun skips the jobs already in it, so an
interrupted run resumes where it stopped. A table made with another space, scale, data set or
recipe is refused (use another ``--table``). Jobs run in ``--workers`` processes (on one GPU they
share it; on CPU give each one thread with ``--threads``).

    python tools/train_standalone.py --space st_nas --data fashion_mnist --sample 16 \\
        --seeds 0 1 2 --epochs 15 --table runs/ground_truth.json [--device cuda --workers 8]

Architectures come from ``--archs FILE`` (a JSON list of architecture objects, as written by
``Architecture.to_json``), ``--sample N``: N architectures of the space spread evenly over its
MAdds range (the N quantiles of 4,000 uniform samples), ``--design N``: N architectures spread over
depth, topology and operator size (:func:`graphnas.estimate.spread.designed_archs`), or ``--spread K``:
the K architectures of the table whose pilot accuracy spreads most evenly. The ranking ground truth
(issue 18) is built in two steps, a pilot and the seeds of the kept architectures::

    python tools/train_standalone.py --design 40 --seeds 0 --epochs 4 --batch-size 256 --lr 0.2 \
        --workers 2 --table benchmarks/ranking_ground_truth_stnas.json
    python tools/train_standalone.py --spread 32 --seeds 0 1 2 --epochs 4 --batch-size 256 --lr 0.2 \
        --workers 2 --table benchmarks/ranking_ground_truth_stnas.json

``--spread`` picks on the pilot's *validation* accuracy (:func:`graphnas.estimate.spread.pick_spread`), so
the test accuracy the ranking is scored on does not choose its own architectures, and writes the choice
into the table (``selected``); later runs train the same selection.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

RECIPE_KEYS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "label_smoothing")


def build_space(args):
    from graphnas.train.data import load_dataset
    from graphnas.space.registry import space_info
    from graphnas.jobs import run_space

    scale = {**space_info(args.space).cpu_scale, **json.loads(args.scale)}
    resolution = args.resolution or scale.pop("resolution", 16)
    scale.pop("resolution", None)
    data = load_dataset(args.data, root=args.data_root, resolution=resolution, seed=args.data_seed,
                        **({"train_size": args.train_size} if args.train_size else {}))
    return run_space(args.space, data, scale, None if args.ops == ["cpu"] else args.ops), data


def spread_archs(space, n: int, seed: int = 0, pool: int = 4000) -> list:
    """``n`` distinct architectures at evenly spaced MAdds quantiles of ``pool`` uniform samples."""
    from graphnas import arch_cost

    rng = np.random.default_rng(seed)
    archs = sorted((space.sample(rng) for _ in range(pool)), key=lambda a: arch_cost(a).madds)
    picked, seen = [], set()
    for q in np.linspace(0, len(archs) - 1, n).round().astype(int):
        k = int(q)
        while archs[k].hash in seen:
            k += 1
        picked.append(archs[k])
        seen.add(archs[k].hash)
    return picked


_STATE: dict = {}


def _on_device_class():
    from torch import nn

    class OnDevice(nn.Module):
        """Runs ``net`` on its device for CPU batches and hands the logits back on the CPU."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x.to(next(self.net.parameters()).device, non_blocking=True)).float().cpu()

    return OnDevice


def _OnDevice(net):  # noqa: N802 - reads as a class at the call site
    return _on_device_class()(net)


def _init_worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    _STATE["args"] = args
    _STATE["space"], _STATE["data"] = build_space(args)


def _job(item: tuple[str, int]) -> dict:
    import torch

    from graphnas.nets import compile
    from graphnas.estimate.score import accuracy
    from graphnas.train.loop import TrainConfig, train

    arch_json, seed = item
    args, space, data = _STATE["args"], _STATE["space"], _STATE["data"]
    arch = space.from_json(arch_json)
    torch.manual_seed(seed)
    net = compile(arch).to(args.device)
    config = TrainConfig(seed=seed, **{k: getattr(args, k) for k in RECIPE_KEYS})
    start = time.perf_counter()
    history = train(net, data.train, config, progress=False)
    return {"hash": arch.hash, "seed": seed, "val_accuracy": accuracy(net, data.val),
            "test_accuracy": accuracy(net, data.test), "train_accuracy_last_epoch": history[-1]["accuracy"],
            "seconds": time.perf_counter() - start, "device": args.device}


def load_table(path: Path, meta: dict) -> dict:
    """The table at ``path`` to resume (checked by graphnas.estimate.groundtruth.load_ground_truth), or a new one."""
    from graphnas.errors import GraphnasError
    from graphnas.estimate.groundtruth import load_ground_truth

    if not os.path.lexists(path):
        return {"meta": meta, "archs": {}, "runs": []}
    try:
        table = load_ground_truth(path)
    except GraphnasError as err:
        sys.exit(f"train_standalone: error: {err}; or delete it, or pass another --table")
    if table["meta"] != json.loads(json.dumps(meta)):  # as JSON: tuples of the scale read back as lists
        sys.exit(f"train_standalone: error: table {path} was made with {table.get('meta')}, not {meta}; "
                 f"pass another --table")
    return table


def selection(table: dict, space, k: int, path: Path) -> list:
    """The table's selection of ``k`` architectures: the one it holds, or (made now and kept in the table)
    the ``k`` whose mean pilot validation accuracy spreads most evenly."""
    from graphnas.estimate.groundtruth import ground_truth_archs
    from graphnas.estimate.spread import pick_spread
    from graphnas.errors import GraphnasError

    chosen = table.get("selected")
    if chosen is not None and len(chosen) != k:
        sys.exit(f"train_standalone: error: table {path} already selected {len(chosen)} architectures, not {k}; "
                 f"pass --spread {len(chosen)}, or another --table")
    if chosen is None:
        val: dict[str, list[float]] = {}
        for run in table["runs"]:
            val.setdefault(run["hash"], []).append(run["val_accuracy"])
        try:
            chosen = pick_spread({h: statistics.fmean(v) for h, v in val.items()}, k)
        except GraphnasError as err:
            sys.exit(f"train_standalone: error: {err}")
        table["selected"] = chosen
        print(f"selected {k} of {len(val)} architectures, pilot validation accuracy "
              f"{min(statistics.fmean(val[h]) for h in chosen):.4f}-{max(statistics.fmean(val[h]) for h in chosen):.4f}",
              flush=True)
    return ground_truth_archs(table, space, chosen, path)


def summarise(table: dict) -> dict:
    """Per architecture: mean and standard deviation of test accuracy over seeds."""
    by = {}
    for run in table["runs"]:
        by.setdefault(run["hash"], []).append(run["test_accuracy"])
    return {h: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "seeds": len(v)}
            for h, v in by.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", default="st_nas")
    ap.add_argument("--scale", default="{}", help="JSON of scale arguments over the space's CPU_SCALE")
    ap.add_argument("--ops", nargs="+", default=["cpu"], help="operators kept ('cpu': the space's CPU_OPS; 'all')")
    ap.add_argument("--data", default="fashion_mnist")
    ap.add_argument("--data-root", default=None, help="data folder (default: the loader's)")
    ap.add_argument("--resolution", type=int, default=None)
    ap.add_argument("--train-size", type=int, default=None)
    ap.add_argument("--data-seed", type=int, default=0)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--archs", help="JSON list of architectures")
    group.add_argument("--sample", type=int, help="this many architectures spread over the MAdds range")
    group.add_argument("--spread", type=int, help="the table's architectures whose pilot validation accuracy "
                                                  "spreads most evenly, this many (kept as the table's selection)")
    group.add_argument("--design", type=int, help="this many architectures spread over depth, topology and operator "
                                                  "size (graphnas.estimate.spread.designed_archs)")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--weight-decay", type=float, default=4e-5)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--table", required=True)
    args = ap.parse_args(argv)

    from graphnas import arch_cost
    from graphnas.utils import atomic_write_json

    space, _ = build_space(args)
    if args.archs:
        from graphnas.errors import GraphnasError
        from graphnas.files import regular_file

        try:
            given = json.loads(regular_file(args.archs, "--archs file", "pass a JSON list of architectures "
                                            "(Architecture.to_json)").read_text(encoding="utf-8"))
            if not isinstance(given, list) or not given:
                raise ValueError("not a non-empty JSON list of architecture objects")
            archs = [space.from_json(json.dumps(obj)) for obj in given]
        except (OSError, ValueError, RecursionError, GraphnasError) as err:
            text = "nested too deeply" if isinstance(err, RecursionError) else " ".join(str(err).split())[:300]
            sys.exit(f"train_standalone: error: cannot read architectures from {args.archs} ({text})")
    elif args.design:
        from graphnas.estimate.spread import designed_archs

        archs = designed_archs(space, args.design, args.sample_seed)
    elif args.sample:
        archs = spread_archs(space, args.sample, args.sample_seed)
    meta = {"space": space.name, "fingerprint": space.fingerprint, "scale": space.scale, "data": args.data,
            "train_size": args.train_size, "data_seed": args.data_seed,
            "recipe": {k: getattr(args, k) for k in RECIPE_KEYS}}
    path = Path(args.table)
    table = load_table(path, meta)
    if args.spread:
        archs = selection(table, space, args.spread, path)
    for a in archs:
        cost = arch_cost(a)
        table["archs"].setdefault(a.hash, {"arch": json.loads(a.to_json()), "madds": cost.madds, "params": cost.params})
    done = {(r["hash"], r["seed"]) for r in table["runs"]}
    jobs = [(a.to_json(), s) for s in args.seeds for a in archs if (a.hash, s) not in done]
    print(f"{len(archs)} architectures x {len(args.seeds)} seeds: {len(done)} done, {len(jobs)} to train "
          f"({args.workers} workers on {args.device})", flush=True)
    atomic_write_json(path, table)
    start = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, initializer=_init_worker, initargs=(args,)) as pool:
        for k, run in enumerate(pool.imap_unordered(_job, jobs), 1):
            table["runs"].append(run)
            atomic_write_json(path, table)
            print(f"[{k}/{len(jobs)}] {run['hash']} seed {run['seed']}: test {run['test_accuracy']:.4f} "
                  f"({run['seconds']:.0f} s, {time.perf_counter() - start:.0f} s elapsed)", flush=True)
    summary = summarise(table)
    table["summary"] = summary
    atomic_write_json(path, table)
    stds = [s["std"] for s in summary.values() if s["seeds"] > 1]
    means = sorted(s["mean"] for s in summary.values())
    if stds:
        print(f"test accuracy {means[0]:.4f}-{means[-1]:.4f} over {len(means)} architectures; "
              f"median seed std {statistics.median(stds):.4f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
