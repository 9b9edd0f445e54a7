"""Performance estimation under shared weights: accuracy of one path, with batch-norm recalibration.

A supernet trained one path at a time accumulates batch-norm running statistics over *all* the
paths it saw, so evaluating one path with them is biased. :func:`recalibrate_bn` recomputes the
statistics of the chosen path on a fixed subset of training data before evaluation (SPOS).
"""

from __future__ import annotations

import torch
from torch import nn

from .data import make_loader

__all__ = ["accuracy", "recalibrate_bn", "SupernetEvaluator"]


@torch.no_grad()
def accuracy(model: nn.Module, dataset, arch=None, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (or of ``model``'s path ``arch`` for a supernet) in eval mode."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in make_loader(dataset, batch_size, shuffle=False):
        logits = model(x, arch) if arch is not None else model(x)
        correct += (logits.argmax(1) == y).sum().item()
        total += len(y)
    model.train(was_training)
    return correct / max(1, total)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, dataset, arch=None, num_samples: int = 512, batch_size: int = 128,
                   seed: int = 0) -> None:
    """Reset and recompute batch-norm running statistics on the path ``arch`` of ``model``.

    Args:
        model (nn.Module): a Supernet (with ``arch``) or a standalone network.
        dataset (Dataset): training data; the first ``num_samples`` of a seeded shuffle are used, so
            every architecture is recalibrated on the same images.
        arch (Architecture, optional): the path to recalibrate.
        num_samples (int): images to average over (default: 512).
        batch_size (int): forward batch size (default: 128).
        seed (int): which images (default: 0).

    Only BN layers on the path are touched. Their running mean becomes the exact mean over the
    ``num_samples`` images (each batch weighted by its size, the last one cut to fit); their running
    variance the size-weighted mean of the per-batch variances.
    """
    modules = model.path_modules(arch).values() if arch is not None else [model]
    bns = [m for mod in modules for m in mod.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
    was_training = model.training
    model.train()
    seen = 0
    for x, _ in make_loader(dataset, batch_size, shuffle=True, seed=seed):
        x = x[:num_samples - seen]
        for bn in bns:  # running <- running + n/(seen+n) * (batch - running): a size-weighted average
            bn.momentum = len(x) / (seen + len(x))
        model(x, arch) if arch is not None else model(x)
        seen += len(x)
        if seen >= num_samples:
            break
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
    model.train(was_training)


class SupernetEvaluator:
    """``evaluator(arch) -> accuracy`` of a path of a trained supernet, with optional BN recalibration.

    Args:
        supernet (Supernet): trained shared weights.
        val_set (Dataset): data to score on.
        train_set (Dataset, optional): data to recalibrate BN on; ``None`` skips recalibration.
        recal_samples (int): images used for recalibration (default: 512).

    Results are cached by architecture hash; ``calls`` counts real evaluations.
    """

    def __init__(self, supernet, val_set, train_set=None, recal_samples: int = 512, batch_size: int = 256) -> None:
        self.supernet, self.val_set, self.train_set = supernet, val_set, train_set
        self.recal_samples, self.batch_size = recal_samples, batch_size
        self.cache: dict[str, float] = {}
        self.calls = 0

    def __call__(self, arch) -> float:
        if arch.hash not in self.cache:
            if self.train_set is not None:
                recalibrate_bn(self.supernet, self.train_set, arch, self.recal_samples)
            self.cache[arch.hash] = accuracy(self.supernet, self.val_set, arch, self.batch_size)
            self.calls += 1
        return self.cache[arch.hash]
