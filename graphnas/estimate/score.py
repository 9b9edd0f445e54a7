"""Performance estimation under shared weights: the scoring step and the estimator protocol.

A supernet trained one path at a time accumulates batch-norm running statistics over *all* the
paths it saw, so evaluating one path with them is biased. :func:`recalibrate_bn` recomputes the
statistics of the chosen path on a fixed subset of training data before evaluation (SPOS).
:func:`score_path` is the two together, the one scoring step every estimator shares. Batches go to
the device of the model's first parameter or buffer, so the functions run unchanged on a GPU supernet.

:class:`Estimator` is the protocol every estimator follows (``estimator(arch) -> accuracy``,
``estimator.score_many(archs)``, results cached by architecture hash, ``calls`` counting real
evaluations); :class:`SupernetEvaluator` scores paths of one or more sets of shared weights (the
single-checkpoint estimator, and under :func:`graphnas.estimate.estimators.make_estimator` weight averaging and
the two SGLD expectations too).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..train import distributed as dist
from ..checks import check_int
from ..train.data import DataSplits, make_loader
from ..errors import EstimatorError

__all__ = ["EstimatorError", "accuracy", "recalibrate_bn", "score_path", "EvalData", "as_eval_data", "Estimator",
           "SupernetEvaluator"]

_BN = nn.modules.batchnorm._BatchNorm


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


# ---------------------------------------------------------------------- data and weights
@dataclass(frozen=True)
class EvalData:
    """What an estimator needs of the data.

    Args:
        train_set (Dataset): images for BN recalibration and fine-tuning (``None``: no recalibration).
        eval_set (Dataset): images the accuracy is measured on.
        batch_size (int, optional): evaluation batch size. (default: 256)
    """

    train_set: Dataset | None
    eval_set: Dataset
    batch_size: int = 256


def as_eval_data(data) -> EvalData:
    """``data`` as :class:`EvalData`: passed through, a DataSplits (train, val), or a (train, eval) pair."""
    if isinstance(data, EvalData):
        return data
    if isinstance(data, DataSplits):
        return EvalData(data.train, data.val)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return EvalData(*data)
    raise EstimatorError(f"estimator data must be EvalData, DataSplits or a (train_set, eval_set) pair, "
                         f"got {type(data).__name__}")


def _check_state(weights, what: str = "weights") -> Mapping:
    """``weights`` if it is a state dict; else a one-line EstimatorError."""
    if not isinstance(weights, Mapping):
        hint = (" (a list of SGLD samples goes to score_expectation or parameter_expectation)"
                if isinstance(weights, (list, tuple)) else "")
        raise EstimatorError(f"{what} must be a supernet state_dict, got {type(weights).__name__}{hint}")
    return weights


def _clone(state: Mapping[str, Tensor], what: str = "weights") -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in _check_state(state, what).items()}


def _load(supernet: nn.Module, weights, what: str = "weights") -> None:
    """Load one state dict into ``supernet``; a one-line EstimatorError when it is not one or does not fit."""
    try:
        supernet.load_state_dict(_check_state(weights, what))
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:200]
        raise EstimatorError(f"{what} do not fit this supernet ({detail}): pass a state_dict saved from a "
                             "Supernet of the same space and scale") from None


def _check_fits(supernet: nn.Module, weights, what: str = "weights") -> None:
    """The checks of :func:`_load` without loading: the same keys and shapes as ``supernet``'s state dict."""
    own = supernet.state_dict()
    weights = _check_state(weights, what)
    missing, extra = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
    shapes = [k for k in own.keys() & weights.keys()
              if not isinstance(weights[k], Tensor) or weights[k].shape != own[k].shape]
    if missing or extra or shapes:
        detail = "; ".join(f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", extra), ("other shape", shapes))
                           if keys)
        raise EstimatorError(f"{what} do not fit this supernet ({detail}): pass a state_dict saved from a "
                             "Supernet of the same space and scale")


def _weight_list(supernet: nn.Module, weights) -> list:
    """``weights`` as a checked list: ``[]`` for None (the weights ``supernet`` holds), ``[state]``, or the list."""
    if weights is None:
        return []
    if isinstance(weights, Mapping):
        _check_fits(supernet, weights)
        return [weights]
    if not isinstance(weights, Iterable):
        _check_state(weights)
    states = list(weights)
    if not states:
        raise EstimatorError("samples is empty: draw at least one with sgld_samples(..., num_samples=K)")
    for k, state in enumerate(states):
        _check_fits(supernet, state, f"sample {k}")
    return states


@contextmanager
def _bn_kept(model: nn.Module):
    """Put every BN running statistic of ``model`` back as it was when the block ends."""
    saved = [(bn, {k: v.clone() for k, v in bn.named_buffers(recurse=False)})
             for bn in model.modules() if isinstance(bn, _BN)]
    try:
        yield
    finally:
        with torch.no_grad():
            for bn, buffers in saved:
                for name, value in buffers.items():
                    getattr(bn, name).copy_(value)


# ---------------------------------------------------------------------- the protocol
class Estimator:
    """An estimator: ``estimator(arch) -> accuracy`` and ``estimator.score_many(archs) -> [accuracy, ...]``.

    Results are cached by ``arch.hash`` (an architecture is evaluated once, whichever call asks);
    ``calls`` counts real evaluations. Subclasses implement ``_score(archs, bar)``, the accuracies of a
    list of distinct architectures with the weights loaded once, advancing ``bar`` by ``units`` per
    architecture.

    Under torchrun, :meth:`score_many` splits the architectures not yet cached over the ranks
    (:func:`graphnas.train.distributed.map_shards`) and every rank returns, and caches, the full list; every
    rank must call it with the same architectures. ``__call__`` scores on this process alone (no
    collective). An estimator whose ``shard`` is False (fine-tuning, whose training is itself data-parallel)
    scores every architecture on every rank.

    Args:
        supernet (Supernet): the workspace the weights are loaded into.
        data (EvalData, DataSplits or pair): recalibration and evaluation sets.
        recal (bool): recompute the path's BN statistics on ``recal_samples`` training images first.
        recal_samples (int): images used for recalibration (default: 512).
        seed (int): which images: the same for every architecture (default: 0).
        name (str, optional): the estimator's name (progress bars, messages).
    """

    name = "estimator"
    shard = True
    units = 1

    def __init__(self, supernet, data, recal: bool = True, recal_samples: int = 512, seed: int = 0,
                 name: str | None = None) -> None:
        self.supernet, self.data = supernet, as_eval_data(data)
        if not isinstance(recal, bool):
            raise EstimatorError(f"recal={recal!r} must be True or False")
        if recal and self.data.train_set is None:
            raise EstimatorError("recal=True needs a train_set to recalibrate BN on: pass one, or recal=False")
        self.recal = recal
        self.recal_samples = check_int("recal_samples", recal_samples, 1, error=EstimatorError)
        self.seed = check_int("seed", seed, 0, error=EstimatorError)
        self.name = name or self.name
        self.cache: dict[str, float] = {}
        self.calls = 0

    def __call__(self, arch) -> float:
        if arch.hash not in self.cache:
            self._store([arch], self._run([arch], progress=False))
        return self.cache[arch.hash]

    def score_many(self, archs, progress: bool = False) -> list[float]:
        """Accuracies of ``archs``, in order; the weights loaded once (once per SGLD sample).

        Args:
            archs (iterable of Architecture): what to score; cached and repeated ones are scored once.
            progress (bool, optional): show a tqdm bar (on rank 0). (default: ``False``)

        Returns:
            list of float: top-1 accuracies in [0, 1], one per architecture of ``archs``.
        """
        archs = list(archs)
        todo = list({a.hash: a for a in archs if a.hash not in self.cache}.values())
        if todo:
            scores = (dist.map_shards(todo, lambda part: self._run(part, progress)) if self.shard
                      else self._run(todo, progress))
            self._store(todo, scores)
        return [self.cache[a.hash] for a in archs]

    def _store(self, archs, scores) -> None:
        for arch, score in zip(archs, scores, strict=True):
            self.cache[arch.hash] = float(score)
        self.calls += len(archs)

    def _run(self, archs: list, progress: bool) -> list[float]:
        if not archs:
            return []
        with tqdm(total=len(archs) * self.units, desc=self.name, disable=not progress or not dist.is_main(),
                  leave=False, unit="arch") as bar:
            return self._score(archs, bar)

    def _score(self, archs: list, bar) -> list[float]:
        raise NotImplementedError

    def _score_path(self, model: nn.Module, arch) -> float:
        """:func:`score_path` with this estimator's data and recalibration settings."""
        return score_path(model, self.data.eval_set, arch, self.data.train_set if self.recal else None,
                          self.recal_samples, self.seed, self.data.batch_size)


class SupernetEvaluator(Estimator):
    """The accuracy of a path of the shared weights, with optional BN recalibration: the single-checkpoint
    estimator.

    Args:
        supernet (Supernet): trained shared weights, and the workspace ``weights`` are loaded into.
        val_set (Dataset): data to score on.
        train_set (Dataset, optional): data to recalibrate BN on; ``None`` skips recalibration.
        recal_samples (int): images used for recalibration (default: 512).
        batch_size (int): evaluation batch size (default: 256).
        weights (dict or list of dict, optional): ``None`` scores the weights ``supernet`` holds; a state
            dict is loaded first; a list of them (SGLD samples) scores the mean accuracy over them, each
            loaded in turn (ST-NAS score expectation). (default: None)
        seed (int): which recalibration images (default: 0).
        name (str): the estimator's name (default: ``"single_checkpoint"``).

    ``supernet``'s BN statistics are put back after every scoring (recalibration is undone); with
    ``weights`` it holds the last state dict loaded. Results are cached by architecture hash; ``calls``
    counts real evaluations (:class:`Estimator`).
    """

    name = "single_checkpoint"

    def __init__(self, supernet, val_set, train_set=None, recal_samples: int = 512, batch_size: int = 256, *,
                 weights=None, seed: int = 0, name: str | None = None) -> None:
        super().__init__(supernet, EvalData(train_set, val_set, batch_size), train_set is not None, recal_samples,
                         seed, name)
        self.weights = _weight_list(supernet, weights)
        self.units = max(1, len(self.weights))

    def _score(self, archs: list, bar) -> list[float]:
        total = np.zeros(len(archs))
        for k, state in enumerate(self.weights or [None]):
            if state is not None:
                _load(self.supernet, state, f"sample {k}" if len(self.weights) > 1 else "weights")
            with _bn_kept(self.supernet):
                for i, arch in enumerate(archs):
                    total[i] += self._score_path(self.supernet, arch)
                    bar.update(1)
        return (total / self.units).tolist()
