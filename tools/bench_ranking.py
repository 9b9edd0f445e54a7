#!/usr/bin/env python
"""How far to trust a weight-sharing ranking: ST-NAS Table 5 on Fashion-MNIST, at CPU scale.

Reads a ground-truth table written by ``tools/train_standalone.py`` (architectures trained from scratch,
several seeds, test accuracy; its ``selected`` architectures are the ones ranked), trains supernets on the
same space with ST-NAS sampling (p_drop calibrated so the sampled architectures' expected MAdds is the
ground truth's median) and SGD without momentum on all the training images, and scores the ground truth's
architectures with every estimator of :mod:`graphnas.estimate.estimators` on validation images (never the
test images the ground truth is measured on):

* single checkpoint, without and with BN recalibration, at each of the last ``--last`` epochs of every
  supernet (ST-NAS reports the median tau over its last 10 checkpoints) and at the end of shorter runs
  (``--budgets``: the curve of tau against supernet epochs);
* BN recalibration with ``--recal-sizes`` images (SPOS recalibrates on 20,000);
* SGLD score and parameter expectation (the tempered posterior on every supernet; ST-NAS Eq. 9 as written on
  ``--eq9-seeds``), up to ``--sgld-samples`` samples ``--sgld-steps`` steps apart, each sample scored with BN
  recalibration, read at every count of ``--sgld-counts``;
* weight averaging over the last epoch (SE-NAS) and fine-tuning each path alone at the final rate.

Every piece of work is a job recorded as it finishes (supernets resume from their last finished epoch), so
an interrupted run resumes; ``--report-only`` writes the report from what is recorded. The trained
supernets and their kept checkpoints live in ``<out>/supernets``, the scores in
``<record-dir>/ranking_scores-<digest>.json`` (the digest of the settings that change a score; under
benchmarks/ so that, committed, the finished jobs outlast the machine that ran them).

    python tools/bench_ranking.py --ground-truth benchmarks/ranking_ground_truth_stnas.json --workers 2

Writes ``<out>/ranking.json`` (every figure), the pictures ``docs/img/ranking*.png`` and the section
``ranking`` of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import ROOT, run_recorded, update_section

NOISE_FORMS = {"tempered": "tempered noise, T = 1", "eq9": "ST-NAS Eq. 9 noise"}
_S: dict = {}


# ----------------------------------------------------------------------------------------------- set-up


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ground-truth", default="benchmarks/ranking_ground_truth_stnas.json")
    ap.add_argument("--out", default="runs/ranking", help="supernets, ranking.json and the pictures")
    ap.add_argument("--record-dir", default="benchmarks", help="where the scores record lives: committed, it outlasts "
                    "the machine (a supernet's scores are recorded with its training, so only unfinished jobs rerun)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="supernet seeds at the longest budget")
    ap.add_argument("--budgets", type=int, nargs="+", default=[10, 20, 40], help="supernet epochs; the longest is "
                    "the main run, the others are trained with --curve-seeds for the tau-vs-epochs curve")
    ap.add_argument("--curve-seeds", type=int, nargs="*", default=[0],
                    help="seeds of the shorter runs (none: only the checkpoints of the longest runs make the curve)")
    ap.add_argument("--train-size", type=int, default=None, help="supernet training images (default: all 50,000; "
                    "fewer only to try the benchmark out)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.5, help="supernet learning rate (SGD without momentum)")
    ap.add_argument("--final-lr-ratio", type=float, default=0.05)
    ap.add_argument("--last", type=int, default=10, help="checkpoints (epoch ends) scored at the end of each run")
    ap.add_argument("--eval-size", type=int, default=2000, help="validation images the estimators score on")
    ap.add_argument("--recal-samples", type=int, default=2000, help="BN recalibration images of the 'recal' rows")
    ap.add_argument("--recal-sizes", type=int, nargs="+", default=[250, 2000, 20000],
                    help="recalibration sizes of the ablation (final checkpoint)")
    ap.add_argument("--sgld-samples", type=int, default=20)
    ap.add_argument("--sgld-steps", type=int, default=50, help="SGLD steps between samples")
    ap.add_argument("--eq9-seeds", type=int, nargs="*", default=[0],
                    help="supernet seeds SGLD also samples with ST-NAS Eq. 9's noise as written (an ablation; the "
                         "tempered posterior, graphnas's default, runs on all)")
    ap.add_argument("--sgld-counts", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    ap.add_argument("--finetune-size", type=int, default=5000, help="training images one fine-tuning epoch covers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="report what is recorded, run nothing")
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md and docs/img")
    return ap.parse_args(argv)


def _init(args) -> None:
    """Per process: data, space, the ground truth's architectures, the evaluation split and the sampler."""
    import torch
    from torch.utils.data import Subset

    from graphnas.estimate.groundtruth import ground_truth_archs, ground_truth_hashes, load_ground_truth
    from graphnas.jobs import run_space
    from graphnas.train.calibration import expected_cost
    from graphnas.train.data import load_dataset
    from graphnas.train.samplers import make_sampler

    torch.set_num_threads(1)
    table = load_ground_truth(args.ground_truth)
    meta = table["meta"]
    scale = {k: v for k, v in meta["scale"].items() if k not in ("resolution", "in_channels", "num_classes")}
    data = load_dataset(meta["data"], root=args.data_root, resolution=meta["scale"]["resolution"],
                        seed=meta["data_seed"], **({"train_size": args.train_size} if args.train_size else {}))
    space = run_space(meta["space"].split("/")[0], data, scale)
    if space.fingerprint != meta["fingerprint"]:
        raise SystemExit(f"bench_ranking: the ground truth was made on space {meta['space']} ({meta['fingerprint']}), "
                         f"which this build of the space ({space.fingerprint}) is not")
    hashes = ground_truth_hashes(table)
    archs = ground_truth_archs(table, space, hashes, args.ground_truth)
    perm = np.random.default_rng(0).permutation(len(data.val))[:args.eval_size]
    target = float(np.median([table["archs"][h]["madds"] for h in hashes]))
    # ST-NAS sampling reaches expected MAdds between p_drop = 1 (no branch) and 0: a median outside is clamped
    low, high = expected_cost(space, 1.0)[0], expected_cost(space, 0.0)[0]
    reached = min(max(target, low * 1.001), high * 0.999)
    _S.update(args=args, table=table, data=data, space=space, hashes=hashes, archs=archs, target=target,
              reached=reached, eval_set=Subset(data.val, perm.tolist()),
              sampler=make_sampler("stnas", space, target_madds=reached))


def _config(seed: int, budget: int):
    from graphnas.train.loop import TrainConfig

    a = _S["args"]
    return TrainConfig(epochs=budget, batch_size=a.batch_size, lr=a.lr, final_lr_ratio=a.final_lr_ratio, momentum=0.0,
                       seed=seed)


def _run_dir(seed: int, budget: int) -> Path:
    a = _S["args"]
    size = f"_train{a.train_size}" if a.train_size else ""
    return Path(a.out) / "supernets" / f"seed{seed}_epochs{budget}_lr{a.lr:g}_batch{a.batch_size}{size}"


def _kept(budget: int) -> list[int]:
    """Epochs whose checkpoints a run keeps: for the main (longest) runs the last ``--last`` and the shorter
    budgets (the same run read part-way); the shorter runs need only their final checkpoint."""
    a = _S["args"]
    if budget != max(a.budgets):
        return []
    return sorted(set(range(max(1, budget - a.last + 1), budget + 1)) | {b for b in a.budgets if b < budget})


# -------------------------------------------------------------------------------------------- the jobs


def _train_job(job: dict) -> dict:
    from graphnas import Supernet
    from graphnas.train.loop import fit

    import torch

    seed, budget = job["seed"], job["budget"]
    torch.manual_seed(seed)
    supernet = Supernet(_S["space"])
    t0 = time.perf_counter()
    result = fit(supernet, _S["data"].train, _config(seed, budget), _S["sampler"], progress=False,
                 out=_run_dir(seed, budget), resume=True, average_last_epoch=True, keep_epochs=_kept(budget))
    return {"key": job["key"], "history": result.history, "seconds": time.perf_counter() - t0,
            "p_drop": _S["sampler"].p_drop}


def _weights(seed: int, budget: int, epoch: int | None = None, averaged: bool = False) -> dict:
    from graphnas.train.checkpoint import read_trained
    from graphnas.train.loop import CHECKPOINT, kept_checkpoint

    folder = _run_dir(seed, budget)
    path = folder / CHECKPOINT if epoch is None or epoch == budget else kept_checkpoint(folder, epoch)
    return read_trained(path, averaged=averaged, unfinished=epoch is not None).state_dict


def _evaluate(supernet, weights, recal: int, seed: int = 0) -> list[float]:
    from graphnas.estimate.score import SupernetEvaluator

    train_set = _S["data"].train if recal else None
    evaluator = SupernetEvaluator(supernet, _S["eval_set"], train_set, recal_samples=max(1, recal), batch_size=500,
                                  weights=weights, seed=seed)
    return evaluator.score_many(_S["archs"])


def _score_job(job: dict) -> dict:
    """One scoring job (its ``kind`` says which) -> ``{"key", "scores": {label: [score per architecture]}}``."""
    import torch
    from torch.utils.data import Subset

    from graphnas import Supernet
    from graphnas.estimate.sgld import sgld_samples
    from graphnas.train.averaging import running_average

    a = _S["args"]
    torch.manual_seed(0)
    supernet = Supernet(_S["space"])
    seed, budget, kind = job["seed"], job["budget"], job["kind"]
    final_lr = a.lr * a.final_lr_ratio
    t0 = time.perf_counter()
    scores: dict[str, list[float]] = {}
    if kind == "checkpoint":
        w = _weights(seed, budget, job["epoch"])
        for recal in job["recal"]:
            scores[f"recal{recal}"] = _evaluate(supernet, w, recal)
    elif kind == "averaged":
        w = _weights(seed, budget, averaged=True)
        for recal in job["recal"]:
            scores[f"recal{recal}"] = _evaluate(supernet, w, recal)
    elif kind == "fine_tune":
        from graphnas.estimate.score import score_path
        from graphnas.train.loop import TrainConfig, train

        supernet.load_state_dict(_weights(seed, budget))
        tune = Subset(_S["data"].train, np.random.default_rng(1).permutation(len(_S["data"].train))
                      [:a.finetune_size].tolist())
        config = TrainConfig(epochs=1, batch_size=a.batch_size, lr=final_lr, final_lr_ratio=1.0, seed=0)
        plain, recal = [], []
        for arch in _S["archs"]:
            net = supernet.extract(arch)
            train(net, tune, config, progress=False)
            plain.append(score_path(net, _S["eval_set"], batch_size=500))
            recal.append(score_path(net, _S["eval_set"], None, _S["data"].train, a.recal_samples, 0, 500))
        scores = {"recal0": plain, f"recal{a.recal_samples}": recal}
    elif kind == "sgld":
        w = _weights(seed, budget)
        samples = sgld_samples(supernet, w, _S["data"].train, _S["sampler"], alpha=final_lr,
                               num_samples=a.sgld_samples, batch_size=a.batch_size, seed=seed, noise=job["noise"],
                               weight_decay=_config(seed, budget).weight_decay, progress=False,
                               steps_per_sample=a.sgld_steps)
        for k, sample in enumerate(samples, 1):  # each sample recalibrated: score expectation
            for recal in job.get("sample_recal", [0]):
                scores[f"sample{k}/recal{recal}"] = _evaluate(supernet, sample, recal)
        for count in job["counts"]:
            mean = running_average(samples[:count])
            for recal in job["recal"]:
                scores[f"param{count}/recal{recal}"] = _evaluate(supernet, mean, recal)
    else:
        raise ValueError(kind)
    return {"key": job["key"], "scores": scores, "seconds": time.perf_counter() - t0}


def _work(job: dict) -> dict:
    return _train_job(job) if job["kind"] == "train" else _score_job(job)


def train_jobs(args) -> list[tuple[str, dict]]:
    top = max(args.budgets)
    pairs = [(s, top) for s in args.seeds] + [(s, b) for b in sorted(args.budgets) if b != top for s in args.curve_seeds]
    return [(f"train/seed{s}/epochs{b}", {"kind": "train", "seed": s, "budget": b, "key": f"train/seed{s}/epochs{b}"})
            for s, b in pairs]


def _sgld_seeds(args, noise: str) -> list[int]:
    """The supernet seeds SGLD samples with ``noise``: the tempered posterior on all, Eq. 9 on --eq9-seeds."""
    return args.seeds if noise == "tempered" else [s for s in args.seeds if s in args.eq9_seeds]


def _needs(job: dict) -> list[str]:
    """A score waits for the supernet it reads (and no longer for every supernet)."""
    return [] if job["kind"] == "train" else [f"train/seed{job['seed']}/epochs{job['budget']}"]


def score_jobs(args) -> list[tuple[str, dict]]:
    top = max(args.budgets)
    jobs = []

    def add(key, **job):
        jobs.append((key, {**job, "key": key}))

    base = [0, args.recal_samples]
    for s in args.seeds:  # the longest jobs (SGLD) first, so the last worker to finish is not left with one
        for noise in NOISE_FORMS:
            if s in _sgld_seeds(args, noise):
                add(f"sgld/seed{s}/epochs{top}/{noise}", kind="sgld", seed=s, budget=top, noise=noise,
                    counts=[c for c in args.sgld_counts if c <= args.sgld_samples], recal=base,
                    sample_recal=[args.recal_samples])
        for e in range(max(1, top - args.last + 1), top + 1):
            recal = sorted(set(base + (args.recal_sizes if e == top else [])))
            add(f"checkpoint/seed{s}/epochs{top}/at{e}", kind="checkpoint", seed=s, budget=top, epoch=e, recal=recal)
        for b in args.budgets:
            if b < top - args.last + 1:
                add(f"checkpoint/seed{s}/epochs{top}/at{b}", kind="checkpoint", seed=s, budget=top, epoch=b, recal=base)
        add(f"averaged/seed{s}/epochs{top}", kind="averaged", seed=s, budget=top, recal=base)
        add(f"fine_tune/seed{s}/epochs{top}", kind="fine_tune", seed=s, budget=top)
    for b in args.budgets:
        if b != top:
            for s in args.curve_seeds:
                add(f"checkpoint/seed{s}/epochs{b}/at{b}", kind="checkpoint", seed=s, budget=b, epoch=b, recal=base)
    return jobs


def settings_digest(args, hashes) -> str:
    """What changes a score: the supernets' training, the evaluation images, the architectures, SGLD's settings."""
    keep = {k: getattr(args, k) for k in ("ground_truth", "train_size", "batch_size", "lr", "final_lr_ratio", "eval_size",
                                          "sgld_steps", "finetune_size")}
    return hashlib.sha256(json.dumps({**keep, "hashes": sorted(hashes)}, sort_keys=True).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------- report


def _metric_rows(scores, true, k=5):
    from graphnas.estimate.ranking import bootstrap_ci, kendall_tau, spearman_rho, top_k_overlap

    rows = np.asarray(scores, dtype=float)
    taus = [kendall_tau(r, true) for r in rows]
    return {"tau": float(np.median(taus)), "taus": taus,
            "rho": float(np.median([spearman_rho(r, true) for r in rows])),
            f"top{k}": float(np.median([top_k_overlap(r, true, k) for r in rows])),
            "ci": bootstrap_ci(rows, true, k=k, resamples=1000), "first": rows[0].tolist()}


def _score_expectation(exp: list, count: int, recal: int, have) -> np.ndarray | None:
    """Per SGLD record: the mean score of its first ``count`` samples at BN recalibration ``recal`` (in %), or
    None when a record did not score its samples so."""
    labels = [f"sample{k}/recal{recal}" for k in range(1, count + 1)]
    if not exp or not all(lab in e["scores"] for e in exp for lab in labels):
        return None
    return np.array([np.mean([e["scores"][lab] for lab in labels], axis=0)[have] * 100 for e in exp])


def report(args, recorded: dict, started: float) -> dict:
    from graphnas.estimate.groundtruth import ground_truth_stats, mean_accuracy
    from graphnas.estimate.ranking import kendall_tau, plot_ranking
    from graphnas.estimate.ranking_plots import plot_curve, plot_fluctuation

    table, hashes = _S["table"], _S["hashes"]
    stats = ground_truth_stats(table, hashes)
    _, truth, _ = mean_accuracy(table, min_seeds=2)
    have = [i for i, h in enumerate(hashes) if h in truth]
    true = np.array([100 * truth[hashes[i]] for i in have])
    top = max(args.budgets)
    out = Path(args.out)

    def sc(key, label):
        entry = recorded.get(key)
        return None if entry is None else np.array(entry["scores"][label])[have] * 100

    def series(keys_labels):
        got = [sc(k, lab) for k, lab in keys_labels]
        return None if any(g is None for g in got) else np.array(got)

    R = args.recal_samples
    last = range(max(1, top - args.last + 1), top + 1)
    # each noise's SGLD records over its seeds, or None until all are in
    sgld = {}
    for noise in NOISE_FORMS:
        exp = [recorded.get(f"sgld/seed{s}/epochs{top}/{noise}") for s in _sgld_seeds(args, noise)]
        sgld[noise] = exp if exp and all(exp) else None
    rows = {}
    for recal, name in ((0, "single checkpoint"), (R, f"single checkpoint, BN recal {R}")):
        per_seed = []
        for s in args.seeds:
            ck = series([(f"checkpoint/seed{s}/epochs{top}/at{e}", f"recal{recal}") for e in last])
            if ck is not None:
                per_seed.append(ck)
        if per_seed:  # median over the last checkpoints, per seed, then over seeds (rows = seeds x checkpoints)
            stacked = np.concatenate(per_seed)
            m = _metric_rows(stacked, true)
            m["taus_per_seed"] = [float(np.median([kendall_tau(r, true) for r in ck])) for ck in per_seed]
            m["tau"] = float(np.median(m["taus_per_seed"]))
            rows[f"{name} (median over the last {args.last} checkpoints)"] = m
        final = series([(f"checkpoint/seed{s}/epochs{top}/at{top}", f"recal{recal}") for s in args.seeds])
        if final is not None:
            rows[f"{name} (final checkpoint)"] = _metric_rows(final, true)
    n = args.sgld_samples
    for noise, label in NOISE_FORMS.items():
        exp = sgld[noise]
        if exp is None:
            continue
        for recal in (0, R):
            se = _score_expectation(exp, n, recal, have)
            if se is not None:
                rows[f"score expectation, {label}, {n} samples" + (f", BN recal {R}" if recal else "")] = \
                    _metric_rows(se, true)
            pe = np.array([np.array(e["scores"][f"param{n}/recal{recal}"])[have] * 100 for e in exp])
            rows[f"parameter expectation, {label}, {n} samples" + (f", BN recal {R}" if recal else "")] = \
                _metric_rows(pe, true)
    for recal in (0, R):
        avg = series([(f"averaged/seed{s}/epochs{top}", f"recal{recal}") for s in args.seeds])
        if avg is not None:
            rows["weight averaging (SE-NAS)" + (f", BN recal {R}" if recal else "")] = _metric_rows(avg, true)
        ft = series([(f"fine_tune/seed{s}/epochs{top}", f"recal{recal}") for s in args.seeds])
        if ft is not None:
            rows["fine-tune 1 epoch at the final rate" + (f", BN recal {R}" if recal else "")] = _metric_rows(ft, true)

    # ablations
    recal_ablation = {}
    for size in sorted(set([0, R] + args.recal_sizes)):
        got = series([(f"checkpoint/seed{s}/epochs{top}/at{top}", f"recal{size}") for s in args.seeds])
        if got is not None:
            recal_ablation[size] = {"tau": [kendall_tau(r, true) for r in got],
                                    "mean_accuracy": float(got.mean())}
    sample_ablation = {}
    for noise, exp in sgld.items():
        if exp is None:
            continue
        # at the recalibration the samples were scored with (the largest, where several)
        recal = next((r for r in (R, 0) if _score_expectation(exp, 1, r, have) is not None), None)
        if recal is None:
            continue
        for count in args.sgld_counts:
            if count > args.sgld_samples:
                continue
            se = _score_expectation(exp, count, recal, have)
            pe = [np.array(e["scores"][f"param{count}/recal{recal}"])[have] for e in exp]
            per_sample = [np.array(e["scores"][f"sample{count}/recal{recal}"])[have] for e in exp]
            sample_ablation[f"{noise}/{count}"] = {
                "recal": recal, "score": [kendall_tau(r, true) for r in se],
                "param": [kendall_tau(r, true) for r in pe], "sample_alone": [kendall_tau(r, true) for r in per_sample],
                "sample_mean_accuracy": float(100 * np.mean(per_sample))}
    curve: dict[str, dict[int, list[float]]] = {}
    for recal, name in ((0, "annealed run, no recal"), (R, f"annealed run, BN recal {R}")):
        pts = {}
        for b in args.budgets:
            seeds = args.seeds if b == top else args.curve_seeds
            got = [sc(f"checkpoint/seed{s}/epochs{b}/at{b}", f"recal{recal}") for s in seeds]
            got = [g for g in got if g is not None]
            if got:
                pts[b] = [kendall_tau(g, true) for g in got]
        if pts:
            curve[name] = pts
    within = {}
    for b in args.budgets:
        got = [sc(f"checkpoint/seed{s}/epochs{top}/at{b}", f"recal{R}") for s in args.seeds]
        got = [g for g in got if g is not None]
        if got and b != top:
            within[b] = [kendall_tau(g, true) for g in got]
    if within and curve.get(f"annealed run, BN recal {R}", {}).get(top):
        within[top] = curve[f"annealed run, BN recal {R}"][top]
        curve[f"checkpoints of the {top}-epoch run, BN recal {R}"] = within
    path_acc = {}
    for b in args.budgets:
        seed = args.seeds[0] if b == top else (args.curve_seeds or [None])[0]
        got = None if seed is None else sc(f"checkpoint/seed{seed}/epochs{b}/at{b}", f"recal{R}")
        if got is not None:
            path_acc[b] = float(got.mean())

    result = {"ground_truth": stats, "hashes": [hashes[i] for i in have], "true": true.tolist(), "rows": rows,
              "recal_ablation": recal_ablation, "sample_ablation": sample_ablation, "curve": curve,
              "path_accuracy": path_acc, "target_madds": _S["target"], "sampled_madds": _S["reached"],
              "p_drop": _S["sampler"].p_drop,
              "train": {k: v for k, v in recorded.items() if k.startswith("train/")},
              "wall_seconds": time.perf_counter() - started}
    out.mkdir(parents=True, exist_ok=True)
    pictures = {}
    if curve:
        pictures["ranking_epochs.png"] = plot_curve(curve, out / "ranking_epochs.png", ceiling=stats["ceiling_tau"],
                                                    title="single checkpoint: Kendall tau vs supernet epochs")
    fl = series([(f"checkpoint/seed{args.seeds[0]}/epochs{top}/at{e}", f"recal{R}") for e in last])
    if fl is not None:
        pictures["ranking_fluctuation.png"] = plot_fluctuation(
            fl, true, out / "ranking_fluctuation.png", checkpoints=list(last),
            title=f"supernet seed {args.seeds[0]}: rank by single checkpoint (BN recal {R}) over its last "
                  f"{len(fl)} epochs")
    if rows:
        best = max(rows, key=lambda r: rows[r]["tau"])
        result["best"] = best
        pictures["ranking.png"] = plot_ranking(rows[best]["first"], true, out / "ranking.png",
                                               title=f"{best}\n(first supernet seed) vs standalone test accuracy")
    from graphnas.utils import atomic_write_json

    atomic_write_json(out / "ranking.json", result)
    print(json.dumps({k: result[k] for k in ("ground_truth", "curve", "recal_ablation")}, indent=1))
    for name, row in rows.items():
        print(f"{name}: tau {row['tau']:.3f} {row['ci']['kendall_tau']}, rho {row['rho']:.3f}, top5 {row['top5']:.2f}")
    return {"result": result, "pictures": pictures}


def main(argv=None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _init(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = Path(args.record_dir) / f"ranking_scores-{settings_digest(args, _S['hashes'])}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    print(f"ground truth: {len(_S['hashes'])} architectures, median MAdds {_S['target'] / 1e6:.2f}M, "
          f"p_drop {_S['sampler'].p_drop:.3f}; record {record}", flush=True)
    describe = lambda r: f"{r['key']}: {r['seconds']:.0f} s"  # noqa: E731
    jobs = train_jobs(args) + score_jobs(args)
    recorded = run_recorded(jobs, _work, _init_args(args), args.workers, record, lambda r: r["key"], describe,
                            desc="jobs", run=not args.report_only, needs=_needs)
    made = report(args, recorded, started)
    if not args.no_write:
        write_section(args, made)
    return 0


def _init_args(args):
    import functools

    return functools.partial(_init, args)


def _ci(row, name):
    lo, hi = row["ci"][name]
    return f"[{lo:.2f}, {hi:.2f}]"


def _words(values) -> str:
    """``values`` as the space-separated words of a command line (``--seeds 0 1 2``)."""
    return " ".join(map(str, values))


def write_section(args, made) -> None:
    """The ``ranking`` section of BENCHMARKS.md and its pictures under docs/img, from :func:`report`'s result."""
    res = made["result"]
    gt, top = res["ground_truth"], max(args.budgets)
    table = _S["table"]
    recipe = table["meta"]["recipe"]
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    for name, path in made["pictures"].items():
        if path is not None:
            shutil.copyfile(path, img / name)
    seeds = ", ".join(str(s) for s in args.seeds)
    chosen = set(_S["hashes"])
    gt_seeds = _words(sorted({r["seed"] for r in table["runs"] if r["hash"] in chosen}))
    trains = [v for k, v in res["train"].items() if k.endswith(f"epochs{top}")]
    train_min = statistics.fmean(t["seconds"] for t in trains) / 60 if trains else float("nan")
    lines = [
        "## How far to trust a weight-sharing ranking (issues 5, 18)",
        "",
        "Ground truth (a pilot, then the seeds of the kept architectures), then the benchmark:",
        "",
        "```",
        f"python tools/train_standalone.py --design 40 --seeds 0 --epochs {recipe['epochs']} --batch-size "
        f"{recipe['batch_size']} --lr {recipe['lr']} --workers 2 --table {args.ground_truth}",
        f"python tools/train_standalone.py --spread {len(_S['hashes'])} --seeds {gt_seeds} --epochs {recipe['epochs']} "
        f"--batch-size {recipe['batch_size']} --lr {recipe['lr']} --workers 2 --table {args.ground_truth}",
        f"python tools/bench_ranking.py --ground-truth {args.ground_truth} --budgets {_words(args.budgets)} "
        f"--seeds {_words(args.seeds)} --curve-seeds {_words(args.curve_seeds)} --eq9-seeds {_words(args.eq9_seeds)} "
        f"--lr {args.lr} --workers 2",
        "```",
        "",
        f"**Ground truth** (`{args.ground_truth}`): {gt['n']} architectures of the ST-NAS space "
        f"(`{table['meta']['space']}`, {table['meta']['scale']['resolution']} px, width {table['meta']['scale']['width']}) "
        f"kept from {len(table['archs'])} candidates spread over depth, topology and operator size "
        f"(`graphnas.estimate.spread`), by their pilot validation accuracy; each trained from scratch on the 50,000 "
        f"Fashion-MNIST training images ({recipe['epochs']} epochs, batch {recipe['batch_size']}, lr {recipe['lr']} "
        f"cosine, Nesterov momentum {recipe['momentum']}), "
        + (f"{gt['seeds'][0]}" if gt["seeds"][0] == gt["seeds"][1] else f"{gt['seeds'][0]}-{gt['seeds'][1]}")
        + f" seeds each ({gt['runs']} runs), test accuracy on the 10,000 test images. Its own figures, in accuracy points:",
        "",
        "| range | seed noise (median std) | standard error of a mean | median neighbour gap | SE / gap (goal < 0.33) "
        "| seed-to-seed tau | one seed vs the other seeds' mean | ceiling: true accuracies vs these means |",
        "|---|---|---|---|---|---|---|---|",
        f"| {gt['low']:.2f}-{gt['high']:.2f} ({gt['range']:.2f}) | {gt['seed_std']:.2f} | {gt['std_error']:.2f} | "
        f"{gt['neighbour_gap']:.3f} | {gt['se_over_gap']:.2f} | "
        + (f"{gt['seed_tau']:.2f} ({gt['seed_pairs']} pairs)" if gt["seed_tau"] is not None else "-") + " | "
        + (f"{gt['mean_vs_seed_tau']:.2f}" if gt["mean_vs_seed_tau"] is not None else "-")
        + f" | {gt['ceiling_tau']:.2f} |",
        "",
        "The ceiling is simulated (`ground_truth_stats`): true accuracies with the means' spread less their noise, "
        "scored against themselves plus a mean's standard error; it is the tau a perfect estimator would reach "
        "against these means, and the figure to hold every row below against.",
        "",
        f"**Supernets**: seeds {seeds}; {top} epochs on "
        + (f"{args.train_size} of the training images" if args.train_size else "all 50,000 training images")
        + f" (about {train_min:.0f} min each on "
        f"one core), SGD without momentum, batch {args.batch_size}, lr {args.lr} cosine to {args.lr * args.final_lr_ratio:g}, "
        f"ST-NAS sampling with p_drop {res['p_drop']:.3f} (expected MAdds {res['sampled_madds'] / 1e6:.2f}M, the "
        + ("ground truth's median" if res["sampled_madds"] == res["target_madds"] else
           f"nearest ST-NAS sampling reaches to the ground truth's median {res['target_madds'] / 1e6:.2f}M")
        + f"). Estimators score {args.eval_size} validation images. The paths' mean accuracy "
        f"(single checkpoint, BN recalibrated) after each budget: "
        + ", ".join(f"{b} epochs {v:.1f}%" for b, v in sorted(res["path_accuracy"].items()))
        + f"; the same architectures standalone: {statistics.fmean(res['true']):.1f}%.",
        "",
        "Every estimator against the ground truth's mean accuracy; tau is the median over the supernet seeds "
        "(for the checkpoint rows, of each seed's median over its last checkpoints, as ST-NAS reports), with a 95% "
        "bootstrap interval over the architectures:",
        "",
        "| estimator | Kendall tau | 95% CI | Spearman rho | 95% CI | top-5 overlap | 95% CI | tau per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in res["rows"].items():
        per = row.get("taus_per_seed", row["taus"])
        lines.append(f"| {name} | **{row['tau']:.2f}** | {_ci(row, 'kendall_tau')} | {row['rho']:.2f} | "
                     f"{_ci(row, 'spearman_rho')} | {row['top5']:.2f} | {_ci(row, 'top_5_overlap')} | "
                     f"{', '.join(f'{t:.2f}' for t in per)} |")
    lines += [
        "",
        "ST-NAS's ImageNet figures (Table 5: single checkpoint, fine-tune, SGLD score and parameter expectation) are "
        f"0.71, 0.64, 0.81, 0.84. A perfect estimator would reach about {gt['ceiling_tau']:.2f} against this ground "
        f"truth (its ceiling above).",
        "",
        "**Tau against supernet epochs** (single checkpoint at the end of runs annealed over each budget, and at "
        f"epochs of the {top}-epoch run; dots: seeds, line: median; dashed: the ground truth's ceiling):",
        "",
        "| series | " + " | ".join(f"{b} epochs" for b in sorted(args.budgets)) + " |",
        "|---|" + "---|" * len(args.budgets),
    ]
    for name, pts in res["curve"].items():
        cells = [(", ".join(f"{t:.2f}" for t in pts[b]) if b in pts else "-") for b in sorted(args.budgets)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "![tau vs supernet epochs](docs/img/ranking_epochs.png)", "",
              "**BN recalibration size** (final checkpoint; tau per seed, and the paths' mean accuracy):", "",
              "| images | tau per seed | median | mean path accuracy |", "|---|---|---|---|"]
    for size, v in sorted(res["recal_ablation"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"| {int(size) or 'none (training statistics)'} | {', '.join(f'{t:.2f}' for t in v['tau'])} | "
                     f"{float(np.median(v['tau'])):.2f} | {v['mean_accuracy']:.1f}% |")
    lines += ["", f"**SGLD samples** ({args.sgld_steps} steps apart, alpha = the final rate "
              f"{args.lr * args.final_lr_ratio:g}; each sample and each mean scored with the BN recalibration "
              f"given): median tau over the seeds", "",
              "| noise | BN recal | samples | score expectation | parameter expectation | the last sample alone | "
              "its mean path accuracy |", "|---|---|---|---|---|---|---|"]
    for key, v in res["sample_ablation"].items():
        noise, count = key.split("/")
        on = _sgld_seeds(args, noise)
        lines.append(f"| {NOISE_FORMS[noise]} (seed{'s' * (len(on) > 1)} {', '.join(map(str, on))}) | {v['recal'] or 'none'} | {count} | "
                     f"{float(np.median(v['score'])):.2f} | {float(np.median(v['param'])):.2f} | "
                     f"{float(np.median(v['sample_alone'])):.2f} | {v['sample_mean_accuracy']:.1f}% |")
    lines += ["", "**Rank fluctuation** (ST-NAS Fig. 5): the rank the single checkpoint gives each architecture at "
              f"each of the last {args.last} epochs of supernet seed {args.seeds[0]}, coloured by its true rank:", "",
              "![rank fluctuation over checkpoints](docs/img/ranking_fluctuation.png)", "",
              f"Wall time of the last invocation: {res['wall_seconds'] / 60:.1f} min (supernets and scores recorded "
              f"earlier are reused)."]
    update_section("ranking", "\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from graphnas.errors import GraphnasError

    try:
        raise SystemExit(main())
    except GraphnasError as err:
        raise SystemExit(f"bench_ranking: error: {err}") from None
