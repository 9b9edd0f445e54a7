#!/usr/bin/env python
"""PC-NAS against SPOS on a CPU-scale chain space, under a latency limit from a measured table.

Both methods get the same training epochs and the same number of validation images for evaluation (as PC-NAS's
comparison with evolution does):

1. A latency table of the job's space (pcnas_small at its CPU scale on Fashion-MNIST) measured on this machine;
   the limit is the 40th percentile of 2,000 random architectures' latency (two significant digits).
2. ``graphnas run --strategy pcnas`` (P = 3, S = 100, one epoch per interval, the warm-up the rest of the epochs)
   and a SPOS supernet (uniform single-path training, the same epochs), trained side by side (one thread
   each); then SPOS evolution under the limit with as many evaluations as PC-NAS's potentials used validation
   images (each evaluation: the validation split plus the BN recalibration images).
3. Each method's pick trained from scratch with a fixed recipe (3 seeds): the difference and its seed noise.
4. Fig. 2b of the paper: 16 architectures around PC-NAS's answer (its final pool, then Hamming-1 neighbours
   within the limit) scored by each supernet (single checkpoint, BN recalibrated) against their standalone
   accuracy (seed 0): Pearson and Kendall tau with shrinking (PC-NAS's supernet) and without (SPOS's).
5. The potentials' stability on the SPOS supernet (a supernet as after PC-NAS's warm-up): the kept sets of
   boundaries 2 and 3 with S = 100 (seeds 0 and 1) and S = 300.

Every stage resumes: the jobs with ``--resume``, the standalone runs from their table; what the stages
measured is kept in ``benchmarks/pcnas_bench.json`` and the standalone table in ``benchmarks/pcnas_standalone.json``
(both committed, so a later session finishes what an earlier one started).

    python tools/bench_pcnas.py [--epochs 30] [--train-size 20000] [--samples 100] [--pool 3] [--out runs/bench_pcnas]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import ROOT, update_section

STATE = ROOT / "benchmarks" / "pcnas_bench.json"
STANDALONE = ROOT / "benchmarks" / "pcnas_standalone.json"
PICTURE = ROOT / "docs" / "img" / "pcnas_potentials.png"
RECIPE = {"epochs": 8, "batch_size": 512, "lr": 0.2, "momentum": 0.9, "weight_decay": 4e-5}
SPACE, DATA = "pcnas_small", "fashion_mnist"
#: Operators kept at this scale: pcnas_small's CPU_OPS (with all ten per edge a uniformly trained supernet stayed
#: at chance on Fashion-MNIST for thousands of steps; see that module).
OPS = ("mbconv_k3_e3", "mbconv_k5_e6", "identity")


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict) -> None:
    from graphnas.utils import atomic_write_json

    atomic_write_json(STATE, state)


def job(args, method: str, latency: str, table: str, budget: int | None = None):
    from graphnas.jobs import JobConfig, SearchConfig, SetupConfig, TrainingConfig

    options = {"samples": args.samples, "pool": args.pool}
    search = (SearchConfig(strategy="pcnas", strategy_options=options, latency=latency, latency_table=table,
                           lookup=False) if method == "pcnas" else
              SearchConfig(strategy="evolution", latency=latency, latency_table=table, lookup=False,
                           budget=budget, population=20, generations=max(1, -(-(budget or 20) // 20))))
    return JobConfig(setup=SetupConfig(space=SPACE, data=DATA, train_size=args.train_size, ops=_ops(args)),
                     training=TrainingConfig(sampler="uniform", train={"epochs": args.epochs, "batch_size": 64,
                                                                        "lr": 0.05}),
                     search=search, out=str(Path(args.out) / method), seed=0, resume=True, quiet=True)


def stage_latency(args, state) -> None:
    """The measured table and the limit."""
    if "latency" in state:
        return
    import torch

    from graphnas.cost.latency import build_latency_table
    from graphnas.cost.timing import TorchBackend
    from graphnas.jobs import SetupConfig
    from graphnas.jobs.search import example_latency
    from graphnas.jobs.setup import load_setup

    torch.set_num_threads(1)
    space = load_setup(SetupConfig(space=SPACE, data=DATA, train_size=64, ops=_ops(args)), 0)[1]
    path = Path(args.out) / "latency.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = build_latency_table(space, path, TorchBackend("cpu", 1), progress=True)
    lat = np.array([model.latency(space.sample(i)) for i in range(2000)])
    limit = example_latency(np.percentile(lat, 40))
    state["latency"] = {"table": str(path), "limit_ms": limit, "seconds": time.perf_counter() - t0,
                        "range_ms": [float(lat.min()), float(lat.max())],
                        "share_within": float(np.mean(lat <= limit))}
    save_state(state)


def stage_train(args, method: str) -> None:
    """One supernet (a separate process, one thread): ``graphnas train`` of the job, resumed if killed."""
    import torch

    from graphnas.jobs import train

    torch.set_num_threads(1)
    state = load_state()
    config = job(args, method, f"{state['latency']['limit_ms']:g}ms", state["latency"]["table"], budget=20)
    train(config)


def stage_search(args, state) -> None:
    import torch

    from graphnas.jobs import run

    torch.set_num_threads(1)
    lat = state["latency"]
    limit = f"{lat['limit_ms']:g}ms"
    if "pcnas" not in state:
        t0 = time.perf_counter()
        report = run(job(args, "pcnas", limit, lat["table"]))
        state["pcnas"] = {"best": report["best"], "images": report["search"]["pcnas"]["validation_images"],
                          "ranking": report["search"]["pcnas"]["ranking"],
                          "train_seconds": sum(h["seconds"] for h in report["supernet"]["history"]),
                          "job_seconds": time.perf_counter() - t0}
        if not args.no_write:
            shutil.copyfile(Path(args.out) / "pcnas" / "pcnas.png", PICTURE)
        save_state(state)
    if "spos" not in state:
        per_eval = 10_000 + 256  # the validation split and the recalibration images of one evaluation
        budget = max(20, round(state["pcnas"]["images"] / per_eval))
        t0 = time.perf_counter()
        report = run(job(args, "spos", limit, lat["table"], budget=budget))
        state["spos"] = {"best": report["best"], "evaluations": report["search"]["evaluations"],
                         "images": report["search"]["evaluations"] * per_eval,
                         "train_seconds": sum(h["seconds"] for h in report["supernet"]["history"]),
                         "job_seconds": time.perf_counter() - t0}
        save_state(state)


def _space_and_data(args, train_size=None):
    from graphnas.jobs import SetupConfig
    from graphnas.jobs.setup import load_setup

    return load_setup(SetupConfig(space=SPACE, data=DATA, train_size=train_size or args.train_size, ops=_ops(args)),
                      0)


def _ops(args) -> list | None:
    return None if args.ops == "all" else args.ops.split(",")


def _trained(args, state):
    """``(data, space, latency model, load)``: the job's data and space, the measured table, and
    ``load(method) -> Supernet`` with that method's trained weights."""
    import torch

    from graphnas import Supernet
    from graphnas.cost.latency import LatencyModel
    from graphnas.train.checkpoint import read_trained

    torch.set_num_threads(1)
    data, space = _space_and_data(args)

    def load(method: str):
        net = Supernet(space)
        read_trained(Path(args.out) / method / "checkpoint.pt").load_into(net)
        return net

    return data, space, LatencyModel.load(state["latency"]["table"], space), load


def stage_neighbourhood(args, state) -> None:
    """16 architectures around PC-NAS's answer, scored by both supernets."""
    if "neighbourhood" in state:
        return
    from graphnas.estimate.score import SupernetEvaluator

    data, space, latency, load = _trained(args, state)
    limit = state["latency"]["limit_ms"]
    best = space.from_ops(state["pcnas"]["best"]["ops"])
    archs = {best.hash: best}
    for ops in [r["ops"] for r in state["pcnas"]["ranking"]]:
        a = space.from_ops(ops)
        archs.setdefault(a.hash, a)
    rng = np.random.default_rng(0)
    neighbours = [a for a in best.neighbours() if latency.latency(a) <= limit]
    for k in rng.permutation(len(neighbours)):
        if len(archs) >= 16:
            break
        archs.setdefault(neighbours[k].hash, neighbours[k])
    archs = list(archs.values())
    scores = {m: SupernetEvaluator(load(m), data.val, data.train, recal_samples=256).score_many(archs, progress=True)
              for m in ("pcnas", "spos")}
    state["neighbourhood"] = {"archs": [json.loads(a.to_json()) for a in archs], "hashes": [a.hash for a in archs],
                              "latency_ms": [latency.latency(a) for a in archs], "supernet": scores}
    save_state(state)


def stage_stability(args, state) -> None:
    """Top-P overlap of the kept sets of boundaries 2 and 3 (edges 1 and 2): S at seeds 0 and 1, and 3 S."""
    if "stability" in state:
        return
    from graphnas.cost.limits import make_limit
    from graphnas.search.pcnas import PCNAS

    data, space, latency, load = _trained(args, state)
    limits = [make_limit("latency", f"{state['latency']['limit_ms']:g}ms", latency)]
    net = load("spos")
    kept, seconds = {}, {}
    for samples, seed in ((args.samples, 0), (args.samples, 1), (3 * args.samples, 0)):
        pc = PCNAS(space, data.val, limits, pool=args.pool, samples=samples, seed=seed, warmup=1, interval=1,
                   progress=True)
        t0 = time.perf_counter()
        pools = []
        for _ in range(3):  # edge 0 offers two operators (no identity where a stage starts): all kept
            pc.update_pool(net)
            pools.append(pc.pool.tolist())
        seconds[f"S={samples} seed={seed}"] = time.perf_counter() - t0
        kept[f"S={samples} seed={seed}"] = pools[1:]
    state["stability"] = {"kept": kept, "seconds": seconds}
    save_state(state)


def stage_standalone(args, state) -> None:
    """The picks (3 seeds) and the neighbourhood (seed 0) from scratch, into the committed table."""
    sys.path.insert(0, str(ROOT / "tools"))
    import train_standalone

    data, space = _space_and_data(args, train_size=64)
    picks = [space.from_ops(state[m]["best"]["ops"]) for m in ("pcnas", "spos")]
    common = ["--space", SPACE, "--data", DATA, "--epochs", str(RECIPE["epochs"]), "--batch-size",
              str(RECIPE["batch_size"]), "--lr", str(RECIPE["lr"]), "--momentum", str(RECIPE["momentum"]),
              "--weight-decay", str(RECIPE["weight_decay"]), "--workers", str(args.workers), "--threads", "1",
              "--table", str(STANDALONE), "--ops", *(["all"] if args.ops == "all" else args.ops.split(","))]
    out = Path(args.out)
    (out / "picks.json").write_text(json.dumps([json.loads(a.to_json()) for a in picks]))
    train_standalone.main([*common, "--archs", str(out / "picks.json"), "--seeds", "0", "1", "2"])
    (out / "neighbourhood.json").write_text(json.dumps(state["neighbourhood"]["archs"]))
    train_standalone.main([*common, "--archs", str(out / "neighbourhood.json"), "--seeds", "0"])


def _tau(a, b) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def report(args, state, wall: float) -> str:
    table = json.loads(STANDALONE.read_text()) if STANDALONE.exists() else {"runs": []}
    acc = {}
    for r in table["runs"]:
        acc.setdefault(r["hash"], {})[r["seed"]] = r["test_accuracy"]
    lat = state["latency"]
    lines = ["## PC-NAS against SPOS on pcnas_small (issue 15)", "",
             f"`python tools/bench_pcnas.py --epochs {args.epochs} --train-size {args.train_size} --samples "
             f"{args.samples}` — pcnas_small at its CPU scale (16 px, width 0.25, 21 choice edges) on Fashion-MNIST "
             f"({args.train_size:,} training images, the 10,000 validation images for scoring); a latency limit of "
             f"{lat['limit_ms']:g} ms from a table measured here (one thread; {100 * lat['share_within']:.0f}% of "
             f"random architectures meet it; range {lat['range_ms'][0]:.2f}-{lat['range_ms'][1]:.2f} ms). Both "
             f"supernets train {args.epochs} epochs (batch 64, lr 0.05, Nesterov 0.9, cosine): PC-NAS "
             f"{args.epochs - 21} epochs of warm-up then one per edge, P = {args.pool}, S = {args.samples}; SPOS "
             f"uniform. "
             f"SPOS's evolution (population 20) gets as many evaluations as PC-NAS's potentials used validation "
             f"images (one evaluation: 10,000 validation + 256 recalibration images).", ""]
    if "spos" in state:
        p, s = state["pcnas"], state["spos"]
        lines += ["| method | validation images for evaluation | pick | its latency | supernet's estimate | "
                  "standalone test accuracy (mean ± sd, seeds) |", "|---|---|---|---|---|---|"]
        for name, m, est in (("PC-NAS", p, f"potential {p['best']['val_accuracy']:.4f}"),
                             ("SPOS", s, f"val {s['best']['val_accuracy']:.4f}")):
            runs = list(acc.get(m["best"]["hash"], {}).values())
            sa = (f"{np.mean(runs):.4f} ± {np.std(runs, ddof=1) if len(runs) > 1 else 0:.4f} ({len(runs)})"
                  if runs else "not yet trained")
            lines.append(f"| {name} | {m['images']:,} | `{m['best']['hash']}` | {m['best']['latency_ms']:.2f} ms | "
                         f"{est} | {sa} |")
        a = list(acc.get(p["best"]["hash"], {}).values())
        b = list(acc.get(s["best"]["hash"], {}).values())
        if len(a) > 1 and len(b) > 1:
            diff = np.mean(a) - np.mean(b)
            se = np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
            lines += ["", f"PC-NAS minus SPOS: {100 * diff:+.2f} points (standard error {100 * se:.2f})."]
        lines.append("")
    if "neighbourhood" in state:
        nb = state["neighbourhood"]
        have = [k for k, h in enumerate(nb["hashes"]) if 0 in acc.get(h, {})]
        truth = [acc[nb["hashes"][k]][0] for k in have]
        lines += [f"Fig. 2b: {len(nb['hashes'])} architectures around PC-NAS's answer (its final pool, then "
                  f"Hamming-1 neighbours within the limit; {len(have)} trained from scratch, seed 0), each "
                  f"supernet's single-checkpoint accuracy (BN recalibrated on 256 images) against standalone "
                  f"test accuracy:", "", "| supernet | Pearson | Kendall tau |", "|---|---|---|"]
        for name, key in (("PC-NAS (with shrinking)", "pcnas"), ("SPOS (without)", "spos")):
            est = [nb["supernet"][key][k] for k in have]
            if len(have) > 2:
                lines.append(f"| {name} | {np.corrcoef(est, truth)[0, 1]:.2f} | {_tau(est, truth):.2f} |")
            else:
                lines.append(f"| {name} | not yet trained | |")
        lines.append("")
    if "stability" in state:
        kept = state["stability"]["kept"]
        names = list(kept)

        def overlap(x, y, b):
            return len({json.dumps(v) for v in kept[x][b]} & {json.dumps(v) for v in kept[y][b]})

        lines += [f"The potentials' stability on the SPOS supernet (the state after a warm-up): of the P = "
                  f"{args.pool} partial models kept at boundaries 2 and 3, how many two settings share.", "",
                  "| settings | boundary 2 (edge 1) | boundary 3 (edge 2) |", "|---|---|---|",
                  f"| {names[0]} vs {names[1]} | {overlap(names[0], names[1], 0)} of {args.pool} | "
                  f"{overlap(names[0], names[1], 1)} of {args.pool} |",
                  f"| {names[0]} vs {names[2]} | {overlap(names[0], names[2], 0)} of {args.pool} | "
                  f"{overlap(names[0], names[2], 1)} of {args.pool} |", ""]
    if PICTURE.exists():
        lines += ["![PC-NAS potentials](docs/img/pcnas_potentials.png)", ""]
    times = []
    if "spos" in state:
        times.append(f"supernet training (one thread each, side by side) {state['pcnas']['train_seconds'] / 60:.1f} "
                     f"min for PC-NAS (its potentials included) and {state['spos']['train_seconds'] / 60:.1f} min "
                     f"for SPOS; SPOS's evolution and the pick's test score {state['spos']['job_seconds'] / 60:.1f} "
                     f"min")
    if table["runs"]:
        times.append(f"{len(table['runs'])} standalone runs of {np.mean([r['seconds'] for r in table['runs']]) / 60:.1f}"
                     f" min each")
    if "stability" in state:
        times.append("potentials of three boundaries: " + ", ".join(f"{v:.0f} s at {k}" for k, v in
                                                                    state["stability"]["seconds"].items()))
    lines.append(f"Times: {'; '.join(times)}. This invocation: {wall / 60:.1f} min (finished stages are read from "
                 f"benchmarks/pcnas_bench.json and the standalone table).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--train-size", type=int, default=20000)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--pool", type=int, default=3, help="P (the paper's 5 of 20 operators; 3 of these three)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ops", default=",".join(OPS), help="operators kept on every edge, comma-separated, or 'all' "
                    "(the default three: see OPS)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_pcnas"))
    ap.add_argument("--stage", default="all", choices=["all", "train-pcnas", "train-spos", "no-standalone"])
    ap.add_argument("--record", default=str(ROOT / "benchmarks"), help="folder of pcnas_bench.json and "
                    "pcnas_standalone.json (what the stages measured; committed)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    global STATE, STANDALONE
    STATE, STANDALONE = Path(args.record) / STATE.name, Path(args.record) / STANDALONE.name
    start = time.perf_counter()
    if args.stage.startswith("train-"):
        return stage_train(args, args.stage.split("-", 1)[1])
    state = load_state()
    stage_latency(args, state)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    same = ["--epochs", str(args.epochs), "--train-size", str(args.train_size), "--samples", str(args.samples),
            "--pool", str(args.pool), "--out", args.out, "--record", args.record, "--ops", args.ops]
    procs = [subprocess.Popen([sys.executable, __file__, "--stage", f"train-{m}", *same], env=env)
             for m in ("pcnas", "spos") if m not in state]
    if any(p.wait() for p in procs):
        sys.exit("a supernet's training failed; rerun to resume it")
    stage_search(args, state)
    stage_neighbourhood(args, state)
    stage_stability(args, state)
    if args.stage != "no-standalone":
        stage_standalone(args, state)
    body = report(args, state, time.perf_counter() - start)
    print(body)
    if not args.no_write:
        update_section("pcnas", body)


if __name__ == "__main__":
    main()
