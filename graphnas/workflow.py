"""The end-to-end one-shot job: data -> supernet training -> constrained search -> report and picture.

:func:`run` is what ``graphnas run`` (and the README's quick start) executes::

    data set  ->  space at the data's scale  ->  Supernet trained with uniform single paths
              ->  evolution (or random) search under MAdds/parameter/latency limits, scoring paths
                  on validation data after BN recalibration (a latency limit uses the measured model
                  of this machine: ``latency_table``, or ``<out>/latency.db`` built here)
              ->  best architecture: test accuracy under shared weights, MAdds, JSON, SVG/PNG
              ->  lookup table of the subspace around it (GCN-NAS): ``lookup_labels`` paths scored with
                  the supernet, a GCN predicting the rest, MAdds, parameters and latency measured on
                  this machine, so ``tools/lookup.py --table <out>/lookup.db --latency ...`` answers
                  any later limit without searching again (:mod:`graphnas.lookup.subspace`)

Everything is written under ``out``: ``report.json``, ``best_arch.json``, ``best_arch.svg``/``.png``,
``supernet.pt`` (tensors only; reloaded with ``weights_only=True`` when ``resume`` is set),
``latency.db`` (the measured latency table), ``lookup.db`` and ``lookup.png`` (its accuracy against latency,
with the table's answer under every limit).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .checkpoint import load_weights, read_trained, save_weights
from .checks import INT64_MAX, MAX_LOOKUP_ROWS, MAX_RESOLUTION, check_int
from .cost.limits import Limit, bound_value, make_limit
from .data import load_dataset
from .errors import GraphnasError
from .estimate import SupernetEvaluator, accuracy, recalibrate_bn
from .registry import get_space, space_info
from .samplers import UniformSampler
from .search import STRATEGIES
from .supernet import Supernet
from .train import TrainConfig, train
from .files import output_lock
from .utils import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = ["RunConfig", "run", "run_space", "save_weights", "load_weights", "restrict_ops"]

#: Resolution of the job when neither the config nor the space's ``CPU_SCALE`` gives one.
FALLBACK_RESOLUTION = 16


@dataclass
class RunConfig:
    """Options of :func:`run` (the CLI flags of ``graphnas run`` map one to one).

    The space is built at its laptop scale (``CPU_SCALE`` of its module, see
    :func:`graphnas.registry.space_info`) updated with ``scale``, at the data's resolution, channels
    and classes. ``resolution`` defaults to the CPU scale's. ``ops=None`` keeps the operators the
    space's ``CPU_OPS`` names (all of them if it names none); ``ops=["all"]`` keeps all.
    """

    space: str = "st_nas"
    scale: dict = field(default_factory=dict)
    data: str = "digits"
    data_root: str | None = None
    resolution: int | None = None
    bad_images: str = "stop"
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=32, lr=0.05,
                                                                   momentum=0.9, nesterov=True))
    ops: list | None = None
    strategy: str = "evolution"
    budget: int = 100
    population: int = 16
    madds: str | None = None
    params: str | None = None
    latency: str | None = None
    latency_table: str | None = None
    recal_samples: int = 256
    checkpoint: str | None = None
    averaged: bool = False
    lookup: bool = True
    lookup_labels: int = 200
    lookup_rows: int = 20_000
    out: str = "runs/demo"
    seed: int = 0
    resume: bool = False
    progress: bool = True


def restrict_ops(space, ops) -> "SearchSpace":
    """The subspace of ``space`` keeping only operators in ``ops`` (and ``none``) on every edge.

    An edge left with no operator keeps its original candidates, so the subspace stays connected.
    """
    from .ops.registry import NONE, get_op

    for op in ops:
        get_op(op)  # unknown names fail here with the list of valid ones
    wanted = set(ops) | {NONE}
    allowed = {}
    for i, e in enumerate(space.edges):
        kept = [op for op in e.candidates if op in wanted]
        if any(op != NONE for op in kept):
            allowed[i] = kept
    if not allowed:
        raise GraphnasError(f"none of the operators {', '.join(ops)} is a candidate in space '{space.name}'")
    return space.subspace(allowed=allowed, name=f"{space.name}/ops")


def run_space(name: str, data, scale: dict, ops=None) -> "SearchSpace":
    """Space ``name`` at ``scale`` for data set ``data`` (its resolution, channels and classes).

    ``ops=None`` keeps the space's ``CPU_OPS`` (all operators if it has none); ``["all"]`` keeps all.
    """
    c, h, _ = data.input_shape
    space = get_space(name, **{**scale, "resolution": h, "in_channels": c, "num_classes": data.num_classes})
    if ops is None:
        ops = space_info(name).cpu_ops
    if ops and list(ops) != ["all"]:
        space = restrict_ops(space, ops)
    return space


def _check_limits(config: RunConfig) -> None:
    """Check every option and parse every limit before any work, so a typo fails in a second, not after
    training (the command line refuses the same values while parsing its flags, :mod:`graphnas.checks`)."""
    for metric in ("madds", "params", "latency"):
        if getattr(config, metric) is not None:  # None: no limit; 0, "" or "1e309M" are refused, never "no limit"
            bound_value(metric, getattr(config, metric))
    check_int("budget", config.budget, 1)
    check_int("population", config.population, 1)
    check_int("seed", config.seed, 0)
    check_int("recal_samples", config.recal_samples, 1)
    if config.resolution is not None:  # 0 is not "the default": None is
        check_int("resolution", config.resolution, 4, MAX_RESOLUTION)
    config.train.validate()
    if config.lookup:
        labels = check_int("lookup_labels", config.lookup_labels, -INT64_MAX, MAX_LOOKUP_ROWS)
        rows = check_int("lookup_rows", config.lookup_rows, -INT64_MAX, MAX_LOOKUP_ROWS)
        if labels < 8 or rows < 2:
            raise GraphnasError(f"lookup_labels={labels} and lookup_rows={rows} are too small; give at least 8 "
                                f"labels and 2 rows (or no lookup table)")


def latency_model(config: RunConfig, space: "SearchSpace", progress: bool = True):
    """The latency model of the job's space on this machine's CPU: ``config.latency_table`` when given
    (checked against the space and this device), else ``<out>/latency.db``, built (or resumed) here."""
    from .cost.latency import LatencyModel, build_latency_table
    from .cost.timing import TorchBackend

    backend = TorchBackend("cpu", torch.get_num_threads())
    if config.latency_table:
        return LatencyModel.load(config.latency_table, space, backend)
    path = Path(config.out) / "latency.db"
    if path.exists():
        try:
            return LatencyModel.load(path, space, backend)
        except GraphnasError:
            pass  # incomplete: resume below; foreign: build_latency_table says so
    return build_latency_table(space, path, backend, progress=progress)


def _limits(config: RunConfig, latency=None, space=None) -> list[Limit]:
    """The job's limits; with ``space``, a limit no architecture of it meets (``--madds 1K``) fails here, before
    training, naming the smallest value (:class:`graphnas.samplers.ConstrainedSampler`'s check)."""
    limits = [make_limit(metric, value, latency) for metric, value in
              (("madds", config.madds), ("params", config.params), ("latency", config.latency)) if value is not None]
    if space is not None and limits:
        from .samplers import ConstrainedSampler

        ConstrainedSampler(space, limits)
    return limits


def example_latency(latencies) -> float:
    """A latency limit that bites in a table: the median latency, rounded up to two significant digits (ms)."""
    median = float(np.median(latencies))
    step = 10 ** (math.floor(math.log10(median)) - 1) if median > 0 else 1.0
    return round(math.ceil(median / step) * step, 12)


def _lookup_table(config: RunConfig, space, evaluator, best, latency, ckpt: Path) -> dict:
    """Build ``<out>/lookup.db`` around ``best`` (see :mod:`graphnas.lookup.subspace`) and query it once."""
    from .lookup.subspace import build_from_estimator

    path = Path(config.out) / "lookup.db"
    if path.exists():  # labels are scored again anyway; an old table may describe other weights
        path.unlink()
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]
    table, info = build_from_estimator(path, space, evaluator, best, labels=config.lookup_labels,
                                       max_nodes=config.lookup_rows, latency_model=latency, rng=config.seed,
                                       meta={"supernet": digest + (" averaged" if config.averaged else "")},
                                       progress=config.progress)
    from .lookup.plot import plot_table

    with table:
        lat = table.column("latency")
        limit = f"{example_latency(lat):g}ms"
        answer = table.best(latency=limit)
        picture = plot_table(table, path.with_suffix(".png"), "latency", mark=answer.index,
                             title=f"lookup table of {table.meta['space']} (example: best under {limit})")
        return {"table": str(path), "picture": str(picture), "rows": len(table), **info,
                "latency_ms": [float(lat.min()), float(lat.max())],
                "example": {"latency": limit, "best": answer.to_dict(),
                            "command": f"python tools/lookup.py --table {path} --latency {limit}"}}


def run(config: RunConfig) -> dict:
    """Run the whole job; returns the report (also written to ``<out>/report.json``).

    The output folder is checked for writing and locked before any work: a second job on the same
    ``out`` fails at once naming the first (:func:`graphnas.files.output_lock`).
    """
    if config.strategy not in STRATEGIES:
        raise GraphnasError(f"unknown strategy '{config.strategy}'; choose one of {', '.join(STRATEGIES)}")
    _check_limits(config)
    with output_lock(config.out, "output folder", folder=True):
        return _run(config)


def _run(config: RunConfig) -> dict:
    start = time.perf_counter()
    out = Path(config.out)
    info = space_info(config.space)
    scale = {**info.cpu_scale, **config.scale}
    resolution = config.resolution or scale.pop("resolution", FALLBACK_RESOLUTION)
    scale.pop("resolution", None)
    trained = read_trained(config.checkpoint, config.averaged) if config.checkpoint else None
    data = load_dataset(config.data, root=config.data_root, resolution=resolution,
                        seed=trained.seed if trained else config.seed, bad_images=config.bad_images)
    space = run_space(config.space, data, scale, config.ops)
    torch.manual_seed(config.seed)
    supernet = Supernet(space)
    if trained is not None:  # before any other work: weights of another space fail in seconds
        trained.load_into(supernet)
    meta = {"space": space.name, "fingerprint": space.fingerprint, "scale": {k: v for k, v in space.scale.items()},
            "data": config.data, "train": config.train.to_dict()}
    ckpt = out / "supernet.pt"
    timings = {}
    latency = None
    if config.latency or config.latency_table or config.lookup:  # before training: a bad table fails in seconds
        t0 = time.perf_counter()
        latency = latency_model(config, space, config.progress)
        timings["latency_table_seconds"] = time.perf_counter() - t0
    limits = _limits(config, latency, space)
    t0 = time.perf_counter()
    if trained is not None:
        history, ckpt = trained.history, trained.path
    elif config.resume and ckpt.exists():
        load_weights(supernet, ckpt, meta)
        history = [{"resumed_from": str(ckpt)}]
    else:
        history = train(supernet, data.train, config.train, sampler=UniformSampler(space),
                        progress=config.progress, desc="supernet")
        save_weights(supernet, ckpt, meta)
    timings["train_seconds"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    evaluator = SupernetEvaluator(supernet, data.val, data.train, recal_samples=config.recal_samples)
    strategy = STRATEGIES[config.strategy]
    options = {"population": config.population} if config.strategy == "evolution" else {}
    result = strategy(space, evaluator, limits, budget=config.budget, rng=config.seed,
                      progress=config.progress, **options)
    timings["search_seconds"] = time.perf_counter() - t0

    best = result.best
    recalibrate_bn(supernet, data.train, best.arch, config.recal_samples)
    test_acc = accuracy(supernet, data.test, best.arch)
    atomic_write_text(out / "best_arch.json", best.arch.to_json() + "\n")
    from .render import render  # graphviz only where a picture is drawn

    pictures = [str(p) for p in render(best.arch, out / "best_arch")]
    lookup = None
    if config.lookup:
        t0 = time.perf_counter()
        lookup = _lookup_table(config, space, evaluator, best.arch, latency, ckpt)
        timings["lookup_seconds"] = time.perf_counter() - t0
    timings["total_seconds"] = time.perf_counter() - start
    report = {
        "config": {**asdict(config), "train": config.train.to_dict()},
        "space": space.describe(),
        "data": {"name": data.name, "train": len(data.train), "val": len(data.val), "test": len(data.test),
                 "input_shape": list(data.input_shape), "num_classes": data.num_classes},
        "supernet": {"parameters": sum(p.numel() for p in supernet.parameters()), "history": history},
        "search": {k: v for k, v in result.to_dict().items() if k != "history"},
        "best": {"hash": best.arch.hash, "ops": list(best.arch.ops), "choices": list(best.arch.choices),
                 "val_accuracy": best.score, "test_accuracy": test_acc, "madds": best.costs["madds"],
                 "params": best.costs["params"],
                 "latency_ms": latency.latency(best.arch) if latency is not None else None},
        "latency": ({"table": latency.path, "device": latency.device, "batch": latency.batch,
                     "correction": latency.meta.get("correction")} if latency is not None else None),
        "lookup": lookup,
        "files": {"architecture": str(out / "best_arch.json"), "pictures": pictures, "supernet": str(ckpt),
                  **({"lookup": lookup["table"], "lookup_picture": lookup["picture"]} if lookup else {})},
        "timings": timings,
    }
    atomic_write_json(out / "report.json", report)
    return report
