"""Training: one loop for supernets (one sampled path per step) and standalone networks.

``train(model, data, config, sampler=...)`` runs SGD with a cosine schedule. With a sampler the
model is a :class:`~graphnas.supernet.Supernet` and each step trains the path the sampler draws;
without one it is an ordinary module. Progress shows with tqdm; the returned history has one
dict per epoch (loss, accuracy, learning rate, seconds).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data import make_loader
from .samplers import Sampler

__all__ = ["TrainConfig", "train", "make_optimizer"]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train`.

    Args:
        epochs (int): passes over the training set (default: 10).
        batch_size (int): samples per step (default: 64).
        lr (float): initial learning rate, annealed to ``lr * final_lr_ratio`` by a cosine (default: 0.1).
        final_lr_ratio (float): final / initial learning rate (default: 0.0).
        momentum (float): SGD momentum; 0 decouples consecutive paths, as in ST-NAS (default: 0.0).
        nesterov (bool): Nesterov momentum when ``momentum > 0`` (default: ``False``).
        weight_decay (float): L2 penalty (default: 4e-5).
        label_smoothing (float): cross-entropy label smoothing (default: 0.0).
        grad_clip (float, optional): clip the gradient norm to this value (default: 5.0).
        seed (int): seeds the batch order and the path sampler (default: 0).
        channels_last (bool): train in channels-last memory format, about 2x faster for the
            depthwise convolutions of these networks on CPU (default: ``True``).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    final_lr_ratio: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 4e-5
    label_smoothing: float = 0.0
    grad_clip: float | None = 5.0
    seed: int = 0
    channels_last: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(model: nn.Module, config: TrainConfig, steps: int):
    """SGD (no weight decay on batch-norm and bias parameters) and a per-step cosine schedule."""
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, momentum=config.momentum,
                          nesterov=config.nesterov and config.momentum > 0)
    floor = config.final_lr_ratio

    def factor(step: int) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / max(1, steps)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train(model: nn.Module, train_set, config: TrainConfig, sampler: Sampler | None = None,
          progress: bool = True, desc: str = "train") -> list[dict]:
    """Train ``model`` on ``train_set`` (a Dataset of ``(image, label)``).

    Args:
        model (nn.Module): a Supernet (with ``sampler``) or a standalone network.
        train_set (Dataset): training samples.
        config (TrainConfig): hyper-parameters.
        sampler (callable, optional): ``sampler(rng) -> Architecture``; one path per step.
        progress (bool): show a tqdm bar (default: ``True``).

    Returns:
        One dict per epoch: ``epoch``, ``loss``, ``accuracy`` (on the training batches, of the paths
        trained), ``lr`` (at the end of the epoch), ``seconds``.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed, drop_last=True)
    steps = config.epochs * len(loader)
    optimizer, scheduler = make_optimizer(model, config, steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    model.train()
    history = []
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False, unit="step")
    for epoch in range(config.epochs):
        start, total_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
        for x, y in loader:
            x = x.contiguous(memory_format=fmt)
            logits = model(x, sampler(rng)) if sampler is not None else model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        history.append({"epoch": epoch + 1, "loss": total_loss / max(1, seen), "accuracy": correct / max(1, seen),
                        "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - start})
    bar.close()
    return history
