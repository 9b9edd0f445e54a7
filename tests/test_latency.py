"""The measured latency model: entries, prediction, the SQLite table, build/resume, validation, errors, CLI.

Timing itself is noisy, so tests never assert a speed: they check what is exact (which entries a space
has, that a prediction is the sum the table says, that scalar and batch predictions agree, that a
resumed build times nothing twice) and that every bad input gets its one-line error. Timings use a
minimal :class:`TimingConfig` so a whole build takes about a second.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

import numpy as np
import pytest
import torch

import graphnas
from graphnas.cli.main import main
from graphnas.cost import latency as lat
from graphnas.cost.latency import LatencyModel, build_latency_table, space_entries, spread_archs, validate
from graphnas.cost.latency_store import LatencyStore
from graphnas.cost.terms import terms
from graphnas.cost.limits import make_limit
from graphnas.cost.timing import Measurement, TimingConfig, TorchBackend, measure, measure_many
from graphnas.errors import ConstraintError, LatencyError
from graphnas.space.registry import space_info
from graphnas.train.samplers import ConstrainedSampler, make_sampler
from graphnas.jobs import restrict_ops

FAST = TimingConfig(warmup=1, warmup_s=0.0, runs=3, min_rounds=1, max_rounds=2, budget_s=0.05)


def synthetic(space, seed: int = 0, c0: float = 0.25, c1: float = 0.01) -> LatencyModel:
    """A model whose entries have arbitrary known latencies (no timing)."""
    rng = np.random.default_rng(seed)
    entries = {e.key: Measurement(float(rng.uniform(0.1, 2.0)), 0.0, 1, True) for e in space_entries(space)}
    return LatencyModel.for_space(space, entries, c0, c1, device={"backend": "test"}, path="synthetic")


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory, make_tiny):
    space = make_tiny()
    path = tmp_path_factory.mktemp("lat") / "tiny.db"
    model = build_latency_table(space, path, TorchBackend("cpu", 1), timing=FAST, fit_networks=4, progress=False)
    return space, path, model


# ---------------------------------------------------------------------- entries and prediction
def test_tiny_entries_are_the_distinct_operator_instances(tiny):
    entries = space_entries(tiny)
    assert len(set(entries)) == len(entries)
    kinds = Counter(e.kind for e in entries)
    assert kinds["stem"] == 1 and kinds["head"] == 1
    # nodes 2 (e1, e2), 3 (e3, e4) and 4 (e5, e6) can sum two inputs: 16 ch at 4, 4 and 2 px
    assert sorted((e.c_in, e.res) for e in entries if e.kind == "add") == [(16, 2), (16, 4)]
    ops = {(e.op, e.c_in, e.c_out, e.stride, e.res) for e in entries if e.kind == "op"}
    assert ("mbconv_k3_e3", 8, 16, 2, 8) in ops and ("identity", 8, 8, 1, 8) in ops
    assert ("avg_pool_3x3", 16, 16, 2, 4) in ops
    # e2 (0->2) and e4 (1->3) offer mbconv_k3_e1 with the same shape: one entry
    assert sum(1 for o in ops if o == ("mbconv_k3_e1", 8, 16, 2, 8)) == 1


def test_prediction_is_the_sum_of_the_archs_entries(tiny):
    model = synthetic(tiny)
    t = terms(tiny)
    ms = {k: m.ms for k, m in model.entries.items()}
    for arch in tiny.enumerate():
        live = arch.live_edges
        expected = sum(ms[e.key] for e in t.fixed)
        expected += sum(ms[e.key] for i in live for e in t.edges[i][arch.choices[i]])
        indeg = Counter(tiny.edges[i].dst for i in live)
        expected += sum((k - 1) * ms[t.adds[n][0].key] for n, k in indeg.items() if k > 1)
        assert model.latency(arch) == pytest.approx(expected + 0.25 + 0.01 * len(live))


@pytest.mark.parametrize("name", ["st_nas", "nb201", "darts", "spos_shufflenet"])
def test_batch_prediction_equals_one_by_one(name):
    space = graphnas.get_space(name, **space_info(name).cpu_scale)
    model = synthetic(space, seed=3)
    archs = [space.sample(k) for k in range(40)]
    batch = model.batch_latency(space, np.array([a.choices for a in archs]))
    np.testing.assert_allclose(batch, [model.latency(a) for a in archs], rtol=1e-12)


def test_subspace_uses_the_root_spaces_table(st_small):
    model = synthetic(st_small)
    sub = restrict_ops(st_small, ["mbconv_k3_e3_se", "identity"])
    arch = sub.sample(0)
    assert model.latency(arch) == pytest.approx(model.latency(sub.to_parent(arch)))


def test_spread_archs_cover_the_cost_range(st_small):
    archs = spread_archs(st_small, 12, rng=0)
    madds = [graphnas.arch_cost(a).madds for a in archs]
    assert len({a.hash for a in archs}) == 12 and madds == sorted(madds)
    sample = [graphnas.arch_cost(st_small.sample(k)).madds for k in range(200)]
    assert madds[0] < np.quantile(sample, 0.05) and madds[-1] > np.quantile(sample, 0.9)
    again = spread_archs(st_small, 12, rng=0, exclude=[archs[0].hash])
    assert archs[0].hash not in {a.hash for a in again}


# ---------------------------------------------------------------------- timing
def test_measure_reports_median_and_stability():
    m = measure(lambda: sum(range(200)), TimingConfig(runs=5, tol=0.5, budget_s=1.0))
    assert m.ms > 0 and m.runs >= 10 and m.spread >= 0
    slow, fast = measure_many([lambda: sum(range(20000)), lambda: None], FAST, burst=2)
    assert slow.ms > fast.ms and slow.runs == fast.runs


def test_timing_config_is_checked():
    with pytest.raises(ConstraintError, match="tolerance"):
        TimingConfig(tol=2)
    with pytest.raises(ConstraintError, match="min_rounds"):
        TimingConfig(min_rounds=3, max_rounds=2)


def test_backend_describes_the_device_and_restores_threads():
    before = torch.get_num_threads()
    backend = TorchBackend("cpu", 1)
    d = backend.describe()
    assert d["backend"] == "torch" and d["device"] == "cpu" and d["threads"] == 1 and d["cpu"]
    with backend.session():
        assert torch.get_num_threads() == 1 and torch.is_inference_mode_enabled()
    assert torch.get_num_threads() == before
    with pytest.raises(ConstraintError, match="not supported"):
        TorchBackend("mps")


# ---------------------------------------------------------------------- build, load, resume
def test_build_writes_a_complete_table(tiny_table):
    space, path, model = tiny_table
    assert set(model.entries) == {e.key for e in space_entries(space)}
    assert all(m.ms > 0 for m in model.entries.values())
    assert model.meta["complete"] and model.meta["correction"]["networks"] == 4
    assert model.meta["device"]["threads"] == 1 and model.batch == 1
    loaded = LatencyModel.load(path, space, TorchBackend("cpu", 1))
    arch = space.sample(5)
    assert loaded.latency(arch) == pytest.approx(model.latency(arch))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM networks WHERE role='fit'").fetchone()[0] == 4


def test_rebuild_of_a_complete_table_times_nothing(tiny_table, monkeypatch):
    space, path, model = tiny_table

    def no_timing(*args, **kwargs):
        raise AssertionError("timed again")

    monkeypatch.setattr(lat, "measure_many", no_timing)
    again = build_latency_table(space, path, TorchBackend("cpu", 1), timing=FAST, fit_networks=4, progress=False)
    assert again.entries == model.entries


def test_interrupted_build_resumes_where_it_stopped(tmp_path, make_tiny, monkeypatch, interrupt_after):
    space = make_tiny()
    path = tmp_path / "t.db"
    real = interrupt_after(lat, "measure_many", 1)  # killed timing the second chunk
    with pytest.raises(KeyboardInterrupt):
        build_latency_table(space, path, TorchBackend("cpu", 1), timing=FAST, fit_networks=2, progress=False,
                            chunk_size=3)
    store = LatencyStore.open(path)
    first = store.entries()
    assert len(first) == 3 and not store.meta()["complete"]
    store.close()
    with pytest.raises(LatencyError, match="incomplete"):
        LatencyModel.load(path)
    monkeypatch.setattr(lat, "measure_many", real)
    model = build_latency_table(space, path, TorchBackend("cpu", 1), timing=FAST, fit_networks=2, progress=False,
                                chunk_size=3)
    store = LatencyStore.open(path)
    assert all(store.entries()[k] == v for k, v in first.items())  # kept, not timed again
    store.close()
    assert len(model.entries) == len(space_entries(space))


def test_resume_refuses_other_settings(tiny_table):
    space, path, _ = tiny_table
    with pytest.raises(LatencyError, match="batch"):
        build_latency_table(space, path, TorchBackend("cpu", 1), batch=2, timing=FAST, progress=False)
    with pytest.raises(LatencyError, match="device"):
        build_latency_table(space, path, TorchBackend("cpu", 2), timing=FAST, progress=False)


# ---------------------------------------------------------------------- bad tables
def test_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(LatencyError, match="does not exist.*graphnas latency build"):
        LatencyModel.load(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LatencyError, match="not a readable SQLite file|not a graphnas latency table"):
        LatencyModel.load(junk)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(LatencyError, match="not a graphnas latency table"):
        LatencyModel.load(other)


def test_table_for_another_space_scale_or_device(tiny_table, st_small):
    space, path, model = tiny_table
    with pytest.raises(LatencyError, match="built for space 'tiny'"):
        LatencyModel.load(path, st_small)
    with pytest.raises(LatencyError, match="built for space"):
        model.latency(st_small.sample(0))
    with pytest.raises(LatencyError, match="another device.*threads"):
        LatencyModel.load(path, space, {**model.device, "threads": 7})


def test_missing_entry_is_named(st_small):
    sub = restrict_ops(st_small, ["mbconv_k3_e3_se", "identity"])
    model = synthetic(sub)  # entries of the subspace only
    arch = st_small.from_ops(["mbconv_k5_e6_se" if op != "none" else op for op in st_small.sample(0).ops])
    with pytest.raises(LatencyError, match="no entry for mbconv_k5_e6_se .*->.* stride"):
        model.latency(arch)


# ---------------------------------------------------------------------- limits and samplers
def test_latency_limits(st_small):
    model = synthetic(st_small)
    with pytest.raises(ConstraintError, match="needs a latency table"):
        make_limit("latency", "17ms")
    with pytest.raises(ConstraintError, match="no unit; write 17ms"):
        make_limit("latency", "17", model)
    with pytest.raises(ConstraintError, match="unknown limit metric 'flops'"):
        make_limit("flops", "3M")
    values = [model.latency(st_small.sample(k)) for k in range(50)]
    bound = float(np.median(values))
    limit = make_limit("latency", f"{bound}ms", model)
    sampler = ConstrainedSampler(st_small, [limit])
    rng = np.random.default_rng(0)
    assert all(model.latency(sampler(rng)) <= bound for _ in range(10))


def test_constrained_sampler_by_name_loads_the_table(tiny_table):
    space, path, model = tiny_table
    values = sorted(model.latency(a) for a in space.enumerate())
    sampler = make_sampler("constrained", space, latency=f"{values[len(values) // 2]}ms", latency_table=str(path))
    rng = np.random.default_rng(1)
    assert all(model.latency(sampler(rng)) <= values[len(values) // 2] for _ in range(10))
    with pytest.raises(graphnas.GraphnasError, match="latency_table"):
        make_sampler("constrained", space, latency="3ms")


# ---------------------------------------------------------------------- validation
def test_validate_reports_and_reuses_timed_networks(tiny_table, monkeypatch, tmp_path):
    space, path, model = tiny_table
    v = validate(model, space, TorchBackend("cpu", 1), n=5, timing=FAST, progress=False, store_path=path)
    s = v.summary()
    assert s["networks"] == 5 and 0 <= s["within_10pct"] <= 1 and -1 <= s["kendall_tau"] <= 1
    assert v.drift > 0 and np.allclose(v.raw_measured, v.measured * v.drift)
    fit = {h for h, *_ in LatencyStore.open(path).networks("fit")}
    assert not fit & set(v.hashes)

    def no_timing(*args, **kwargs):
        raise AssertionError("timed again")

    monkeypatch.setattr(lat, "measure_networks", no_timing)
    again = validate(model, space, TorchBackend("cpu", 1), n=5, timing=FAST, progress=False, store_path=path)
    np.testing.assert_allclose(again.measured, v.measured)
    picture = lat.plot_validation(v, tmp_path / "scatter.png")
    assert picture.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(LatencyError, match="another device"):
        validate(model, space, TorchBackend("cpu", 2), n=2, timing=FAST, progress=False)


# ---------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def nb201_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "nb.db"
    assert main(["latency", "build", "nb201", "--cpu-scale", "--threads", "1", "--out", str(path),
                 "--fit-networks", "3", "--budget", "0.05", "--tolerance", "0.5", "--quiet"]) == 0
    return path


def test_cli_build_predict_validate(nb201_table, capsys, tmp_path):
    capsys.readouterr()
    assert main(["latency", "predict", "--table", str(nb201_table), "--random", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["latency_ms"] > 0 and out["batch"] == 1 and out["device"]["threads"] == 1
    arch = tmp_path / "a.json"
    space = graphnas.get_space("nb201", **space_info("nb201").cpu_scale)
    arch.write_text(space.sample(3).to_json())
    assert main(["latency", "predict", "--table", str(nb201_table), "--arch", str(arch)]) == 0
    assert f"{out['latency_ms']:.3f} ms predicted" in capsys.readouterr().out
    assert main(["latency", "validate", "--table", str(nb201_table), "--archs", "3", "--tolerance", "0.5",
                 "--quiet", "--plot", str(tmp_path / "v.png")]) == 0
    text = capsys.readouterr().out
    assert "3 networks" in text and "Kendall tau" in text and (tmp_path / "v.png").is_file()


def test_cli_errors_are_one_line(nb201_table, capsys, tmp_path):
    assert main(["latency", "predict", "--table", str(tmp_path / "none.db"), "--random"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not exist" in err
    assert main(["latency", "predict", "--table", str(nb201_table), "--random", "--threads", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "another device" in err and "--any-device" in err
    assert main(["latency", "predict", "--table", str(nb201_table), "--random", "--threads", "2",
                 "--any-device"]) == 0
    assert main(["run", "--latency", "17", "--out", str(tmp_path / "run")]) == 2
    assert "no unit; write 17ms" in capsys.readouterr().err


def test_a_subspace_table_serves_its_archs_and_names_what_it_lacks(st_small):
    sub = restrict_ops(st_small, ["mbconv_k3_e3_se", "identity"])
    model = synthetic(sub)
    inside = sub.to_parent(sub.sample(2))  # an arch of the full space using only covered operators
    assert model.latency(inside) == pytest.approx(model.latency(sub.sample(2)))
    archs = [st_small.sample(k) for k in range(5)]
    with pytest.raises(LatencyError, match="no entry for"):
        model.batch_latency(st_small, np.array([a.choices for a in archs]))


@pytest.mark.parametrize("argv, message", [
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/b.db", "--batch", "0"],
     "batch size must be at least 1"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/t.db", "--threads", "0"], "threads must be between"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/k.db", "--backend", "tflite"],
     "unknown timing backend 'tflite'"),
    (["latency", "build", "nb201", "--cpu-scale", "--out", "{tmp}/d.db", "--device", "tpu"], "not supported"),
    (["latency", "validate", "--table", "{tmp}/none.db"], "does not exist"),
    (["run", "--latency", "5ms", "--latency-table", "{tmp}/none.db", "--out", "{tmp}/run"], "does not exist"),
])
def test_cli_bad_latency_input_is_one_line(argv, message, tmp_path, capsys):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
