"""The supernet training job behind ``graphnas train`` and ``tools/train_supernet.py``.

    data set -> space at the data's scale (its CPU_SCALE + --scale) -> Supernet on --device
             -> fit(): one sampled path per step, checkpoint + JSON log in --out, exact --resume,
                optional weight averaging over the last epoch, data parallel under torchrun

Under ``torchrun --nproc_per_node N`` every process runs this same job; ``--batch-size`` is the
global batch, each process trains on its 1/N share, and only rank 0 writes and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import distributed as dist
from . import samplers
from .data import load_dataset
from .checks import MAX_RESOLUTION, check_int
from .errors import GraphnasError
from .files import output_lock
from .registry import space_info
from .supernet import Supernet
from .train import TrainConfig, TrainResult, fit

__all__ = ["TrainJob", "run_train_job", "build_sampler", "pick_device"]


@dataclass
class TrainJob:
    """Options of :func:`run_train_job` (the flags of ``graphnas train`` map one to one).

    ``resume``: ``False``, ``True`` (``<out>/checkpoint.pt`` if it exists, else start from scratch),
    or the path of a checkpoint that must exist. ``device``: ``cpu``, ``cuda`` (``cuda:LOCAL_RANK``
    under torchrun) or ``auto`` (CUDA when available).
    """

    space: str = "st_nas"
    scale: dict = field(default_factory=dict)
    ops: list | None = None
    data: str = "digits"
    data_root: str | None = None
    resolution: int | None = None
    bad_images: str = "stop"
    sampler: str = "uniform"
    sampler_options: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str = "runs/train"
    resume: bool | str = False
    average_last_epoch: bool = False
    checkpoint_every: int = 0
    device: str = "cpu"
    progress: bool = True


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


def build_sampler(kind: str, space, **options):
    """The path sampler ``kind`` over ``space``, through :func:`graphnas.samplers.make_sampler`."""
    return samplers.make_sampler(kind, space, **options)


def run_train_job(job: TrainJob) -> tuple[Supernet, TrainResult]:
    """Build data, space and supernet from ``job`` and train it; returns the supernet and the result.

    ``job.out`` is checked for writing and locked first (one writer per folder, :mod:`graphnas.files`).
    """
    job.train.validate()
    if job.resolution is not None:  # 0 is not "the default": None is
        check_int("resolution", job.resolution, 4, MAX_RESOLUTION)
    check_int("checkpoint_every", job.checkpoint_every, 0)
    device = pick_device(job.device)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 writes: it holds the lock
        return _train(job, device)
    with output_lock(job.out, "training folder", folder=True):
        return _train(job, device)


def _train(job: TrainJob, device: torch.device) -> tuple[Supernet, TrainResult]:
    from .workflow import FALLBACK_RESOLUTION, run_space

    scale = {**space_info(job.space).cpu_scale, **job.scale}
    resolution = job.resolution or scale.pop("resolution", FALLBACK_RESOLUTION)
    scale.pop("resolution", None)
    data = load_dataset(job.data, root=job.data_root, resolution=resolution, seed=job.train.seed,
                        bad_images=job.bad_images)
    space = run_space(job.space, data, scale, job.ops)
    sampler = build_sampler(job.sampler, space, **job.sampler_options)
    torch.manual_seed(job.train.seed)
    supernet = Supernet(space).to(device)
    resume = job.resume if job.resume in (True, False) else Path(job.resume)
    result = fit(supernet, data.train, job.train, sampler, progress=job.progress, desc="supernet", out=job.out,
                 resume=resume, average_last_epoch=job.average_last_epoch, checkpoint_every=job.checkpoint_every)
    return supernet, result
