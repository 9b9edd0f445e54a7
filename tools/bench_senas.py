#!/usr/bin/env python
"""SE-NAS against SPOS on a CPU-scale chain space with a real supernet (Fashion-MNIST), repeated over seeds.

For each repeat r (the job's seed):

1. ``graphnas train --strategy senas`` (warm-up, then ``stages`` of: score every operator with the last epoch's
   averaged weights, remove K, merge adjacent layers up to T partial models, give each its private weights, train
   ``stage_epochs``) and a SPOS supernet (uniform single paths over the whole space, the same epochs, the same
   schedule), trained side by side in two processes of one thread each.
2. Each supernet searched by evolution under the same MAdds limit with the same budget: SE-NAS over its shrunk
   space, SPOS over the whole space; both score with the weights averaged over the last epoch (SE-NAS Eq. 4) after
   BN recalibration, so the difference is the shrinking and expanding, not the estimator.
3. The paper's Fig. 7/8: ``archs`` architectures of SE-NAS's final shrunk space (spread over its MAdds range)
   scored by both supernets, against their accuracy trained from scratch: Kendall tau per repeat.
4. The picks trained from scratch (one seed per repeat: the repeats are the seeds of the comparison).

Every stage resumes: the jobs with ``--resume``, the standalone runs from their table. What the stages measured is
kept in ``benchmarks/senas_bench.json`` and the standalone table in ``benchmarks/senas_standalone.json`` (both
committed, so a later session finishes what an earlier one started).

    python tools/bench_senas.py [--repeats 3] [--epochs 20] [--train-size 20000] [--out runs/bench_senas]
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

STATE = ROOT / "benchmarks" / "senas_bench.json"
STANDALONE = ROOT / "benchmarks" / "senas_standalone.json"
PICTURE = ROOT / "docs" / "img" / "senas_stages.png"
RECIPE = {"epochs": 8, "batch_size": 512, "lr": 0.2, "momentum": 0.9, "weight_decay": 4e-5}
SPACE, DATA = "senas", "fashion_mnist"
#: A 10-block skeleton (one block in the first and last stage, two in the others): the senas CPU scale otherwise.
SCALE = {"stage_blocks": "1,2,2,2,2,1"}


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict) -> None:
    from graphnas.utils import atomic_write_json

    atomic_write_json(STATE, state)


def job(args, method: str, repeat: int, madds: str | None = None):
    from graphnas.jobs import JobConfig, SearchConfig, SetupConfig, TrainingConfig

    options = {"stages": args.stages, "stage_epochs": args.stage_epochs, "k": args.k, "t": args.t,
               "samples": args.samples}
    generations = max(1, -(-args.budget // 20))
    search = SearchConfig(strategy="senas" if method == "senas" else "evolution", madds=madds, lookup=False,
                          strategy_options=options if method == "senas" else {}, estimator="weight_averaging",
                          budget=args.budget, population=20, generations=generations)
    return JobConfig(setup=SetupConfig(space=SPACE, data=DATA, train_size=args.train_size, scale=dict(SCALE)),
                     training=TrainingConfig(sampler="uniform", average_last_epoch=True,
                                             train={"epochs": args.epochs, "batch_size": 64, "lr": 0.05,
                                                    "lr_schedule": "linear"}),
                     search=search, out=str(Path(args.out) / f"{method}_{repeat}"), seed=repeat, resume=True,
                     quiet=True)


def _space_and_data(args, train_size=None):
    from graphnas.jobs import SetupConfig
    from graphnas.jobs.setup import load_setup

    return load_setup(SetupConfig(space=SPACE, data=DATA, train_size=train_size or args.train_size,
                                  scale=dict(SCALE)), 0)


def stage_limit(args, state) -> None:
    """The MAdds limit: the 60th percentile of 2,000 random architectures (three significant digits)."""
    if "limit" in state:
        return
    from graphnas import arch_cost

    _, space = _space_and_data(args, train_size=64)
    rng = np.random.default_rng(0)
    madds = np.array([arch_cost(space.sample(rng)).madds for _ in range(2000)])
    value = float(f"{np.percentile(madds, 60):.3g}")
    state["limit"] = {"madds": value, "text": f"{value / 1e6:g}M", "share_within": float((madds <= value).mean()),
                      "range": [float(madds.min()), float(madds.max())], "space_size": space.size}
    save_state(state)


def stage_train(args, method: str, repeat: int) -> None:
    """One supernet (a separate process, one thread): ``graphnas train`` of the job, resumed if killed."""
    import torch

    from graphnas.jobs import train

    torch.set_num_threads(1)
    train(job(args, method, repeat, load_state()["limit"]["text"]))


def stage_search(args, state, repeat: int) -> None:
    import torch

    from graphnas.jobs import run

    torch.set_num_threads(1)
    runs = state.setdefault("runs", {})
    for method in ("senas", "spos"):
        key = f"{method}_{repeat}"
        if key in runs:
            continue
        t0 = time.perf_counter()
        report = run(job(args, method, repeat, state["limit"]["text"]))
        history = report["supernet"]["history"]
        record = {"best": report["best"], "evaluations": report["search"]["evaluations"],
                  "train_seconds": sum(h["seconds"] for h in history), "job_seconds": time.perf_counter() - t0,
                  "final_train_accuracy": history[-1]["accuracy"]}
        if method == "senas":
            se = report["search"]["senas"]
            record["senas"] = {"space_size": se["space"]["size"], "parameters": se["parameters"],
                               "stages": [{k: e[k] for k in ("stage", "allowed", "removed", "groups", "params")}
                                          for e in se["stages"]]}
            if repeat == 0 and not args.no_write:
                shutil.copyfile(Path(args.out) / key / "senas.png", PICTURE)
        runs[key] = record
        save_state(state)


def _supernets(args, repeat: int):
    """``(data, space, senas space, {method: Supernet with its averaged weights})`` of one repeat."""
    import torch

    from graphnas import Supernet
    from graphnas.jobs.search import senas_from_checkpoint
    from graphnas.train.checkpoint import read_trained

    torch.set_num_threads(1)
    data, space = _space_and_data(args)
    nets, shrunk = {}, None
    for method in ("senas", "spos"):
        trained = read_trained(Path(args.out) / f"{method}_{repeat}" / "checkpoint.pt", averaged=True)
        net = Supernet(space)
        se = senas_from_checkpoint(trained, net, space, data, job(args, method, repeat))
        trained.load_into(net)
        nets[method] = net
        shrunk = se.space if se is not None else shrunk
    return data, space, shrunk, nets


def stage_ranking(args, state, repeat: int) -> None:
    """``archs`` architectures of SE-NAS's final space spread over its MAdds, scored by both supernets."""
    ranking = state.setdefault("ranking", {})
    if str(repeat) in ranking:
        return
    sys.path.insert(0, str(ROOT / "tools"))
    from train_standalone import spread_archs

    from graphnas.estimate.score import SupernetEvaluator

    data, space, shrunk, nets = _supernets(args, repeat)
    archs = [space.from_ops(a.ops) for a in spread_archs(shrunk, min(args.archs, shrunk.size), seed=repeat)]
    scores = {m: SupernetEvaluator(net, data.val, data.train, recal_samples=256).score_many(archs, progress=True)
              for m, net in nets.items()}
    ranking[str(repeat)] = {"archs": [json.loads(a.to_json()) for a in archs], "hashes": [a.hash for a in archs],
                            "supernet": scores}
    save_state(state)


def stage_standalone(args, state) -> None:
    """The ranking architectures and the picks from scratch (seed 0), into the committed table."""
    sys.path.insert(0, str(ROOT / "tools"))
    import train_standalone

    archs = {}
    for r in range(args.repeats):
        for a in state.get("ranking", {}).get(str(r), {}).get("archs", []):
            archs.setdefault(json.dumps(a, sort_keys=True), a)
    _, space = _space_and_data(args, train_size=64)
    for key, record in state.get("runs", {}).items():
        a = json.loads(space.from_ops(record["best"]["ops"]).to_json())
        archs.setdefault(json.dumps(a, sort_keys=True), a)
    common = ["--space", SPACE, "--data", DATA, "--scale", json.dumps(SCALE), "--epochs", str(RECIPE["epochs"]),
              "--batch-size", str(RECIPE["batch_size"]), "--lr", str(RECIPE["lr"]), "--momentum",
              str(RECIPE["momentum"]), "--weight-decay", str(RECIPE["weight_decay"]), "--workers",
              str(args.workers), "--threads", "1", "--table", str(STANDALONE)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "standalone.json").write_text(json.dumps(list(archs.values())))
    train_standalone.main([*common, "--archs", str(out / "standalone.json"), "--seeds", *map(str, args.gt_seeds)])


def _tau(a, b) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def _mean_se(values) -> str:
    v = np.asarray(values, dtype=float)
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return f"{v.mean():.2f} ± {se:.2f}"


def report(args, state, wall: float) -> str:
    table = json.loads(STANDALONE.read_text()) if STANDALONE.exists() else {"runs": []}
    acc: dict = {}
    for r in table["runs"]:
        acc.setdefault(r["hash"], {})[r["seed"]] = r["test_accuracy"]

    _, space = _space_and_data(args, train_size=64)

    def truth(h):
        runs = list(acc.get(h, {}).values())
        return float(np.mean(runs)) if runs else None

    def own(best):  # the table is keyed by the job space's hash (older reports gave SE-NAS's in its subspace)
        return space.from_ops(best["ops"]).hash

    lim = state["limit"]
    lines = ["## SE-NAS against SPOS with a real supernet (issue 16)", "",
             f"`python tools/bench_senas.py --repeats {args.repeats} --epochs {args.epochs} --train-size "
             f"{args.train_size}` — the senas space at its CPU scale (16 px, width 0.25) with a 10-block skeleton "
             f"(`--scale stage_blocks=1,2,2,2,2,1`) and its four CPU operators ({lim['space_size']:,} "
             f"architectures) on Fashion-MNIST ({args.train_size:,} training images, the 10,000 validation images "
             f"for scoring). Both supernets train {args.epochs} epochs (batch 64, lr 0.05 decaying linearly, "
             f"Nesterov 0.9). SE-NAS: {args.epochs - args.stages * args.stage_epochs} epochs of warm-up, then "
             f"{args.stages} stages of {args.stage_epochs} epochs, each after removing K = {args.k} operators "
             f"(scores from {args.samples} architectures per operator within the limit, 512 validation images, "
             f"the last epoch's averaged weights) and merging layers up to T = {args.t} partial models. Both "
             f"searched by evolution ({args.budget} evaluations, population 20) under MAdds <= {lim['text']} "
             f"({100 * lim['share_within']:.0f}% of random architectures), scoring with the averaged weights after "
             f"BN recalibration on 256 images. Standalone: {RECIPE['epochs']} epochs on all 50,000 training images "
             f"(batch {RECIPE['batch_size']}, lr {RECIPE['lr']}, cosine), seed 0.", ""]
    rows, taus = [], {"senas": [], "spos": []}
    for r in range(args.repeats):
        rk = state.get("ranking", {}).get(str(r))
        if rk is None:
            continue
        have = [k for k, h in enumerate(rk["hashes"]) if truth(h) is not None]
        gt = [truth(rk["hashes"][k]) for k in have]
        cells = []
        for m in ("senas", "spos"):
            if len(have) > 2:
                t = _tau([rk["supernet"][m][k] for k in have], gt)
                taus[m].append(t)
                cells.append(f"{t:.2f}")
            else:
                cells.append("not yet trained")
        spread = f"{100 * (max(gt) - min(gt)):.2f}" if gt else "-"
        rows.append(f"| {r} | {len(rk['hashes'])} ({len(have)} trained) | {spread} | {cells[0]} | {cells[1]} |")
    if rows:
        lines += ["Fig. 7/8: Kendall tau of each supernet's scores against standalone test accuracy on architectures "
                  "of SE-NAS's final shrunk space (spread over its MAdds range):", "",
                  "| repeat | architectures | standalone spread (points) | SE-NAS tau | SPOS tau |",
                  "|---|---|---|---|---|", *rows]
        if len(taus["senas"]) > 1:
            lines.append(f"| mean ± s.e. | | | {_mean_se(taus['senas'])} | {_mean_se(taus['spos'])} |")
        lines.append("")
    runs = state.get("runs", {})
    pick_rows, diffs = [], []
    for r in range(args.repeats):
        if f"senas_{r}" not in runs or f"spos_{r}" not in runs:
            continue
        s, p = runs[f"senas_{r}"], runs[f"spos_{r}"]
        a, b = truth(own(s["best"])), truth(own(p["best"]))
        if a is not None and b is not None:
            diffs.append(a - b)
        memory = " → ".join(f"{e['params']['total'] / 1e3:.0f}k" for e in s["senas"]["stages"])
        pick_rows.append(f"| {r} | `{own(s['best'])}` {s['best']['madds'] / 1e6:.2f}M | "
                         f"{'-' if a is None else f'{a:.4f}'} | `{own(p['best'])}` {p['best']['madds'] / 1e6:.2f}M | "
                         f"{'-' if b is None else f'{b:.4f}'} | {s['senas']['space_size']:,} | {memory} |")
    if pick_rows:
        lines += ["The picks trained from scratch, SE-NAS's final space and its supernet's parameters by stage "
                  "(shared + private):", "",
                  "| repeat | SE-NAS pick | standalone | SPOS pick | standalone | SE-NAS final space | SE-NAS "
                  "parameters by stage |", "|---|---|---|---|---|---|---|", *pick_rows]
        if len(diffs) > 1:
            d = np.array(diffs)
            lines.append(f"\nSE-NAS minus SPOS over {len(d)} repeats: {100 * d.mean():+.2f} points (s.e. "
                         f"{100 * d.std(ddof=1) / np.sqrt(len(d)):.2f}).")
        lines.append("")
    if PICTURE.exists():
        lines += ["![SE-NAS stages](docs/img/senas_stages.png)", ""]
    times = []
    if runs:
        for m in ("senas", "spos"):
            done = [v for k, v in runs.items() if k.startswith(m)]
            if done:
                times.append(f"{m} supernet {np.mean([v['train_seconds'] for v in done]) / 60:.1f} min (one thread), "
                             f"its job with the search {np.mean([v['job_seconds'] for v in done]) / 60:.1f} min")
    if table["runs"]:
        times.append(f"{len(table['runs'])} standalone runs of "
                     f"{np.mean([r['seconds'] for r in table['runs']]) / 60:.1f} min each")
    lines.append(f"Times: {'; '.join(times)}. This invocation: {wall / 60:.1f} min (finished stages are read from "
                 f"benchmarks/senas_bench.json and the standalone table).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train-size", type=int, default=20000)
    ap.add_argument("--stages", type=int, default=2)
    ap.add_argument("--stage-epochs", type=int, default=3)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--t", type=int, default=16)
    ap.add_argument("--samples", type=int, default=24)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--archs", type=int, default=12, help="architectures of the final space ranked per repeat")
    ap.add_argument("--gt-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench_senas"))
    ap.add_argument("--stage", default="all", help="all, no-standalone, report, or train-<method>-<repeat>")
    ap.add_argument("--record", default=str(ROOT / "benchmarks"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    global STATE, STANDALONE
    STATE, STANDALONE = Path(args.record) / STATE.name, Path(args.record) / STANDALONE.name
    start = time.perf_counter()
    if args.stage.startswith("train-"):
        _, method, repeat = args.stage.split("-")
        return stage_train(args, method, int(repeat))
    state = load_state()
    if args.stage != "report":
        stage_limit(args, state)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        same = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                if k not in ("stage", "gt_seeds", "no_write")]
        for r in range(args.repeats):
            procs = [subprocess.Popen([sys.executable, __file__, *same, "--stage", f"train-{m}-{r}"], env=env)
                     for m in ("senas", "spos") if f"{m}_{r}" not in state.get("runs", {})]
            if any(p.wait() for p in procs):
                sys.exit("a supernet's training failed; rerun to resume it")
            stage_search(args, state, r)
            stage_ranking(args, state, r)
        if args.stage != "no-standalone":
            stage_standalone(args, state)
    body = report(args, state, time.perf_counter() - start)
    print(body)
    if not args.no_write:
        update_section("senas", body)


if __name__ == "__main__":
    main()
