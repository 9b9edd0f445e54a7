"""The one job behind ``graphnas run``, ``graphnas train`` and ``graphnas search``.

    JobConfig -> resolve (space's paper training settings) -> lock <out>, write <out>/job.json
              -> data and space (:mod:`.setup`)
              -> supernet: trained (:mod:`.training`, exact --resume) or read from --checkpoint
              -> search (:mod:`.search`): estimator, strategy under limits, best architecture, lookup table
              -> <out>/report.json, <out>/report.html (the run's page: :mod:`.html_report`)

:func:`train` stops after training; :func:`run` goes on to search, and searches ``config.search.checkpoint``
instead of training when it is given (``graphnas search``). Everything is written under ``config.out``:
``job.json`` (the resolved config), ``checkpoint.pt`` and ``train_log.json`` (training), ``report.json``,
``best_arch.json``, ``best_arch.svg``/``.png``, ``latency.db`` (the measured latency table), ``lookup.db``,
``lookup.png`` and ``report.html``.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..estimate.estimators import check_step
from ..train import distributed as dist
from ..train.checkpoint import read_trained
from ..files import output_lock
from ..nets.supernet import Supernet
from ..train.loop import CHECKPOINT, TrainResult
from ..utils import atomic_write_json
from .config import TRAINED_BY, JobConfig, resolve
from .estimator import job_estimator
from .search import (check_limits, job_limits, latency_model, needs_latency, pcnas_from_checkpoint, search_stage,
                     senas_checkpoint_kind, senas_from_checkpoint)
from .setup import load_setup
from .training import job_sampler, pick_device, train_supernet

__all__ = ["run", "train"]


def _locked(config: JobConfig, what: str, work):
    """``work()`` with ``config.out`` locked (rank 0 only under torchrun: it alone writes)."""
    if dist.launched_rank() != 0:
        return work()
    with output_lock(config.out, what, folder=True):
        return work()


def _write_config(config: JobConfig) -> None:
    """``<out>/job.json``: the resolved config, written once every check passed (a refused job writes nothing)."""
    if dist.launched_rank() == 0:
        atomic_write_json(Path(config.out) / "job.json", config.to_dict())


def _measured_latency(config: JobConfig, space, timings: dict):
    """The job's latency model, measured (or read) by rank 0 before training, so a bad table fails in seconds;
    ``None`` on the other ranks and when the job needs none."""
    if not (needs_latency(config) and dist.launched_rank() == 0):
        return None
    t0 = time.perf_counter()
    latency = latency_model(config, space, not config.quiet)
    timings["latency_table_seconds"] = time.perf_counter() - t0
    return latency


def _limits_for_training(config: JobConfig, space, device, timings: dict) -> tuple:
    """``(latency model, limits)`` on every rank before training (PC-NAS scores completions within them during
    training): rank 0 measures the latency table while the others wait, then they read it."""
    latency = _measured_latency(config, space, timings)
    dist.init(device)
    dist.barrier()
    if needs_latency(config) and latency is None:
        latency = latency_model(config, space, progress=False)
    return latency, job_limits(config, latency, space)


def train(config: JobConfig) -> tuple[Supernet, TrainResult]:
    """Train the supernet only; returns it and :func:`graphnas.train.loop.fit`'s result."""
    config = resolve(config)
    device = pick_device(config.training.device)

    if config.search.strategy in TRAINED_BY:  # PC-NAS's potentials, SE-NAS's scores respect the limits
        check_limits(config)

    def work():
        data, space = load_setup(config.setup, config.seed)
        sampler = None
        if config.search.strategy in TRAINED_BY:
            _, limits = _limits_for_training(config, space, device, {})
            sampler = job_sampler(config, space, data, limits)
        _write_config(config)
        return train_supernet(config, data, space, device, sampler)

    return _locked(config, "training folder", work)


def run(config: JobConfig) -> dict | None:
    """Train (or read ``config.search.checkpoint``), search, report; returns the report (also written to
    ``<out>/report.json``), or ``None`` on the ranks other than 0 under torchrun, which train and search with
    rank 0 (the search's scoring is sharded over the ranks) but write nothing.

    Every option and limit is checked, and the output folder locked, before any work: a second job on the same
    ``out`` fails at once naming the first (:func:`graphnas.files.output_lock`).
    """
    config = resolve(config)
    check_limits(config)
    if not config.search.checkpoint:  # SGLD or fine-tuning without a step: refused before training, not after
        check_step(config.search.estimator, config.train_config(), config.search.estimator_options)
    device = pick_device(config.training.device)
    return _locked(config, "output folder", lambda: _run(config, device))


def _run(config: JobConfig, device) -> dict | None:
    start = time.perf_counter()
    s = config.search
    if s.checkpoint and s.strategy == "senas":  # before its weights are read: the wrong kind of file says so
        senas_checkpoint_kind(s.checkpoint)
    trained = read_trained(s.checkpoint, s.estimator == "weight_averaging") if s.checkpoint else None
    data, space = load_setup(config.setup, trained.seed if trained else config.seed)
    timings, latency, senas = {}, None, None
    if trained is not None:  # before any other work: weights of another space fail in seconds
        supernet = Supernet(space).to(device)
        senas = senas_from_checkpoint(trained, supernet, space, data, config)  # expands an SE-NAS supernet
        trained.load_into(supernet)
    main = dist.launched_rank() == 0  # under torchrun rank 0 alone measures and writes; every rank searches
    pcnas = None
    if s.strategy in TRAINED_BY:  # every rank needs the limits before training: its sampler respects them
        latency, limits = _limits_for_training(config, space, device, timings)
        if s.strategy == "pcnas":
            pcnas = pcnas_from_checkpoint(trained, space, data, limits, not config.quiet) if trained is not None \
                else job_sampler(config, space, data, limits)
        elif trained is None:
            senas = job_sampler(config, space, data, limits)
    else:
        latency = _measured_latency(config, space, timings)
        limits = job_limits(config, latency, space) if main else None
    _write_config(config)
    t0 = time.perf_counter()
    if trained is not None:
        history, ckpt, weights = trained.history, trained.path, trained.state_dict
    else:
        supernet, result = train_supernet(config, data, space, device, pcnas or senas)
        history, ckpt = result.history, result.checkpoint or Path(config.out) / CHECKPOINT
        weights = result.averaged_state_dict if s.estimator == "weight_averaging" else \
            {k: v.detach().clone() for k, v in supernet.state_dict().items()}
    timings["train_seconds"] = time.perf_counter() - t0
    if latency is None and needs_latency(config):  # the table rank 0 measured before training
        latency = latency_model(config, space, progress=False)
    if limits is None:
        limits = job_limits(config, latency, space)
    searched = senas.space if senas is not None else space  # SE-NAS: its shrunk space, whatever the strategy
    estimator = job_estimator(config, supernet, weights, data, searched, trained.options if trained else None)
    report = search_stage(config, searched, data, supernet, estimator, weights, limits, latency, ckpt, timings,
                          pcnas, senas)
    if report is None:  # ranks other than 0 under torchrun
        return None
    timings["total_seconds"] = time.perf_counter() - start
    report = {
        "config": config.to_dict(),
        "space": space.describe(),
        "data": {"name": data.name, "train": len(data.train), "val": len(data.val), "test": len(data.test),
                 "input_shape": list(data.input_shape), "num_classes": data.num_classes},
        "supernet": {"parameters": sum(p.numel() for p in supernet.parameters()), "history": history},
        **report,
        "latency": ({"table": latency.path, "device": latency.device, "batch": latency.batch,
                     "correction": latency.meta.get("correction")} if latency is not None else None),
        "timings": timings,
    }
    atomic_write_json(Path(config.out) / "report.json", report)
    from .html_report import write_run_report

    report["files"]["page"] = str(write_run_report(config.out, space=space))
    atomic_write_json(Path(config.out) / "report.json", report)
    return report
