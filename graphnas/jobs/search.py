"""The job's search stage: limits, the estimator, the strategy, the best architecture's files, the lookup table.

    trained supernet -> estimator (graphnas search/run --estimator) -> strategy under MAdds/params/latency
                     -> best architecture: test accuracy, JSON, SVG/PNG
                     -> <out>/lookup.db around it (GCN-NAS), answering later limits without a new search
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from ..cost.limits import METRICS, Limit, bound_range, bound_value, make_limit
from ..errors import GraphnasError
from ..estimate.score import accuracy, recalibrate_bn
from ..search import STRATEGIES
from ..search.history import SearchHistory
from ..search.toolbox import parse_objectives
from ..train import distributed as dist
from ..utils import atomic_write_json, atomic_write_text
from .config import JobConfig

__all__ = ["check_limits", "latency_model", "job_limits", "example_latency", "strategy_options", "search_stage",
           "pcnas_from_checkpoint", "senas_from_checkpoint", "HISTORY"]

#: The search's evaluations under the job's output folder (what ``--resume`` continues).
HISTORY = "search_history.json"


def check_limits(config: JobConfig) -> None:
    """Parse every limit before any work, so a typo fails in a second, not after training."""
    for metric in METRICS:
        value = getattr(config.search, metric)
        if value is not None:  # None: no limit; 0, "" or "1e309M" are refused, never "no limit"
            bound_range(metric, value)
    s = config.search
    if s.levels is not None:
        _levels(config, _objectives(config)[1])


def needs_latency(config: JobConfig) -> bool:
    s = config.search
    return bool(s.latency or s.latency_table or s.lookup) or "latency" in _objectives(config)


def _objectives(config: JobConfig) -> tuple[str, ...]:
    """What the job's search trades off: ``--objectives`` for nsga2; accuracy and MAdds (the front every result
    reports) for the other strategies."""
    return parse_objectives(config.search.objectives) if config.search.strategy == "nsga2" else ("accuracy", "madds")


def latency_model(config: JobConfig, space, progress: bool = True):
    """The latency model of the job's space on this machine's CPU: ``latency_table`` when given (checked
    against the space and this device), else ``<out>/latency.db``, built (or resumed) here."""
    from ..cost.latency import LatencyModel, build_latency_table
    from ..cost.timing import TorchBackend

    backend = TorchBackend("cpu", torch.get_num_threads())
    if config.search.latency_table:
        return LatencyModel.load(config.search.latency_table, space, backend)
    path = Path(config.out) / "latency.db"
    if path.exists():
        try:
            return LatencyModel.load(path, space, backend)
        except GraphnasError:
            pass  # incomplete: resume below; foreign: build_latency_table says so
    return build_latency_table(space, path, backend, progress=progress)


def job_limits(config: JobConfig, latency=None, space=None) -> list[Limit]:
    """The job's limits; with ``space``, a limit no architecture of it meets (``--madds 1K``) fails here, before
    training, naming the smallest value (:class:`graphnas.train.samplers.ConstrainedSampler`'s check)."""
    limits = [make_limit(metric, getattr(config.search, metric), latency) for metric in METRICS
              if getattr(config.search, metric) is not None]
    if space is not None and limits:
        from ..train.samplers import ConstrainedSampler

        ConstrainedSampler(space, limits)
    return limits


def example_latency(latencies) -> float:
    """A latency limit that bites in a table: the median latency, rounded up to two significant digits (ms)."""
    median = float(np.median(latencies))
    step = 10 ** (math.floor(math.log10(median)) - 1) if median > 0 else 1.0
    return round(math.ceil(median / step) * step, 12)


def _lookup_table(config: JobConfig, space, estimator, best, latency, ckpt: Path) -> dict:
    """Build ``<out>/lookup.db`` around ``best`` (see :mod:`graphnas.lookup.subspace`) and query it once."""
    from ..lookup.plot import plot_table
    from ..lookup.subspace import build_from_estimator

    path = Path(config.out) / "lookup.db"
    if path.exists():  # labels are scored again anyway; an old table may describe other weights
        path.unlink()
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]
    s = config.search
    table, info = build_from_estimator(path, space, estimator, best, labels=s.lookup_labels,
                                       max_nodes=s.lookup_rows, latency_model=latency, rng=config.seed,
                                       meta={"supernet": digest + (f" {s.estimator}" if s.estimator !=
                                                                   "single_checkpoint" else "")},
                                       order=s.lookup_order, progress=not config.quiet)
    with table:
        lat = table.column("latency")
        limit = f"{example_latency(lat):g}ms"
        answer = table.best(latency=limit)
        picture = plot_table(table, path.with_suffix(".png"), "latency", mark=answer.index,
                             title=f"lookup table of {table.meta['space']} (example: best under {limit})")
        return {"table": str(path), "picture": str(picture), "rows": len(table), "order": table.meta["order"], **info,
                "latency_ms": [float(lat.min()), float(lat.max())],
                "example": {"latency": limit, "best": answer.to_dict(),
                            "command": f"python tools/lookup.py --table {path} --latency {limit}"}}


def strategy_options(config: JobConfig, latency=None) -> dict:
    """The keyword arguments of the job's strategy. The job's schedule is laptop-scale (population 20, 10
    generations: 200 evaluations, as its training is 30 epochs); ``--population 50 --generations 20`` is SPOS's,
    ``--population 45 --generations 22`` ST-NAS's (the library functions' defaults)."""
    s = config.search
    options = {"budget": s.budget or s.population * s.generations}
    if s.strategy in ("evolution", "nsga2", "senas"):  # SE-NAS searches its shrunk space by evolution
        options.update(population=s.population, generations=s.generations, mutation_prob=s.mutation_prob)
        if s.crossover is not None:
            options.update(crossover=s.crossover)
    if s.strategy == "random":
        options.update(population=s.population)
    if s.strategy == "nsga2":
        options.update(objectives=s.objectives, latency=latency)
    if s.strategy == "gcn":
        options.update(top_k=s.top_k, select=s.select)
        if s.segments is not None:
            options.update(segments=[int(p) for p in str(s.segments).split(",")])
    return options


def _levels(config: JobConfig, cost: str):
    if config.search.levels is None:
        return None
    return [bound_value(cost, v.strip()) for v in config.search.levels.split(",")]


def _front_files(config: JobConfig, result, space) -> dict:
    """``<out>/front.json`` (the front over the objectives and the top-2 picks per cost level) and
    ``<out>/front.png`` (every evaluated point, the front highlighted)."""
    from ..search.plot import plot_front

    out = Path(config.out)
    picks = result.picks(_levels(config, result.objectives[1]))
    doc = {"space": space.name, "strategy": result.strategy, "objectives": list(result.objectives),
           "constraints": [repr(c) for c in result.constraints], "evaluations": len(result.history),
           "front": [r.to_dict() for r in result.front()],
           "picks": [{**p, "records": [r.to_dict() for r in p["records"]]} for p in picks]}
    atomic_write_json(out / "front.json", doc)
    picture = plot_front(result, out / "front.png", title=f"{result.strategy} on {space.name}")
    return {"json": str(out / "front.json"), "picture": str(picture), "picks": doc["picks"]}


def pcnas_from_checkpoint(trained, space, data, limits, progress: bool = True):
    """The PC-NAS sampler of a finished ``--strategy pcnas`` training checkpoint (its options read from it, its
    pool checked): what ``graphnas search --strategy pcnas`` ranks."""
    from ..errors import CheckpointError
    from ..search.pcnas import PCNAS

    state = trained.sampler_state
    options = state.get("options") if isinstance(state, dict) else None
    if not isinstance(options, dict) or options.get("kind") != "pcnas":
        raise CheckpointError(f"checkpoint {trained.path} was not trained by PC-NAS (it holds no pool); search it "
                              f"with another --strategy, or train with --strategy pcnas")
    pc = PCNAS(space, data.val, limits, progress=progress,
               **{k: options.get(k) for k in ("pool", "samples", "warmup", "interval", "batch_size", "bn", "seed")})
    pc.check_state(state, trained.path)
    pc.load_state_dict(state)
    return pc


def _not_senas(path) -> GraphnasError:
    from ..errors import CheckpointError

    return CheckpointError(f"checkpoint {path} was not trained by SE-NAS (it holds no SE-NAS stages); search it with "
                           f"another --strategy, or train with --strategy senas")


def senas_checkpoint_kind(path) -> None:
    """Refuse a checkpoint that SE-NAS did not train (``graphnas search --strategy senas``), before its weights
    are read (a uniform checkpoint has no averaged weights either, which would be the wrong line to read)."""
    from ..search.senas_stages import is_senas_state
    from ..train.checkpoint import read_sampler_state

    if not is_senas_state(read_sampler_state(path)):
        raise _not_senas(path)


def senas_from_checkpoint(trained, supernet, space, data, config: JobConfig):
    """The SE-NAS state of a finished ``--strategy senas`` checkpoint, checked, with ``supernet`` expanded as it
    says (so the weights load); ``None`` for another strategy's checkpoint, which ``--strategy senas`` refuses."""
    from ..errors import CheckpointError
    from ..search.senas_stages import JOB_OPTIONS, SENAS, is_senas_state

    trained.check_model(supernet)  # another space or scale: that line, before the state is read against it
    state = trained.sampler_state
    if not is_senas_state(state):
        if config.search.strategy == "senas":
            raise _not_senas(trained.path)
        return None
    options = state["options"]
    try:
        senas = SENAS(space, data.val, **{k: options.get(k) for k in JOB_OPTIONS}, seed=options.get("seed"),
                      evaluator=lambda *_: None, progress=not config.quiet)
    except GraphnasError as err:
        raise CheckpointError(f"checkpoint {trained.path} holds SE-NAS options that do not fit ({err}); pass the "
                              f"checkpoint.pt a `graphnas train --strategy senas` wrote") from None
    senas.check_state(state, trained.path, options=False)
    senas.load_state_dict(state)
    if senas.stage != senas.stages:
        raise CheckpointError(f"checkpoint {trained.path} is of SE-NAS stage {senas.stage} of {senas.stages}; "
                              f"finish training first with `graphnas train --strategy senas --resume`")
    if senas.groups:
        supernet.expand(senas.groups, senas.space)
    return senas


def _senas_files(config: JobConfig, senas, supernet) -> dict:
    """``<out>/senas.png`` (the operators left after each stage, the merged groups) and the stages' record."""
    from ..search.plot import plot_stages

    picture = plot_stages(senas.log, senas.root, Path(config.out) / "senas.png")
    return {"pictures": [str(picture)], "space": senas.space.describe(), "options": senas.describe(),
            "parameters": supernet.parameter_counts(),
            "stages": [{k: v for k, v in e.items() if k != "history"} for e in senas.log]}


def _pcnas_files(config: JobConfig, pcnas, result, space) -> dict:
    """``<out>/pcnas.png`` (the potentials of every boundary) and the pool's architectures drawn."""
    from ..render.dag import render
    from ..search.plot import plot_potentials

    out = Path(config.out)
    pictures = [str(plot_potentials(pcnas.log, space, out / "pcnas.png"))]
    for k, record in enumerate(result.history):
        pictures += [str(p) for p in render(record.arch, out / f"pcnas_pool_{k + 1}", formats=("svg",))]
    return {"pictures": pictures, "validation_images": pcnas.images, "options": pcnas.describe(),
            "ranking": [{"hash": r.arch.hash, "ops": list(r.arch.ops), "potential": r.score} for r in result.history]}


def search_stage(config: JobConfig, space, data, supernet, estimator, weights, limits, latency, ckpt: Path,
                 timings: dict, pcnas=None, senas=None) -> dict:
    """Search, score the best on test data, write its JSON and pictures and the lookup table; the report's
    search part (``search``, ``best``, ``lookup``, ``files``). The test accuracy is the best path's with
    ``weights`` (what the estimator started from), BN recalibrated. With ``senas`` (an SE-NAS run), ``space`` is
    its shrunk space (the search's records and the lookup table are of it) and the report gets its stages and
    picture; the best architecture (``best``, ``best_arch.json``) is given in the job's space."""
    import time

    from ..render.dag import render  # graphviz only where a picture is drawn

    s, out = config.search, Path(config.out)
    t0 = time.perf_counter()
    if pcnas is not None:  # PC-NAS searched while training: its pool, ranked by potential on the final weights
        supernet.load_state_dict(weights)
        result = pcnas.result(supernet)
        timings["scores_from_history"] = 0
    else:
        history = SearchHistory(estimator, space, out / HISTORY, resume=bool(config.resume),
                                meta={"supernet": hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16],
                                      "estimator": s.estimator, "options": s.estimator_options,
                                      "recal_samples": s.recal_samples})
        strategy = "evolution" if s.strategy == "senas" else s.strategy
        result = STRATEGIES[strategy](space, history, limits, rng=config.seed, progress=not config.quiet,
                                      **strategy_options(config, latency))
        timings["scores_from_history"] = history.served
    timings["search_seconds"] = time.perf_counter() - t0
    if not dist.is_main():  # under torchrun every rank searches (scoring is sharded); rank 0 writes
        return None
    best = result.best
    front = _front_files(config, result, space)
    extra = _pcnas_files(config, pcnas, result, space) if pcnas is not None else None
    extra_senas = _senas_files(config, senas, supernet) if senas is not None else None
    supernet.load_state_dict(weights)
    recalibrate_bn(supernet, data.train, best.arch, s.recal_samples)
    test_acc = accuracy(supernet, data.test, best.arch)
    # the answer in the job's space (SE-NAS searched a subspace of it), so best_arch.json loads where the job's does
    answer = senas.root.from_ops(best.arch.ops) if senas is not None else best.arch
    atomic_write_text(out / "best_arch.json", answer.to_json() + "\n")
    pictures = [str(p) for p in render(answer, out / "best_arch")]
    lookup = None
    if s.lookup:
        t0 = time.perf_counter()
        lookup = _lookup_table(config, space, estimator, best.arch, latency, ckpt)
        timings["lookup_seconds"] = time.perf_counter() - t0
    for part in (extra, extra_senas):
        if part is not None:
            pictures += part["pictures"]
    return {
        "search": {**{k: v for k, v in result.to_dict().items() if k != "history"}, "picks": front["picks"],
                   **({"pcnas": {k: v for k, v in extra.items() if k != "pictures"}} if extra else {}),
                   **({"senas": {k: v for k, v in extra_senas.items() if k != "pictures"}} if extra_senas else {})},
        "best": {"hash": answer.hash, "ops": list(answer.ops), "choices": list(answer.choices),
                 "val_accuracy": best.score, "test_accuracy": test_acc, "madds": best.costs["madds"],
                 "params": best.costs["params"],
                 "latency_ms": latency.latency(best.arch) if latency is not None else None},
        "lookup": lookup,
        "files": {"architecture": str(out / "best_arch.json"), "pictures": pictures + [front["picture"]],
                  "front": front["json"], "history": str(out / HISTORY), "supernet": str(ckpt),
                  **({"lookup": lookup["table"], "lookup_picture": lookup["picture"]} if lookup else {})},
    }
