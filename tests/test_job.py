"""The one job (graphnas.jobs): one short end-to-end run, then resume, checkpoints, config layers and job.json.

st_nas needs a resolution of at least 16 at stem_stride 1 (reduction x16), so the job runs on the digits
at 16 px (the smallest st_nas input), 1 epoch, 4 evaluations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import graphnas
from graphnas import GraphnasError, Supernet, arch_cost
from graphnas.cost.limits import parse_count
from graphnas.jobs import JobConfig, SearchConfig, SetupConfig, TrainingConfig, resolve, restrict_ops, run, train
from graphnas.options import with_values
from graphnas.space.registry import space_info

CPU_SCALE = {k: v for k, v in space_info("st_nas").cpu_scale.items() if k != "resolution"}

OPS = ["mbconv_k3_e3_se", "identity"]
RESOLUTION = 16


def subspace():
    space = graphnas.get_space("st_nas", **CPU_SCALE, resolution=RESOLUTION, in_channels=1, num_classes=10)
    return restrict_ops(space, OPS)


def median_limit() -> str:
    madds = [arch_cost(a).madds for a in (subspace().sample(i) for i in range(20))]
    return f"{np.median(madds) / 1e3:.1f}K"


TRAIN = {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9}


def config(out: Path, train: dict | None = None, **kw) -> JobConfig:
    """A tiny job on ``out``: fields of any part by name (``budget=2``, ``ops=None``), ``train`` the optimiser's."""
    base = JobConfig(setup=SetupConfig(resolution=RESOLUTION, ops=list(OPS)),
                     training=TrainingConfig(sampler="uniform", train=dict(train or TRAIN)),
                     search=SearchConfig(budget=4, population=2, madds=median_limit(), recal_samples=128,
                                         lookup=False),
                     out=str(out), quiet=True)
    return with_values(base, kw)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wf") / "run"
    report = run(config(out))
    return out, report


def test_job_ends_with_a_lookup_table_of_its_own_space(first_run, tmp_path):
    """The quick start's last step: lookup.db around the best architecture, answering latency limits."""
    import subprocess
    import sys

    from graphnas.cost.latency import LatencyModel
    from graphnas.lookup import LookupTable

    out, first = first_run
    job = tmp_path / "job"
    job.mkdir()
    (job / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    report = run(config(job, resume=True, lookup=True, lookup_labels=16, lookup_rows=300))
    lookup = report["lookup"]
    assert lookup["table"] == str(job / "lookup.db") == report["files"]["lookup"]
    assert (job / "lookup.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and lookup["picture"] == str(job / "lookup.png")
    best = subspace().from_json((job / "best_arch.json").read_text())
    with LookupTable.open(job / "lookup.db") as table:
        sub = table.space
        assert sub.name == "st_nas/ops/lookup" and 16 < len(table) == lookup["rows"] <= 300
        assert table.arch(sub.index(sub.from_ops(best.ops))).ops == best.ops  # the best is one of the rows
        assert (~np.isnan(table.column("measured"))).sum() == lookup["labels"] == 16
        assert table.meta["predictor"] == "gcn" and len(table.meta["supernet"]) == 16
        model = LatencyModel.load(job / "latency.db", subspace())  # measured on this machine by the job
        rows = table.query(top=3)
        assert [r.latency for r in rows] == pytest.approx([model.latency(subspace().from_ops(table.arch(r).ops))
                                                           for r in rows])
        lat = table.column("latency")
        limit = lookup["example"]["latency"]
        assert lat.min() < float(limit[:-2]) < lat.max()  # a limit that bites
    cli = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "tools" / "lookup.py"), "--table",
                          lookup["table"], "--latency", limit, "--top", "1", "--json", "--render",
                          str(tmp_path / "answer.svg")], capture_output=True, text=True, check=True)
    assert json.loads(cli.stdout)["rows"][0]["hash"] == lookup["example"]["best"]["hash"]
    assert "<svg" in (tmp_path / "answer.svg").read_text()  # the table's subspace is rebuilt from its metadata


def test_outputs_written(first_run):
    out, report = first_run
    for name in ("report.json", "best_arch.json", "best_arch.svg", "best_arch.png", "best_arch.dot", "checkpoint.pt",
                 "train_log.json", "job.json", "front.json", "front.png", "search_history.json"):
        assert (out / name).is_file(), name
    assert (out / "best_arch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "best_arch.svg").read_text()
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["best"] == json.loads(json.dumps(report["best"]))
    assert report["files"]["architecture"] == str(out / "best_arch.json")
    assert sorted(report["files"]["pictures"]) == sorted([str(out / f"best_arch.{e}") for e in ("dot", "svg", "png")]
                                                         + [str(out / "front.png")])
    front = json.loads((out / "front.json").read_text())
    assert front["objectives"] == ["accuracy", "madds"] and front["front"] == report["search"]["front"]
    history = json.loads((out / "search_history.json").read_text())["records"]
    assert len(history) == report["search"]["evaluations"] == len({h for h, _, _ in history})


def test_best_arch_loads_back_and_meets_limit(first_run):
    out, report = first_run
    space = subspace()
    arch = space.from_json((out / "best_arch.json").read_text())
    assert arch.space is space and space.name == "st_nas/ops"
    assert arch.hash == report["best"]["hash"]
    assert list(arch.ops) == report["best"]["ops"] and list(arch.choices) == report["best"]["choices"]
    assert set(arch.ops) <= set(OPS) | {"none"}
    limit = parse_count(report["config"]["search"]["madds"])
    assert report["best"]["madds"] == arch_cost(arch).madds <= limit
    assert report["best"]["params"] == arch_cost(arch).params
    # the limit bites: some architectures of the subspace exceed it
    assert any(arch_cost(space.sample(i)).madds > limit for i in range(20))
    # scale-free: the same file loads into the subspace at another resolution
    big = restrict_ops(graphnas.get_space("st_nas", **CPU_SCALE, resolution=32, in_channels=1,
                                          num_classes=10), OPS)
    assert big.from_json((out / "best_arch.json").read_text()).hash == arch.hash


def test_report_contents(first_run):
    out, report = first_run
    best = report["best"]
    assert 0.0 <= best["val_accuracy"] <= 1.0 and 0.0 <= best["test_accuracy"] <= 1.0
    n_val, n_test = report["data"]["val"], report["data"]["test"]
    assert best["val_accuracy"] * n_val == pytest.approx(round(best["val_accuracy"] * n_val))
    assert best["test_accuracy"] * n_test == pytest.approx(round(best["test_accuracy"] * n_test))
    assert report["data"]["input_shape"] == [1, RESOLUTION, RESOLUTION]
    assert report["data"]["train"] + n_val + n_test == 1797
    assert report["search"]["evaluations"] == 4
    assert report["search"]["strategy"] == "evolution"
    assert report["search"]["constraints"] == [f"Limit(madds <= {parse_count(report['config']['search']['madds']):g})"]
    pareto = report["search"]["pareto"]
    assert pareto and pareto[-1]["score"] == best["val_accuracy"]
    assert all(p["costs"]["madds"] <= parse_count(report["config"]["search"]["madds"]) for p in pareto)
    history = report["supernet"]["history"]
    assert len(history) == 1 and history[0]["epoch"] == 1
    assert report["space"]["name"] == "st_nas/ops" and report["space"]["size"] == subspace().size


def test_checkpoint_is_the_training_checkpoint_and_loads_with_weights_only(first_run):
    out, report = first_run
    blob = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert blob["format"] == "graphnas-train" and blob["step"] > 0 and "digest" in blob  # one format for every job
    assert blob["meta"]["space"] == "st_nas/ops"
    assert blob["meta"]["fingerprint"] == subspace().fingerprint
    sn = Supernet(subspace())
    sn.load_state_dict(blob["model"])  # strict: every key matches
    assert sum(p.numel() for p in sn.parameters()) == report["supernet"]["parameters"]
    assert report["files"]["supernet"] == str(out / "checkpoint.pt")


def test_job_json_is_the_resolved_config_and_repeats_the_job(first_run, tmp_path):
    out, report = first_run
    saved = json.loads((out / "job.json").read_text())
    assert saved == json.loads(json.dumps(report["config"]))
    again = JobConfig.from_dict(saved)
    assert again == resolve(config(out))
    assert again.train_config().momentum == 0.9 and again.training.sampler == "uniform"
    with pytest.raises(GraphnasError, match="unknown job config key search.\"budgett\""):
        JobConfig.from_dict({**saved, "search": {**saved["search"], "budgett": 3}})
    with pytest.raises(GraphnasError, match="search.budget=0"):
        JobConfig.from_dict({**saved, "search": {**saved["search"], "budget": 0}})
    with pytest.raises(GraphnasError, match='setup.resolution="16" must be an integer or None'):
        JobConfig.from_dict({**saved, "setup": {**saved["setup"], "resolution": "16"}})


def test_resume_reuses_a_finished_supernet(first_run):
    out, report = first_run
    ckpt = out / "checkpoint.pt"
    before = ckpt.read_bytes()
    again = run(config(out, resume=True))
    assert again["supernet"]["history"] == report["supernet"]["history"]
    assert ckpt.read_bytes() == before  # not retrained, not rewritten
    assert again["best"]["hash"] == report["best"]["hash"]
    assert again["best"]["val_accuracy"] == pytest.approx(report["best"]["val_accuracy"], abs=0.01)


def test_run_killed_mid_training_resumes_exactly(tmp_path, interrupt_after, monkeypatch):
    """`graphnas run --resume` continues a killed run's training where its checkpoint stopped, with the same
    weights as a run never stopped (the trainer's exact resume)."""
    import graphnas.train.loop as train_module

    two = {**TRAIN, "epochs": 2}
    whole = run(config(tmp_path / "whole", train=two, checkpoint_every=5))
    real = interrupt_after(train_module, "save_checkpoint", 2)  # killed at the third save: mid-epoch 1
    with pytest.raises(KeyboardInterrupt):
        run(config(tmp_path / "cut", train=two, checkpoint_every=5))
    assert not (tmp_path / "cut" / "report.json").exists()
    step = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["step"]
    assert 0 < step < 2 * (1797 // 64)
    monkeypatch.setattr(train_module, "save_checkpoint", real)
    resumed = run(config(tmp_path / "cut", train=two, checkpoint_every=5, resume=True))
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["best"]["hash"] == whole["best"]["hash"]


def test_resume_with_corrupt_checkpoint(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(GraphnasError) as info:
        run(config(out, resume=True))
    msg = str(info.value)
    assert "\n" not in msg
    assert "checkpoint.pt" in msg and "unreadable" in msg
    assert not (out / "report.json").exists()


def test_resume_refuses_checkpoint_of_other_config(first_run, tmp_path):
    out, _ = first_run
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    with pytest.raises(GraphnasError, match="other training options") as info:
        run(config(other, resume=True, train={**TRAIN, "epochs": 2}))
    assert "\n" not in str(info.value)


def test_space_paper_training_is_the_default_and_the_user_overrides_it():
    """st_nas states its paper's training (TRAINING: the stnas sampler); the job uses it unless told."""
    base = JobConfig(search=SearchConfig(madds="1.5M"))
    r = resolve(base)
    assert r.training.sampler == "stnas" and r.training.sampler_options == {"target_madds": "1.5M"}
    assert r.train_config().momentum == 0.9 and r.train_config().nesterov is True  # the job's optimiser
    assert r.train_config().epochs == 30  # the job's own default where the space says nothing
    no_limit = resolve(JobConfig())
    assert no_limit.training.sampler_options == {"p_drop": 0.5}
    mine = resolve(with_values(base, {"sampler": "uniform", "train": {"momentum": 0.5}}))
    assert mine.training.sampler == "uniform" and mine.training.sampler_options == {}
    assert mine.train_config().momentum == 0.5
    other = resolve(JobConfig(setup=SetupConfig(space="nb201")))  # no TRAINING: the job's defaults
    assert other.training.sampler == "uniform" and other.train_config().momentum == 0.9
    assert resolve(r) == r  # resolving twice changes nothing
    with pytest.raises(GraphnasError, match="unknown training option.*momentun"):
        resolve(with_values(base, {"train": {"momentun": 0.5}}))


def test_train_stops_after_training_and_run_searches_its_checkpoint(tmp_path):
    supernet, result = train(config(tmp_path / "t"))
    assert result.step == result.total_steps and not (tmp_path / "t" / "report.json").exists()
    report = run(config(tmp_path / "s", checkpoint=str(result.checkpoint)))
    assert report["files"]["supernet"] == str(result.checkpoint)
    assert not (tmp_path / "s" / "checkpoint.pt").exists()  # searched, not trained again


def test_bad_ops_and_strategy(tmp_path):
    with pytest.raises(GraphnasError, match="annealing"):
        run(config(tmp_path / "a", strategy="annealing"))
    with pytest.raises(GraphnasError):
        run(config(tmp_path / "b", ops=["no_such_op"]))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_restrict_ops_keeps_only_given_ops():
    space = subspace()
    for e in space.edges:
        assert set(e.candidates) <= set(OPS) | {"none"}
        assert any(op != "none" for op in e.candidates)
    # stage-crossing stem edges lose identity and keep the bottleneck only
    assert space.edges[1].candidates == ("mbconv_k3_e3_se",)
    assert space.edges[0].candidates == ("mbconv_k3_e3_se", "identity")


@pytest.mark.parametrize("space", ["nb201", "spos_shufflenet"])
def test_run_any_space_at_its_cpu_scale(tmp_path, space):
    """Without ops or scale, a space runs at its CPU_SCALE (its own resolution) with all its operators."""
    info = space_info(space)
    report = run(config(tmp_path / space, space=space, resolution=None, ops=None, madds=None,
                        train={"epochs": 1, "batch_size": 64, "lr": 0.05}, budget=2))
    assert report["space"]["name"] == space  # no subspace: every operator kept
    assert report["space"]["size"] == graphnas.get_space(space).size
    assert report["data"]["input_shape"][1] == info.cpu_scale["resolution"]
    assert all(report["space"]["scale"][k] == v for k, v in info.cpu_scale.items())


def test_latency_limit_uses_a_measured_table_of_the_jobs_space(first_run):
    from graphnas.cost.latency import LatencyModel

    out, _ = first_run
    report = run(config(out, resume=True, madds=None, latency="1000ms"))  # builds <out>/latency.db
    table = out / "latency.db"
    assert table.is_file() and report["latency"]["table"] == str(table)
    model = LatencyModel.load(table, subspace())
    assert report["best"]["latency_ms"] == pytest.approx(model.latency(subspace().from_json(
        (out / "best_arch.json").read_text())))
    bound = float(np.median([model.latency(subspace().sample(k)) for k in range(30)]))
    bites = run(config(out, resume=True, madds=None, latency=f"{bound:.4f}ms"))  # reuses the table
    assert bites["best"]["latency_ms"] <= bound + 1e-4
    assert any("latency" in c for c in bites["search"]["constraints"])
    assert bites["timings"]["latency_table_seconds"] < report["timings"]["latency_table_seconds"]


def test_flags_are_the_config_fields_and_config_file_is_read_under_them(first_run, tmp_path, capsys):
    """One flag per field (none kept by hand); --config FILE then the flags given; a bad file is one line."""
    from dataclasses import fields

    from graphnas.cli.main import _job_config, build_parser, main
    from graphnas.train.loop import TrainConfig

    parser = build_parser()
    run_help = parser.parse_args(["run"])  # every flag present, every value None: nothing given
    names = set(vars(run_help))
    for part in (SetupConfig, TrainingConfig, SearchConfig, TrainConfig):
        for f in fields(part):
            if f.metadata.get("cli", True) and f.name != "seed" or part is not TrainConfig and f.name == "seed":
                assert f.name in names, f.name
    assert "checkpoint" not in names and "train" not in names  # search's --checkpoint; the dict of overrides
    out, _ = first_run
    args = parser.parse_args(["run", "--config", str(out / "job.json"), "--budget", "7", "--lr", "0.2",
                              "--scale", "width=0.5"])
    config = _job_config(args, "run")
    saved = JobConfig.load(out / "job.json")
    assert config.search.budget == 7 and config.setup.scale == {"width": 0.5}
    assert config.training.train == {**saved.training.train, "lr": 0.2}
    assert config.search.madds == saved.search.madds and config.out == saved.out
    (tmp_path / "bad.json").write_text('{"setup": {"space": "st_nas"}, "serch": {}}')
    assert main(["run", "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "graphnas: error: unknown job config key \"serch\"; the keys are out, quiet, resume, search, " \
                  "seed, setup, training"
    (tmp_path / "long.json").write_text(json.dumps({"search": {"x" * 10_000: 1}}))
    assert main(["run", "--config", str(tmp_path / "long.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphnas: error: unknown job config key search.\"xxx") and len(err) < 500  # key cut short
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{")
    assert main(["run", "--config", str(tmp_path / "bin.json")]) == 2
    assert "is not JSON" in capsys.readouterr().err
    (tmp_path / "huge.json").write_text('{"seed": 1' + "0" * 5000 + "}")  # past Python's int-text limit
    assert main(["run", "--config", str(tmp_path / "huge.json")]) == 2
    assert "is not JSON (ValueError)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("estimator, options", [
    ("weight_averaging", {}),
    ("parameter_expectation", {"alpha": 0.01, "num_samples": 1, "recal": False}),
])
def test_run_searches_with_any_estimator(tmp_path, estimator, options):
    """--estimator NAME in the job: weight averaging trains with the last epoch's average kept; the SGLD
    expectations draw samples from the trained weights (options from --estimator-option)."""
    report = run(config(tmp_path / estimator, budget=2, strategy="random", estimator=estimator,
                        estimator_options=options))
    assert report["config"]["search"]["estimator"] == estimator and 0 <= report["best"]["val_accuracy"] <= 1
    blob = torch.load(tmp_path / estimator / "checkpoint.pt", weights_only=True)
    assert (blob["averaged_state_dict"] is not None) == (estimator == "weight_averaging")
    assert report["config"]["training"]["average_last_epoch"] == (estimator == "weight_averaging")


def test_an_estimator_that_needs_a_step_says_so_in_one_line(tmp_path):
    """SGLD steps at training's final learning rate; with final_lr_ratio 0 and no alpha the job names both fixes,
    before training (not after it)."""
    with pytest.raises(GraphnasError, match=r"final_lr_ratio > 0 \(--final-lr-ratio 0.05\), or pass alpha=.*"
                                            r"--estimator-option alpha=0.005") as info:
        run(config(tmp_path / "o", budget=2, strategy="random", estimator="score_expectation"))
    assert "\n" not in str(info.value) and not (tmp_path / "o" / "checkpoint.pt").exists()
    from graphnas.estimate.estimators import check_step

    ok = config(tmp_path / "t", estimator="score_expectation", estimator_options={"alpha": 0.001})
    assert check_step("score_expectation", ok.train_config(), ok.search.estimator_options) == "alpha"


def test_every_limit_metric_is_a_job_option():
    """madds, params, bitops, latency: one parser (cost.limits) for the job's flags as for every other caller."""
    from graphnas.cost.limits import METRICS
    from graphnas.jobs.search import job_limits

    assert set(METRICS) <= {f for f in vars(SearchConfig())}
    space = graphnas.get_space("spos_quant", **space_info("spos_quant").cpu_scale)
    highest = max(arch_cost(space.sample(i)).bitops for i in range(20))
    limits = job_limits(JobConfig(search=SearchConfig(bitops=f"{highest / 1e6:.3f}M")), None, space)
    assert [(lim.metric, lim.value) for lim in limits] == [("bitops", pytest.approx(highest, rel=1e-3))]
    with pytest.raises(GraphnasError, match="BitOps limit '1e309G' is too large"):
        job_limits(JobConfig(search=SearchConfig(bitops="1e309G")), None, space)


def test_crossover_and_mutation_reach_the_strategy_and_bad_values_are_one_line(monkeypatch):
    """--crossover / --mutation-prob: the strategy's own paper default unless given; out of range, one line."""
    import graphnas.search as search_module
    from graphnas.jobs.search import strategy_options

    gcn = strategy_options(JobConfig(search=SearchConfig(strategy="gcn", segments="7,6,6", top_k=4)))
    assert gcn["segments"] == [7, 6, 6] and gcn["top_k"] == 4 and gcn["select"] == "reevaluated"
    assert "segments" not in strategy_options(JobConfig(search=SearchConfig(strategy="gcn")))
    nsga = strategy_options(JobConfig(search=SearchConfig(strategy="nsga2")))
    assert "crossover" not in nsga and nsga["mutation_prob"] == 0.1  # one_point: the library's ST-NAS default
    given = strategy_options(JobConfig(search=SearchConfig(strategy="evolution", crossover="one_point",
                                                           mutation_prob=0.25)))
    assert given["crossover"] == "one_point" and given["mutation_prob"] == 0.25
    space = subspace()
    seen = []
    real = space.crossover
    monkeypatch.setattr(type(space), "crossover", lambda self, a, b, rng, kind="uniform": seen.append(kind)
                        or real(a, b, rng, kind=kind))
    search_module.evolution(space, lambda a: 0.0, budget=12, population=4, parents=2, rng=0, progress=False,
                            **{k: given[k] for k in ("crossover", "mutation_prob")})
    assert seen and set(seen) == {"one_point"}
    with pytest.raises(GraphnasError, match='crossover="two_point" is not a choice'):
        JobConfig(search=SearchConfig(crossover="two_point")).check()
    with pytest.raises(GraphnasError, match="mutation_prob"):
        JobConfig(search=SearchConfig(mutation_prob=1.5)).check()
