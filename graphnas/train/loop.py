"""Training: one loop for supernets (one sampled path per step) and standalone networks.

``train(model, data, config, sampler=...)`` runs SGD (momentum 0 by default: ST-NAS decouples the
architectures of consecutive batches) with a per-step cosine schedule, weight decay on weights only
and optional label smoothing. With a sampler the model is a :class:`~graphnas.nets.supernet.Supernet` and
each step trains the path ``sampler(rng)`` draws, ``rng`` being a numpy Generator the trainer owns;
without one it is an ordinary module. Batches go to the device of the model's first parameter.

:func:`fit` is the same loop with everything around it: checkpoints (``out/checkpoint.pt`` every
epoch, and every ``checkpoint_every`` steps), a JSON log (``out/train_log.json``), exact resume,
weight averaging over the last epoch, and data parallelism under ``torchrun``
(:mod:`graphnas.train.distributed`).

A sampler that changes during training (PC-NAS's partial-model pool) has ``before_step(step, steps_per_epoch,
model, checkpoint)``, called before each step's draw with the supernet and a function that writes a checkpoint
(collective under torchrun); it may score paths (leaving the model's weights, BN statistics and mode as they were)
and must keep everything it decides in its ``state_dict()``.

Exact resume. The batch order of epoch ``e`` is a permutation drawn from ``default_rng([seed, e])``,
so a run restarted at step ``s`` needs no loader state: it skips the first ``s mod steps_per_epoch``
batches of its epoch. The checkpoint holds everything else that a step reads or changes (weights and
BN buffers, optimizer and scheduler, the sampler's Generator and own state, the torch RNG of every
rank, the partial epoch's statistics and the averaging sums), so on CPU a run killed at any point and
resumed ends with bitwise the same weights as an uninterrupted one (``tests/test_checkpoint.py``).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import distributed as dist
from .averaging import WeightAverager
from .checkpoint import (FORMAT, VERSION, check_resume_state, load_checkpoint, model_meta, rng_state, save_checkpoint,
                         set_rng_state)
from ..checks import MAX_LR
from ..errors import CheckpointError, GraphnasError
from ..files import regular_file
from ..options import Choice, Float, Int, check_fields, option
from .samplers import Sampler
from ..utils import atomic_target, atomic_write_json

__all__ = ["TrainConfig", "TrainResult", "train", "fit", "make_optimizer", "epoch_order", "CHECKPOINT", "LOG",
           "EPOCHS_DIR", "kept_checkpoint"]

CHECKPOINT = "checkpoint.pt"  #: file name of the training checkpoint under ``out``
EPOCHS_DIR = "epochs"  #: folder under ``out`` of the checkpoints kept at chosen epochs (``keep_epochs``)
LOG = "train_log.json"  #: file name of the JSON log under ``out``


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train`.

    Args:
        epochs (int): passes over the training set (default: 10).
        batch_size (int): samples per step; under torchrun the *global* batch, split evenly over
            the processes (default: 64).
        lr (float): initial learning rate, annealed to ``lr * final_lr_ratio`` by a cosine (default: 0.1).
        final_lr_ratio (float): final / initial learning rate (default: 0.0).
        lr_schedule (str): ``"cosine"`` (default) or ``"linear"`` (SE-NAS's ``lr * (1 - t / T)``), per step,
            from ``lr`` to ``lr * final_lr_ratio``.
        momentum (float): SGD momentum; 0 decouples consecutive paths, as in ST-NAS (default: 0.0).
        nesterov (bool): Nesterov momentum when ``momentum > 0`` (default: ``False``).
        weight_decay (float): L2 penalty (default: 4e-5).
        label_smoothing (float): cross-entropy label smoothing (default: 0.0).
        grad_clip (float, optional): clip the gradient norm to this value (default: 5.0).
        seed (int): seeds the batch order, the path sampler and torch's RNG (default: 0).
        channels_last (bool): train in channels-last memory format, about 2x faster for the
            depthwise convolutions of these networks on CPU (default: ``True``).
    """

    epochs: int = option(10, "passes over the training set", Int(1))
    batch_size: int = option(64, "images per step; under torchrun the global batch, split over the processes", Int(1))
    lr: float = option(0.1, "initial learning rate, cosine-annealed to lr * final_lr_ratio",
                       Float(0, MAX_LR, lo_open=True))
    final_lr_ratio: float = option(0.0, "final / initial learning rate", Float(0, 1))
    lr_schedule: str = option("cosine", "how the rate falls from lr to lr * final_lr_ratio, step by step: cosine, or "
                                        "linear (SE-NAS: lr x (1 - t/T))", Choice(("cosine", "linear")))
    momentum: float = option(0.0, "SGD momentum; 0 decouples the paths of consecutive steps (ST-NAS)",
                             Float(0, 1, hi_open=True))
    nesterov: bool = option(False, "Nesterov momentum (with momentum > 0)")
    weight_decay: float = option(4e-5, "L2 penalty on weights (not on BN and biases)", Float(0, 1, hi_open=True))
    label_smoothing: float = option(0.0, "cross-entropy label smoothing", Float(0, 1, hi_open=True))
    grad_clip: float | None = option(5.0, "clip the gradient norm to this value", Float(0, lo_open=True))
    seed: int = option(0, "seeds the batch order, the path sampler and torch's RNG", Int(0))
    channels_last: bool = option(True, "train in channels-last memory format (about 2x faster on CPU here)")

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "TrainConfig":
        """Raise a one-line :class:`GraphnasError` for an option of the wrong type or out of range (floats must be
        finite: ``lr=inf`` would train to NaN); return ``self``."""
        check_fields(self, "training option ")
        return self


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Args:
        history (list of dict): one dict per finished epoch (``epoch``, ``loss``, ``accuracy``, ``lr``,
            ``seconds``), those of the resumed part included.
        averaged_state_dict (dict, optional): with ``average_last_epoch``, a full state dict (on the CPU)
            whose floating-point tensors are the mean over the last epoch's iterations (counters: final).
        checkpoint (Path, optional): the checkpoint file, when ``out`` was given.
        start_step (int): the global step training started from (0, or where the checkpoint was).
        step (int): global steps done when ``fit`` returned.
        total_steps (int): ``epochs * steps_per_epoch``.
    """

    history: list = field(default_factory=list)
    averaged_state_dict: dict | None = None
    checkpoint: Path | None = None
    start_step: int = 0
    step: int = 0
    total_steps: int = 0


def make_optimizer(model: nn.Module, config: TrainConfig, steps: int):
    """SGD (no weight decay on batch-norm and bias parameters) and a per-step cosine (or linear) schedule."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, momentum=config.momentum,
                          nesterov=config.nesterov and config.momentum > 0)
    floor, linear = config.final_lr_ratio, config.lr_schedule == "linear"

    def factor(step: int) -> float:
        done = min(step, steps) / max(1, steps)
        return floor + (1 - floor) * ((1 - done) if linear else 0.5 * (1 + math.cos(math.pi * done)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def epoch_order(num_samples: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The global batches of ``epoch``: a permutation from ``default_rng([seed, epoch])``, last partial dropped."""
    perm = np.random.default_rng([seed, epoch]).permutation(num_samples)
    return [perm[k * batch_size:(k + 1) * batch_size].tolist() for k in range(num_samples // batch_size)]


def train(model: nn.Module, train_set, config: TrainConfig, sampler: Sampler | None = None,
          progress: bool = True, desc: str = "train", **options) -> list[dict]:
    """Train ``model`` on ``train_set`` (a Dataset of ``(image, label)``); returns the history.

    Args:
        model (nn.Module): a Supernet (with ``sampler``) or a standalone network, on any device.
        train_set (Dataset): training samples.
        config (TrainConfig): hyper-parameters.
        sampler (callable, optional): ``sampler(rng) -> Architecture``; one path per step.
        progress (bool): show a tqdm bar (default: ``True``).
        **options: those of :func:`fit` (``out``, ``resume``, ``average_last_epoch``, ...).

    Returns:
        One dict per epoch: ``epoch``, ``loss``, ``accuracy`` (on the training batches, of the paths
        trained), ``lr`` (at the end of the epoch), ``seconds``.
    """
    return fit(model, train_set, config, sampler, progress=progress, desc=desc, **options).history


def kept_checkpoint(out: str | Path, epoch: int) -> Path:
    """Where :func:`fit` with ``keep_epochs`` keeps the checkpoint of the end of ``epoch`` (1-based) under ``out``."""
    return Path(out) / EPOCHS_DIR / f"epoch{epoch:03d}.pt"


def _say(message: str) -> None:
    if dist.is_main():
        print(f"graphnas: {message}", file=sys.stderr)


def _resume_path(out: Path | None, resume) -> Path | None:
    """The checkpoint to resume from: ``resume`` a path (must exist), or True (``out/checkpoint.pt`` if there)."""
    if resume is None or resume is False:
        return None
    if resume is True:
        if out is None:
            raise GraphnasError("resume=True needs an out folder to find checkpoint.pt in; pass out=... or a file")
        path = out / CHECKPOINT
        if not path.exists():
            _say(f"no checkpoint at {path}; starting from scratch")
            return None
        return path
    # a FIFO or folder is refused here (torch.load would block on a FIFO forever); out/checkpoint.pt above is
    # refused the same way by load_checkpoint
    return regular_file(resume, "checkpoint", f"check the path, or drop the file name to resume from "
                        f"<out>/{CHECKPOINT} when there is one", CheckpointError)


def fit(model: nn.Module, train_set, config: TrainConfig, sampler: Sampler | None = None, *,
        progress: bool = True, desc: str = "train", out: str | Path | None = None, resume: bool | str | Path = False,
        average_last_epoch: bool = False, checkpoint_every: int = 0, stop_after_steps: int | None = None,
        keep_epochs=(), on_epoch=None) -> TrainResult:
    """Train with checkpoints, exact resume, weight averaging and (under torchrun) data parallelism.

    Args:
        model, train_set, config, sampler, progress, desc: as :func:`train`.
        out (str or Path, optional): run folder; rank 0 writes ``checkpoint.pt`` at the end of every
            epoch (and every ``checkpoint_every`` steps) and ``train_log.json`` every epoch.
        resume (bool or path): ``True``: continue from ``out/checkpoint.pt`` if it exists, else start
            from scratch (and say so on stderr); a path: continue from that file, which must exist.
            A checkpoint of another space/model or other training options raises a CheckpointError.
        average_last_epoch (bool): keep the running mean of the state dict over the iterations of the
            last epoch (SE-NAS weight averaging, :class:`~graphnas.train.averaging.WeightAverager`'s rule:
            floating-point tensors averaged, BN statistics included); returned and stored as
            ``averaged_state_dict``.
        checkpoint_every (int): also checkpoint every this many global steps (0: epoch ends only).
        keep_epochs (iterable of int): epochs (1-based) whose end-of-epoch checkpoint is also kept, as
            ``out/epochs/epoch<NNN>.pt`` (:func:`kept_checkpoint`; read with
            :func:`~graphnas.train.checkpoint.read_trained` ``(..., unfinished=True)``): the weights a
            ranking reads at several points of one run (ST-NAS's last 10 checkpoints). Needs ``out``.
        on_epoch (callable, optional): ``on_epoch(epoch, model) -> dict`` after every epoch (1-based), before
            its checkpoint: the numbers it returns join the epoch's ``history`` entry (a retrained network's
            validation accuracy), so they are checkpointed and survive a resume. Every rank calls it.
        stop_after_steps (int, optional): test hook; return after this many steps of this call, without
            writing anything more, as a killed run would.

    Shapes:
        ``train_set`` items ``(C, H, W)`` float images and 0-dim long labels.
    """
    config.validate()
    keep_epochs = frozenset(keep_epochs)
    if keep_epochs and (out is None or not all(isinstance(e, int) and 1 <= e <= config.epochs for e in keep_epochs)):
        raise GraphnasError(f"keep_epochs={sorted(keep_epochs)} needs an out folder and epochs in 1..{config.epochs}")
    if checkpoint_every < 0:
        raise GraphnasError(f"checkpoint_every={checkpoint_every} must be >= 0 (0: at epoch ends only)")
    device = next(model.parameters()).device
    dist.init(device)
    rank, world = dist.rank(), dist.world_size()
    if config.batch_size % world:
        raise GraphnasError(f"batch_size {config.batch_size} does not split over {world} processes; use a multiple "
                            f"of {world}")
    per_epoch = len(train_set) // config.batch_size
    if per_epoch == 0:
        raise GraphnasError(f"the training set has {len(train_set)} samples, fewer than one batch of "
                            f"batch_size={config.batch_size}; lower --batch-size")
    total = config.epochs * per_epoch
    out = Path(out) if out is not None else None
    meta = model_meta(model)
    options = {**config.to_dict(), "average_last_epoch": bool(average_last_epoch), "train_samples": len(train_set)}
    path = _resume_path(out, resume)
    # a checkpoint written before an option existed was trained with that option's default
    state = load_checkpoint(path, meta, options, defaults=TrainConfig().to_dict()) if path is not None else None

    torch.manual_seed(config.seed + rank)
    rng = np.random.default_rng(config.seed)
    optimizer, scheduler = make_optimizer(model, config, total)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    history, step, stats, avg = [], 0, [0.0, 0, 0, 0.0], None
    averaged = None
    if state is not None:  # every field checked before anything is loaded: a refused file changes nothing
        check_resume_state(path, state, model, optimizer, scheduler, sampler, steps_per_epoch=per_epoch,
                           epochs=config.epochs, batch_size=config.batch_size,
                           average_last_epoch=bool(average_last_epoch))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(rng, state["sampler_rng"])
        if state.get("sampler_state") is not None and hasattr(sampler, "load_state_dict"):
            sampler.load_state_dict(state["sampler_state"])
        rngs = state["torch_rng"]
        torch.set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, step = list(state["history"]), int(state["step"])
        stats = list(state["epoch_stats"]) if rank == 0 else [0.0, 0, 0, 0.0]
        if state.get("average") is not None:
            avg = WeightAverager.from_state(state["average"]).to(device)
        averaged = state.get("averaged_state_dict")
        _say(f"resuming from {path} at step {step} of {total}" + (" (already finished)" if step >= total else
                                                                    f" (epoch {step // per_epoch + 1})"))
    dist.broadcast_module(model)
    model.to(memory_format=fmt)
    start_step = step
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    params = list(model.parameters())

    def snapshot() -> dict:
        """The checkpoint of the current step (collective: every rank must call it)."""
        partial = dist.all_reduce_sum(stats[:3]) + [stats[3]]
        torch_rngs = dist.all_gather_objects(torch.get_rng_state())
        return {"format": FORMAT, "version": VERSION, "meta": meta, "config": options, "step": step,
                "epoch": step // per_epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "sampler_rng": rng_state(rng),
                "sampler_state": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
                "torch_rng": torch_rngs,
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                "epoch_stats": [partial[0], int(partial[1]), int(partial[2]), partial[3]], "history": history,
                "average": None if avg is None else avg.state(),
                "averaged_state_dict": averaged, "world_size": world}

    def save() -> None:
        if out is None:
            return
        blob = snapshot()
        if dist.is_main():
            save_checkpoint(out / CHECKPOINT, blob)

    before_step = getattr(sampler, "before_step", None)
    model.train()
    bar = tqdm(total=total, initial=step, desc=desc, disable=not progress or not dist.is_main(), leave=False,
               unit="step")
    done_here = 0
    while step < total:
        epoch, skip = divmod(step, per_epoch)
        batches = [b[rank * len(b) // world:(rank + 1) * len(b) // world]
                   for b in epoch_order(len(train_set), config.batch_size, config.seed, epoch)[skip:]]
        last = epoch == config.epochs - 1
        if last and average_last_epoch and avg is None:
            avg = WeightAverager()
        start = time.perf_counter()
        # its own generator: a DataLoader otherwise draws its base seed from torch's global RNG
        for x, y in DataLoader(train_set, batch_sampler=batches, num_workers=0, generator=torch.Generator()):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if x.dim() == 4:
                x = x.contiguous(memory_format=fmt)
            if before_step is not None:  # e.g. PC-NAS: the pool is updated at interval boundaries
                before_step(step, per_epoch, model, save)
            arch = sampler(rng) if sampler is not None else None
            logits = model(x, arch) if sampler is not None else model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if world > 1:
                dist.all_reduce_grads(model.path_parameters(arch) if hasattr(model, "path_parameters")
                                      and arch is not None else params)
            if config.grad_clip:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            if avg is not None:
                avg.update(model)
            step += 1
            done_here += 1
            stats[0] += loss.item() * len(y)
            stats[1] += (logits.argmax(1) == y).sum().item()
            stats[2] += len(y)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{stats[0] / max(1, stats[2]):.3f}",
                            acc=f"{stats[1] / max(1, stats[2]):.3f}")
            if stop_after_steps is not None and done_here >= stop_after_steps:
                bar.close()
                return TrainResult(history, averaged, out / CHECKPOINT if out else None, start_step, step, total)
            if step % per_epoch and checkpoint_every and step % checkpoint_every == 0:
                stats[3] += time.perf_counter() - start
                start = time.perf_counter()
                save()
        stats[3] += time.perf_counter() - start
        loss_sum, correct, seen = dist.all_reduce_sum(stats[:3])
        history.append({"epoch": epoch + 1, "loss": loss_sum / max(1, seen), "accuracy": correct / max(1, seen),
                        "lr": optimizer.param_groups[0]["lr"], "seconds": stats[3]})
        stats = [0.0, 0, 0, 0.0]
        if on_epoch is not None:
            history[-1].update(on_epoch(epoch + 1, model))
            model.train()
        if last and avg is not None:
            averaged = {k: v.cpu() for k, v in avg.state_dict().items()}
            avg = None  # the running mean is not needed once taken
        save()
        if epoch + 1 in keep_epochs and dist.is_main():
            with atomic_target(kept_checkpoint(out, epoch + 1)) as tmp:
                shutil.copyfile(out / CHECKPOINT, tmp)
        if out is not None and dist.is_main():
            atomic_write_json(out / LOG, {"meta": meta, "config": options, "world_size": world, "step": step,
                                          "total_steps": total, "history": history})
    bar.close()
    if out is not None:  # the checkpoint the result names exists on every rank when it returns (rank 0 writes it)
        dist.barrier()
    return TrainResult(history, averaged, out / CHECKPOINT if out else None, start_step, step, total)
