"""The ranking instrument of issue 18: designed candidates and their spread selection, the ground truth's own
figures, bootstrap intervals, checkpoints kept at chosen epochs, SGLD samples a few steps apart, the pictures."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import graphnas
from graphnas import Supernet, arch_cost
from graphnas.errors import EstimatorError, GraphnasError
from graphnas.estimate.groundtruth import ground_truth_hashes, ground_truth_stats, load_ground_truth
from graphnas.estimate.ranking import bootstrap_ci, kendall_tau
from graphnas.estimate.ranking_plots import plot_curve, plot_fluctuation
from graphnas.estimate.sgld import sgld_samples
from graphnas.estimate.spread import KNOBS, design_choices, designed_archs, pick_spread
from graphnas.ops.registry import NONE
from graphnas.train.checkpoint import read_trained
from graphnas.train.loop import CHECKPOINT, TrainConfig, fit, kept_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stnas():
    return graphnas.get_space("st_nas", resolution=16, width=0.25, num_classes=10, in_channels=1, stem_stride=1,
                              head_channels=None)


def random_set(n: int, num_classes: int = 5, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, num_classes, (n,), generator=g))


# ------------------------------------------------------------------------------ designed candidates
def test_design_corners_are_the_extremes_of_depth_topology_and_operator_size(stnas):
    archs = designed_archs(stnas, 12, seed=0)
    assert len({a.hash for a in archs}) == 12
    shallow, deep_dense_large = archs[0], archs[7]  # knobs (0, 0, 0) and (1, 1, 1)
    for i, edge in enumerate(stnas.edges):
        op = shallow.ops[i]
        if NONE in edge.candidates:
            assert op == NONE  # no branch
        elif "identity" in edge.candidates:
            assert op == "identity"  # no conv where identity fits
        else:
            assert op == "mbconv_k3_e3_se"  # the cheapest operator across a reduction
        assert deep_dense_large.ops[i] != NONE and (deep_dense_large.ops[i] != "identity" or NONE in edge.candidates)
    costs = [arch_cost(a).madds for a in archs]
    assert costs[0] == min(costs) and costs[7] == max(costs)
    assert designed_archs(stnas, 12, seed=0) == archs  # seeded
    assert designed_archs(stnas, 12, seed=1)[8:] != archs[8:]  # the Sobol points move with the seed


def test_design_knobs_move_depth_and_topology_as_named(stnas):
    rng = np.random.default_rng(0)

    def share(knobs, which):
        counts = []
        for _ in range(30):
            ops = stnas.arch(design_choices(stnas, knobs, rng)).ops
            edges = [i for i, e in enumerate(stnas.edges) if (NONE in e.candidates) == (which == "branch")
                     and (which == "branch" or "identity" in e.candidates)]
            bad = NONE if which == "branch" else "identity"
            counts.append(np.mean([ops[i] != bad for i in edges]))
        return float(np.mean(counts))

    assert KNOBS == ("depth", "branches", "op_size")
    assert share((0.25, 0.5, 0.5), "stem") == pytest.approx(0.25, abs=0.07)
    assert share((0.5, 0.8, 0.5), "branch") == pytest.approx(0.8, abs=0.07)


def test_designed_archs_rejects_a_bad_count(stnas):
    with pytest.raises(EstimatorError, match="positive integer"):
        designed_archs(stnas, 0)


def test_pick_spread_keeps_the_extremes_and_evens_the_gaps():
    values = {f"h{i:02d}": v for i, v in enumerate([0.80, 0.81, 0.811, 0.812, 0.813, 0.85, 0.86, 0.87, 0.899, 0.90])}
    picked = pick_spread(values, 4)
    assert picked[0] == "h00" and picked[-1] == "h09"  # the extremes
    kept = [values[h] for h in picked]
    assert kept == sorted(kept)
    assert kept[1:3] == [0.85, 0.87]  # the nearest to the targets 0.833 and 0.867
    assert pick_spread(values, 10) == sorted(values, key=values.get)
    with pytest.raises(EstimatorError, match="11 asked for"):
        pick_spread(values, 11)
    with pytest.raises(EstimatorError, match="k must be an integer >= 2"):
        pick_spread(values, 1)


# --------------------------------------------------------------------------------- ground truth
def table_of(runs_by_arch: dict[str, list[float]], selected=None) -> dict:
    """A minimal ground-truth table (``runs`` and ``selected`` only matter here) with accuracies in [0, 1]."""
    runs = [{"hash": h, "seed": s, "test_accuracy": a} for h, accs in runs_by_arch.items() for s, a in enumerate(accs)]
    table = {"runs": runs, "archs": {h: {} for h in runs_by_arch}}
    if selected is not None:
        table["selected"] = selected
    return table


def test_ground_truth_stats_are_the_figures_of_the_table():
    # four architectures, two seeds; seed 1 swaps the middle pair
    acc = {"a": [0.80, 0.81], "b": [0.84, 0.86], "c": [0.86, 0.84], "d": [0.90, 0.90], "e": [0.70]}
    stats = ground_truth_stats(table_of(acc), hashes=["a", "b", "c", "d", "e"])
    assert stats["n"] == 4 and stats["runs"] == 8 and stats["seeds"] == [2, 2]  # "e" has one seed: left out
    assert stats["low"] == pytest.approx(80.5) and stats["high"] == pytest.approx(90.0)
    assert stats["range"] == pytest.approx(9.5)
    stds = [statistics.stdev(v) * 100 for v in ([0.80, 0.81], [0.84, 0.86], [0.86, 0.84], [0.9, 0.9])]
    assert stats["seed_std"] == pytest.approx(statistics.median(stds))
    assert stats["std_error"] == pytest.approx(statistics.median(stds) / math.sqrt(2))
    assert stats["neighbour_gap"] == pytest.approx(statistics.median([4.5, 0.0, 5.0]))
    assert stats["se_over_gap"] == pytest.approx(stats["std_error"] / stats["neighbour_gap"])
    assert stats["seed_pairs"] == 1
    assert stats["seed_tau"] == pytest.approx(kendall_tau([80, 84, 86, 90], [81, 86, 84, 90]))
    assert 0 < stats["ceiling_tau"] < 1 and stats == ground_truth_stats(table_of(acc), hashes=list(acc))  # seeded
    exact = ground_truth_stats(table_of({h: [v[0], v[0]] for h, v in acc.items()}))
    assert exact["ceiling_tau"] == pytest.approx(1.0) and exact["seed_tau"] == pytest.approx(1.0)  # no seed noise: the means are the truth
    means = {"a": 0.80, "b": 0.82, "c": 0.84, "d": 0.86, "e": 0.88, "f": 0.90}
    quiet, loud = ({h: [m - d, m + d] for h, m in means.items()} for d in (0.002, 0.02))
    assert ground_truth_stats(table_of(quiet))["ceiling_tau"] > ground_truth_stats(table_of(loud))["ceiling_tau"]
    assert ground_truth_hashes(table_of(acc)) == ["a", "b", "c", "d"]  # >= 2 seeds without a selection
    assert ground_truth_hashes(table_of(acc, selected=["d", "a", "e"])) == ["a", "d", "e"]
    with pytest.raises(EstimatorError, match="figures need at least 2"):
        ground_truth_stats(table_of({"a": [0.8, 0.8], "e": [0.7]}))


def test_the_shipped_ground_truth_loads():
    table = load_ground_truth(ROOT / "benchmarks" / "ranking_ground_truth_stnas.json")
    assert table["meta"]["space"] == "st_nas/ops" and table["meta"]["data"] == "fashion_mnist"
    assert len(table["archs"]) >= 32


# ------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_intervals_cover_the_figure_and_narrow_with_agreement():
    rng = np.random.default_rng(0)
    true = rng.normal(size=40)
    close, far = true + 0.2 * rng.normal(size=40), true + 2.0 * rng.normal(size=40)
    ci_close, ci_far = bootstrap_ci(close, true, resamples=300), bootstrap_ci(far, true, resamples=300)
    lo, hi = ci_close["kendall_tau"]
    assert lo <= kendall_tau(close, true) <= hi
    assert hi - lo < ci_far["kendall_tau"][1] - ci_far["kendall_tau"][0]
    assert ci_close["kendall_tau"][0] > ci_far["kendall_tau"][1]  # well apart
    assert set(ci_close) == {"kendall_tau", "spearman_rho", "top_5_overlap"}
    rows = np.stack([close, far, close])  # the median over rows is the close one's
    assert bootstrap_ci(rows, true, resamples=300, seed=3)["kendall_tau"] == \
        bootstrap_ci(close, true, resamples=300, seed=3)["kendall_tau"]
    with pytest.raises(EstimatorError, match="resamples"):
        bootstrap_ci(close, true, resamples=5)
    with pytest.raises(EstimatorError, match="equal length"):
        bootstrap_ci(np.stack([close, close[:-1].tolist() + [0.0]])[:, :-1], true)


# ---------------------------------------------------------------------------- kept checkpoints
def test_fit_keeps_the_checkpoints_of_the_chosen_epochs(tmp_path, tiny):
    data = random_set(32)
    config = TrainConfig(epochs=3, batch_size=16, lr=0.05, seed=0)
    torch.manual_seed(0)
    sn = Supernet(tiny)
    fit(sn, data, config, lambda rng: tiny.sample(rng), progress=False, out=tmp_path / "run", keep_epochs=[1, 3])
    assert sorted(p.name for p in (tmp_path / "run" / "epochs").iterdir()) == ["epoch001.pt", "epoch003.pt"]
    first = read_trained(kept_checkpoint(tmp_path / "run", 1), unfinished=True)
    assert len(first.history) == 1
    final = read_trained(tmp_path / "run" / CHECKPOINT)
    assert all(torch.equal(final.state_dict[k], v) for k, v in
               read_trained(kept_checkpoint(tmp_path / "run", 3), unfinished=True).state_dict.items())
    with pytest.raises(GraphnasError, match="at epoch 1 of 3"):
        read_trained(kept_checkpoint(tmp_path / "run", 1))  # not finished: asked for explicitly
    # the same run, epoch by epoch: epoch 1's checkpoint holds epoch 1's weights
    torch.manual_seed(0)
    sn2 = Supernet(tiny)
    fit(sn2, data, config, lambda rng: tiny.sample(rng), progress=False, out=tmp_path / "cut", stop_after_steps=2)
    assert all(torch.equal(first.state_dict[k], v) for k, v in sn2.state_dict().items())
    with pytest.raises(GraphnasError, match="keep_epochs"):
        fit(Supernet(tiny), data, config, lambda rng: tiny.sample(rng), progress=False, keep_epochs=[1])
    with pytest.raises(GraphnasError, match="keep_epochs"):
        fit(Supernet(tiny), data, config, lambda rng: tiny.sample(rng), progress=False, out=tmp_path / "x",
            keep_epochs=[4])


# ---------------------------------------------------------------------- SGLD samples by steps
def test_sgld_samples_a_few_steps_apart(tiny):
    data = random_set(64)
    sn = Supernet(tiny)
    arch = tiny.sample(1)
    go = lambda **k: sgld_samples(sn, sn.state_dict(), data, lambda rng: arch, alpha=0.01, batch_size=16,  # noqa: E731
                                  progress=False, **k)
    per_epoch = go(num_samples=2)  # 4 steps per epoch
    by_steps = go(num_samples=4, steps_per_sample=2)
    assert len(by_steps) == 4
    for k in (0, 1):  # sample 2k+1 by steps is the sample after k+1 epochs
        assert all(torch.equal(per_epoch[k][n], by_steps[2 * k + 1][n]) for n in per_epoch[k])
    third, whole = go(num_samples=3, steps_per_sample=4)[2], go(num_samples=1, steps_per_sample=12)[0]
    assert all(torch.equal(third[n], whole[n]) for n in third)  # 12 steps either way, across epoch ends
    with pytest.raises(EstimatorError, match="steps_per_sample"):
        go(steps_per_sample=0)


# -------------------------------------------------------------------------------------- pictures
def test_pictures_are_written_and_refuse_bad_shapes(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.normal(size=8)
    scores = true + rng.normal(size=(5, 8))
    path = plot_fluctuation(scores, true, tmp_path / "f.png", checkpoints=range(6, 11))
    assert path.read_bytes()[:4] == b"\x89PNG"
    curve = plot_curve({"single": {10: [0.3, 0.4], 20: [0.5]}}, tmp_path / "c.svg", ceiling=0.8)
    assert b"<svg" in curve.read_bytes()[:400]
    with pytest.raises(EstimatorError, match="shape"):
        plot_fluctuation(scores[:, :-1], true, tmp_path / "g.png")
    with pytest.raises(EstimatorError, match="labels"):
        plot_fluctuation(scores, true, tmp_path / "g.png", checkpoints=[1, 2])
    with pytest.raises(EstimatorError, match=".png, .svg or .pdf"):
        plot_curve({"a": {1: [0.1]}}, tmp_path / "c.txt")
    with pytest.raises(EstimatorError, match="at least one series"):
        plot_curve({}, tmp_path / "c.png")


# --------------------------------------------------------------------------- train_standalone --spread
def test_train_standalone_selects_once_on_validation_accuracy(tmp_path, stnas, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import train_standalone

    archs = designed_archs(stnas, 6, seed=0)
    val = [0.80, 0.85, 0.81, 0.90, 0.86, 0.83]
    test = [0.90, 0.80, 0.85, 0.81, 0.82, 0.84]  # not what selects
    table = {"runs": [{"hash": a.hash, "seed": 0, "val_accuracy": v, "test_accuracy": t}
                      for a, v, t in zip(archs, val, test)],
             "archs": {a.hash: {"arch": json.loads(a.to_json())} for a in archs}}
    picked = train_standalone.selection(table, stnas, 3, tmp_path / "gt.json")
    assert [a.hash for a in picked] == [archs[0].hash, archs[1].hash, archs[3].hash]  # targets 0.80, 0.85, 0.90
    assert sorted(table["selected"]) == sorted(a.hash for a in picked)
    table["runs"][1]["val_accuracy"] = 0.99  # more runs later do not move the selection
    assert [a.hash for a in train_standalone.selection(table, stnas, 3, tmp_path / "gt.json")] == \
        [a.hash for a in picked]
    with pytest.raises(SystemExit, match="already selected 3 architectures, not 4"):
        train_standalone.selection(table, stnas, 4, tmp_path / "gt.json")
    del table["selected"]
    with pytest.raises(SystemExit, match="6 candidates measured, fewer than the 7"):
        train_standalone.selection(table, stnas, 7, tmp_path / "gt.json")
    assert "train_standalone" in sys.modules


# ------------------------------------------------------------------------------ the benchmark's plan
def test_bench_ranking_plans_its_jobs(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import bench_ranking

    args = bench_ranking.parse(["--budgets", "10", "20", "40", "--seeds", "0", "1", "2", "--curve-seeds", "0"])
    monkeypatch.setitem(bench_ranking._S, "args", args)
    assert bench_ranking._kept(40) == [10, 20] + list(range(31, 41))  # the last 10 and the shorter budgets
    assert bench_ranking._kept(20) == []  # a shorter run is read at its end only
    train = [key for key, _ in bench_ranking.train_jobs(args)]
    assert train == ["train/seed0/epochs40", "train/seed1/epochs40", "train/seed2/epochs40", "train/seed0/epochs10",
                     "train/seed0/epochs20"]
    jobs = dict(bench_ranking.score_jobs(args))
    for s in (0, 1, 2):
        assert all(f"checkpoint/seed{s}/epochs40/at{e}" in jobs for e in [10, 20] + list(range(31, 41)))
        assert jobs[f"checkpoint/seed{s}/epochs40/at40"]["recal"] == [0, 250, 2000, 20000]  # the size ablation
        assert jobs[f"checkpoint/seed{s}/epochs40/at35"]["recal"] == [0, 2000]
        assert jobs[f"sgld/seed{s}/epochs40/tempered"]["counts"] == [1, 2, 5, 10, 20]
        assert jobs[f"sgld/seed{s}/epochs40/tempered"]["sample_recal"] == [2000]  # every sample recalibrated
        assert (f"sgld/seed{s}/epochs40/eq9" in jobs) == (s == 0)  # Eq. 9 as written, an ablation: --eq9-seeds
        assert {bench_ranking._needs(j)[0] for k, j in jobs.items() if f"seed{s}/epochs40" in k} == \
            {f"train/seed{s}/epochs40"}  # a score waits for its own supernet only
    assert bench_ranking._needs(jobs["checkpoint/seed0/epochs10/at10"]) == ["train/seed0/epochs10"]
    assert bench_ranking._needs({"kind": "train", "seed": 0, "budget": 40}) == []
    assert "checkpoint/seed0/epochs10/at10" in jobs and "checkpoint/seed1/epochs10/at10" not in jobs
    only = bench_ranking.parse(["--budgets", "10", "20", "40", "--seeds", "0", "--curve-seeds"])  # no shorter runs
    assert [key for key, _ in bench_ranking.train_jobs(only)] == ["train/seed0/epochs40"]
    assert not any("epochs10/at10" in key for key, _ in bench_ranking.score_jobs(only))
    assert "checkpoint/seed0/epochs40/at10" in dict(bench_ranking.score_jobs(only))  # the 40-epoch run read early
    assert args.record_dir == "benchmarks"  # the record is committed with the results it makes
    digest = bench_ranking.settings_digest(args, ["b", "a"])
    assert digest == bench_ranking.settings_digest(args, ["a", "b"])  # the set of architectures, not its order
    assert digest != bench_ranking.settings_digest(bench_ranking.parse(["--eval-size", "500"]), ["a", "b"])


def test_bench_ranking_reports_what_is_recorded(tmp_path, monkeypatch):
    """report() and write_section() on a synthetic record: a sharp estimator ranks above a blurred one, the
    Eq. 9 ablation is reported for its seeds only (at the recalibration its samples were scored with), the pictures and the section are written."""
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import bench_ranking

    rng = np.random.default_rng(0)
    hashes = [f"{i:016x}" for i in range(12)]
    acc = dict(zip(hashes, np.linspace(0.86, 0.90, 12)))
    table = {"meta": {"space": "st_nas/test", "scale": {"resolution": 16, "width": 0.25},
                      "recipe": {"epochs": 4, "batch_size": 256, "lr": 0.2, "momentum": 0.9}},
             "archs": {h: {"madds": 1e6} for h in hashes}, "selected": hashes,
             "runs": [{"hash": h, "seed": s, "test_accuracy": float(acc[h] + rng.normal(0, 0.001))}
                      for h in hashes for s in (0, 1)]}
    args = bench_ranking.parse(["--budgets", "2", "4", "--seeds", "0", "1", "--last", "3", "--sgld-samples", "4",
                                "--sgld-counts", "1", "2", "4", "--recal-sizes", "250", "2000",
                                "--out", str(tmp_path / "out")])
    sampler = type("S", (), {"p_drop": 0.3})()
    monkeypatch.setattr(bench_ranking, "_S", {"args": args, "table": table, "hashes": hashes, "target": 1e6,
                                              "reached": 1e6, "sampler": sampler})

    def scores(blur):  # the truth, blurred: checkpoints rank it well, SGLD samples badly
        return [float(acc[h] + rng.normal(0, blur)) for h in hashes]

    recorded = {k: {"key": k, "seconds": 60.0, "history": []} for k, _ in bench_ranking.train_jobs(args)}
    for key, job in bench_ranking.score_jobs(args):
        if job["kind"] == "sgld":
            at = job["sample_recal"] if job["noise"] == "tempered" else [0]  # Eq. 9's as an older record has them
            got = {f"sample{k}/recal{r}": scores(0.05) for k in range(1, 5) for r in at}
            got.update({f"param{c}/recal{r}": scores(0.05) for c in job["counts"] for r in job["recal"]})
        else:
            got = {f"recal{r}": scores(0.001) for r in job.get("recal", [0, 2000])}
        recorded[key] = {"key": key, "scores": got, "seconds": 1.0}
    made = bench_ranking.report(args, recorded, started=0.0)
    rows = made["result"]["rows"]
    sharp, blurred = rows["single checkpoint (median over the last 3 checkpoints)"], \
        rows["parameter expectation, tempered noise, T = 1, 4 samples"]
    assert sharp["tau"] > 0.8 > 0.5 > blurred["tau"]
    low, high = blurred["ci"]["kendall_tau"]
    assert low < blurred["tau"] < high and high - low > 0.3  # a blurred ranking of 12: a wide interval
    assert len(sharp["taus_per_seed"]) == 2 and len(blurred["taus"]) == 2
    assert len(rows["score expectation, ST-NAS Eq. 9 noise, 4 samples"]["taus"]) == 1  # seed 0, no recal
    assert len(rows["score expectation, tempered noise, T = 1, 4 samples, BN recal 2000"]["taus"]) == 2
    assert "score expectation, tempered noise, T = 1, 4 samples" not in rows  # its samples were not scored so
    assert set(made["result"]["sample_ablation"]) == {f"{n}/{c}" for n in ("eq9", "tempered") for c in (1, 2, 4)}
    assert set(made["result"]["curve"]["annealed run, no recal"]) == {2, 4}
    assert {int(k) for k in made["result"]["recal_ablation"]} == {0, 250, 2000}
    assert json.loads((tmp_path / "out" / "ranking.json").read_text())["best"] == made["result"]["best"]
    assert set(made["pictures"]) == {"ranking_epochs.png", "ranking_fluctuation.png", "ranking.png"}

    # without the shorter runs (--curve-seeds none) the curve is the 40-epoch run's own checkpoints
    only = bench_ranking.parse(["--budgets", "2", "4", "--seeds", "0", "1", "--last", "1", "--curve-seeds",
                                "--sgld-samples", "4", "--sgld-counts", "1", "2", "4", "--recal-sizes", "250", "2000",
                                "--out", str(tmp_path / "o2")])
    monkeypatch.setitem(bench_ranking._S, "args", only)
    alone = bench_ranking.report(only, {k: v for k, v in recorded.items() if "epochs2/" not in k}, started=0.0)
    assert set(alone["result"]["curve"]) == {"checkpoints of the 4-epoch run, BN recal 2000",
                                             "annealed run, no recal", "annealed run, BN recal 2000"}
    assert set(alone["result"]["curve"]["annealed run, no recal"]) == {4}
    assert set(alone["result"]["path_accuracy"]) == {4}
    monkeypatch.setitem(bench_ranking._S, "args", args)

    written = {}
    monkeypatch.setattr(bench_ranking, "ROOT", tmp_path)
    monkeypatch.setattr(bench_ranking, "update_section", lambda name, body: written.update({name: body}))
    bench_ranking.write_section(args, made)
    body = written["ranking"]
    assert "| tempered noise, T = 1 (seeds 0, 1) | 2000 | 4 |" in body and "| ST-NAS Eq. 9 noise (seed 0) | none | 4 |" \
        in body
    assert f"**{sharp['tau']:.2f}**" in body and "--seeds 0 1 --curve-seeds 0 --eq9-seeds 0 --lr" in body
    assert "--spread 12 --seeds 0 1 --epochs" in body  # the ground truth's seeds, as measured
    assert all((tmp_path / "docs" / "img" / name).read_bytes()[:4] == b"\x89PNG" for name in made["pictures"])
