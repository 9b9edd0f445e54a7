"""Performance estimation under shared weights: accuracy of one path, with batch-norm recalibration.

A supernet trained one path at a time accumulates batch-norm running statistics over *all* the
paths it saw, so evaluating one path with them is biased. :func:`recalibrate_bn` recomputes the
statistics of the chosen path on a fixed subset of training data before evaluation (SPOS).
:func:`score_path` is the two together, the one scoring step that :class:`SupernetEvaluator` and the
estimators of :mod:`graphnas.estimators` share. Batches go to the device of the model's first
parameter or buffer, so the functions run unchanged on a GPU supernet.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .data import make_loader
from .errors import EstimatorError

__all__ = ["EstimatorError", "accuracy", "recalibrate_bn", "score_path", "SupernetEvaluator"]


def _device(model: nn.Module):
    """Device of ``model``'s first parameter or buffer, or None for a model without tensors."""
    for t in itertools.chain(model.parameters(), model.buffers()):
        return t.device
    return None


@torch.no_grad()
def accuracy(model: nn.Module, dataset, arch=None, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (or of ``model``'s path ``arch`` for a supernet) in eval mode."""
    was_training = model.training
    model.eval()
    device = _device(model)
    correct = total = 0
    for x, y in make_loader(dataset, batch_size, shuffle=False):
        if device is not None:
            x, y = x.to(device), y.to(device)
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
    device = _device(model)
    seen = 0
    for x, _ in make_loader(dataset, batch_size, shuffle=True, seed=seed):
        x = x[:num_samples - seen]
        if device is not None:
            x = x.to(device)
        for bn in bns:  # running <- running + n/(seen+n) * (batch - running): a size-weighted average
            bn.momentum = len(x) / (seen + len(x))
        model(x, arch) if arch is not None else model(x)
        seen += len(x)
        if seen >= num_samples:
            break
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
    model.train(was_training)


def score_path(model: nn.Module, eval_set, arch=None, train_set=None, recal_samples: int = 512, seed: int = 0,
               batch_size: int = 256) -> float:
    """Accuracy of ``model`` (or its path ``arch``) on ``eval_set``, after BN recalibration on ``train_set``.

    Args:
        model (nn.Module): a Supernet (with ``arch``) or a standalone network.
        eval_set (Dataset): data to score on.
        arch (Architecture, optional): the path, for a supernet.
        train_set (Dataset, optional): data to recalibrate BN on (:func:`recalibrate_bn`); ``None``
            evaluates with the running statistics the model holds.
        recal_samples (int): images used for recalibration (default: 512).
        seed (int): which images: the same seed gives every architecture the same subset (default: 0).
        batch_size (int): evaluation batch size (default: 256).

    Returns:
        float: top-1 accuracy in [0, 1]. Recalibration leaves the new statistics in ``model``.
    """
    if train_set is not None:
        recalibrate_bn(model, train_set, arch, num_samples=recal_samples, seed=seed)
    return accuracy(model, eval_set, arch, batch_size)


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
            self.cache[arch.hash] = score_path(self.supernet, self.val_set, arch, self.train_set, self.recal_samples,
                                               batch_size=self.batch_size)
            self.calls += 1
        return self.cache[arch.hash]
