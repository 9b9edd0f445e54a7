"""The job's training stage: the configured sampler and device, :func:`graphnas.train.loop.fit` into ``<out>``.

Under ``torchrun --nproc_per_node N`` every process runs this stage; the batch size is the global batch, each
process trains on its 1/N share, and only rank 0 writes (``<out>/checkpoint.pt``, ``train_log.json``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..train import distributed as dist
from ..errors import GraphnasError
from ..train.samplers import make_sampler
from ..nets.supernet import Supernet
from ..train.loop import TrainResult, fit
from .config import JobConfig

__all__ = ["pick_device", "job_sampler", "train_supernet"]


def pick_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` as a device (one GPU per process under torchrun)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GraphnasError(f"device '{name}' asked for, but torch sees no CUDA GPU; use --device cpu")
        return dist.local_device("cuda") if name == "cuda" else torch.device(name)
    if name != "cpu":
        raise GraphnasError(f"unknown device '{name}'; use cpu, cuda, cuda:N or auto")
    return torch.device("cpu")


def job_sampler(config: JobConfig, space, data, limits=()):
    """The path sampler the job trains with: PC-NAS's pool for ``--strategy pcnas`` (scored on the validation
    split, under the job's limits), SE-NAS's stages for ``--strategy senas`` (likewise), else the configured one."""
    if config.search.strategy == "pcnas":
        from ..search.pcnas import pcnas_sampler

        return pcnas_sampler(space, data.val, limits or (), config.train_config().epochs, seed=config.seed,
                             progress=not config.quiet, **config.search.strategy_options)
    if config.search.strategy == "senas":
        from ..search.senas_stages import senas_sampler

        senas = senas_sampler(space, data.val, limits or (), seed=config.seed, progress=not config.quiet,
                              evaluator=_senas_evaluator(config, data, space), **config.search.strategy_options)
        senas.warmup(config.train_config().epochs)  # too few epochs for the stages: one line before any work
        return senas
    t = config.training
    return make_sampler(t.sampler, space, **t.sampler_options)


def _senas_evaluator(config: JobConfig, data, space):
    """SE-NAS's ``score_with=estimator``: the job's ``--estimator`` on a stage's averaged or final weights."""
    from .estimator import job_estimator

    def evaluator(supernet, averaged, final):
        weights = averaged if config.search.estimator == "weight_averaging" else final
        return job_estimator(config, supernet, weights, data, space)

    return evaluator


def train_supernet(config: JobConfig, data, space, device: torch.device, sampler=None) -> tuple[Supernet, TrainResult]:
    """Train the supernet of ``space`` as the (resolved) ``config`` says, with ``sampler`` (default:
    :func:`job_sampler`'s); with ``config.resume`` continue exactly where ``<out>/checkpoint.pt`` (or the file
    given) stopped, or return at once if it is finished."""
    t = config.training
    sampler = sampler if sampler is not None else job_sampler(config, space, data)
    torch.manual_seed(config.seed)
    supernet = Supernet(space).to(device)
    resume = config.resume if config.resume in (True, False) else Path(config.resume)
    if config.search.strategy == "senas":  # one fit per stage under <out>/senas, resumed from the last one
        return supernet, sampler.train(supernet, data.train, config.train_config(), config.out, resume=resume,
                                       checkpoint_every=t.checkpoint_every)
    result = fit(supernet, data.train, config.train_config(), sampler, progress=not config.quiet, desc="supernet",
                 out=config.out, resume=resume, average_last_epoch=t.average_last_epoch,
                 checkpoint_every=t.checkpoint_every)
    return supernet, result
