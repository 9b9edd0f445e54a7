"""Weight-sharing performance estimators: how well would this architecture do, judged by a supernet?

Every estimator is a function ``estimator(supernet, weights, arch, data, **options) -> float``, the
top-1 accuracy it predicts for ``arch`` on ``data``'s evaluation set:

* :func:`single_checkpoint`: the shared weights as they are, with or without BN recalibration.
* :func:`score_expectation` / :func:`parameter_expectation` (ST-NAS): the mean accuracy over SGLD
  samples of the shared weights (:func:`sgld_samples`), or the accuracy of their mean.
* :func:`weight_averaging` (SE-NAS): :func:`single_checkpoint` on the mean of the shared weights
  over the last epoch's iterations (:class:`graphnas.averaging.WeightAverager`).
* :func:`fine_tune`: the architecture extracted and trained alone for an epoch or two.

``weights`` is a supernet ``state_dict`` (a list of them for the two expectations). ``data`` is an
:class:`EvalData` (``train_set`` for BN recalibration and fine-tuning, ``eval_set`` to score on),
a :class:`~graphnas.data.DataSplits` (its ``train`` and ``val``) or a ``(train_set, eval_set)`` pair.
:data:`ESTIMATORS` names them; :func:`evaluate_archs` scores many architectures with one
estimator, loading each set of weights once.

The supernet is the estimators' workspace: they load ``weights`` into it (so it must be a
``Supernet`` of the space and scale the weights were saved from) and on return it holds them,
BN statistics included (recalibration is undone), or, for the expectations, the last sample or
the mean. Recalibration uses the first ``recal_samples`` images of a ``seed``-ed shuffle of
``train_set``: the same images for every architecture.

SGLD (ST-NAS, Algorithm 2): the posterior ``p(theta | D) ~ exp(-U(theta) / T)`` with
``U = sum_i loss_i`` over the ``N`` training images has the Langevin update
``theta <- theta - eps * grad U + sqrt(2 * eps * T) * xi``. Training minimises the *mean* loss, whose
gradient ``g`` is ``grad U / N`` on a batch, so with the learning rate ``alpha = eps * N``::

    theta <- theta - alpha * g + sqrt(2 * alpha * T / N) * xi,    xi ~ N(0, I)

The paper writes ``sqrt(2 * alpha)`` because its loss is a sum; graphnas's loss is a mean, hence the
``/ N``. ``alpha`` is the final learning rate of supernet training, ``T = 1`` samples the posterior
itself, ``T = 0`` is plain SGD. Noise goes only to tensors that received a gradient this step (the
sampled path); the other operators stay where they are instead of random-walking with nothing to
hold them. A tensor shared by an operator family gets noise as a whole, also outside the slice a
narrow candidate used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .averaging import WeightAverager, running_average
from .data import DataSplits, make_loader
from .estimate import EstimatorError, _device, score_path
from .samplers import Sampler
from .train import TrainConfig, train

__all__ = ["EvalData", "as_eval_data", "single_checkpoint", "sgld_samples", "score_expectation",
           "parameter_expectation", "fine_tune", "weight_averaging", "ESTIMATORS", "evaluate_archs",
           "WeightAverager", "running_average"]

Estimator = Callable[..., float]
_BN = nn.modules.batchnorm._BatchNorm


@dataclass(frozen=True)
class EvalData:
    """What an estimator needs of the data.

    Args:
        train_set (Dataset): images for BN recalibration and fine-tuning.
        eval_set (Dataset): images the accuracy is measured on.
        batch_size (int, optional): evaluation batch size. (default: 256)
    """

    train_set: Dataset
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


# ---------------------------------------------------------------------- weights in and out
def _clone(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def _load(supernet: nn.Module, weights, what: str = "weights") -> None:
    """Load one state dict into ``supernet``; a one-line EstimatorError when it is not one or does not fit."""
    if not isinstance(weights, Mapping):
        hint = (" (a list of SGLD samples goes to score_expectation or parameter_expectation)"
                if isinstance(weights, (list, tuple)) else "")
        raise EstimatorError(f"{what} must be a supernet state_dict, got {type(weights).__name__}{hint}")
    try:
        supernet.load_state_dict(weights)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:200]
        raise EstimatorError(f"{what} do not fit this supernet ({detail}): pass a state_dict saved from a "
                             "Supernet of the same space and scale") from None


def _sample_list(samples) -> list:
    if isinstance(samples, Mapping) or not isinstance(samples, Iterable):
        raise EstimatorError(f"samples must be a list of supernet state_dicts (from sgld_samples), got "
                             f"{type(samples).__name__}: use single_checkpoint for one state_dict")
    samples = list(samples)
    if not samples:
        raise EstimatorError("samples is empty: draw at least one with sgld_samples(..., num_samples=K)")
    return samples


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


def _bar(total: int, progress: bool, desc: str):
    return tqdm(total=total, desc=desc, disable=not progress, leave=False, unit="arch")


def _score_loaded(supernet, archs, data: EvalData, recal: bool, recal_samples: int, seed: int, bar) -> list[float]:
    """Scores of ``archs`` with the weights ``supernet`` holds; its BN statistics are left as they were."""
    scores = []
    with _bn_kept(supernet):
        for arch in archs:
            scores.append(score_path(supernet, data.eval_set, arch, data.train_set if recal else None,
                                     recal_samples, seed, data.batch_size))
            bar.update(1)
    return scores


# ---------------------------------------------------------------------- single checkpoint
def _checkpoint_many(supernet, weights, archs, data, recal=True, recal_samples=512, seed=0, progress=False,
                     desc="single_checkpoint") -> list[float]:
    data, archs = as_eval_data(data), list(archs)
    _load(supernet, weights)
    with _bar(len(archs), progress, desc) as bar:
        return _score_loaded(supernet, archs, data, recal, recal_samples, seed, bar)


def single_checkpoint(supernet, weights, arch, data, recal: bool = True, recal_samples: int = 512,
                      seed: int = 0) -> float:
    """Accuracy of path ``arch`` with the shared ``weights``, with or without BN recalibration.

    Args:
        supernet (Supernet): the workspace the weights are loaded into.
        weights (dict): a supernet state_dict.
        arch (Architecture): the path to score.
        data (EvalData, DataSplits or pair): recalibration and evaluation sets.
        recal (bool, optional): recompute the path's BN statistics first; without it the statistics
            are those accumulated over every path trained (biased). (default: ``True``)
        recal_samples (int, optional): training images used for recalibration. (default: 512)
        seed (int, optional): picks those images; the same for every architecture. (default: 0)

    Returns:
        float: top-1 accuracy on ``data``'s evaluation set, in [0, 1].
    """
    return _checkpoint_many(supernet, weights, [arch], data, recal, recal_samples, seed)[0]


def weight_averaging(supernet, averaged_weights, arch, data, recal: bool = True, recal_samples: int = 512,
                     seed: int = 0) -> float:
    """SE-NAS's estimate: :func:`single_checkpoint` on the shared weights averaged over the last epoch.

    ``averaged_weights`` is the state_dict a :class:`~graphnas.averaging.WeightAverager` produced from
    one ``update(supernet)`` per iteration of the last epoch; floating-point BN statistics are
    averaged too, and recalibrated here when ``recal``. Arguments and result as :func:`single_checkpoint`.
    """
    return single_checkpoint(supernet, averaged_weights, arch, data, recal, recal_samples, seed)


# ---------------------------------------------------------------------- SGLD
def _check_positive(name: str, value, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) \
        and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise EstimatorError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def sgld_samples(supernet, weights, train_set, sampler: Sampler, alpha: float, num_samples: int = 4,
                 batch_size: int = 64, seed: int = 0, temperature: float = 1.0, weight_decay: float = 0.0,
                 progress: bool = True, desc: str = "sgld") -> list[dict[str, Tensor]]:
    """Samples of the shared weights by stochastic gradient Langevin dynamics (ST-NAS, Algorithm 2).

    Continues training from ``weights``, one path from ``sampler`` per step, with the update
    ``theta <- theta - alpha * (grad + weight_decay * theta) + sqrt(2 * alpha * T / N) * noise`` on the
    tensors that received a gradient (derivation in the module docstring), and keeps the state
    after each pass over the data. The supernet runs in train mode, so BN running statistics move
    as in training and each sample carries its own (recalibrated per sample when estimating with
    ``recal``).

    Args:
        supernet (Supernet): workspace; it holds ``weights`` again on return.
        weights (dict): the trained supernet's state_dict to start from.
        train_set (Dataset): training images; ``N = len(train_set)``.
        sampler (callable): ``sampler(rng) -> Architecture``, as in training.
        alpha (float): step size: the final learning rate of supernet training, > 0.
        num_samples (int, optional): ``K``: epochs to run, one sample kept after each. (default: 4)
        batch_size (int, optional): images per step (last incomplete batch dropped). (default: 64)
        seed (int, optional): seeds the batch order, the paths and the noise. (default: 0)
        temperature (float, optional): ``T``; 1 samples the posterior, 0 is plain SGD. (default: 1.0)
        weight_decay (float, optional): L2 term (a Gaussian prior) on tensors with ``ndim > 1``, as
            :func:`graphnas.train.make_optimizer` applies it. (default: 0.0)
        progress (bool, optional): show a tqdm bar. (default: ``True``)

    Returns:
        list of dict: ``K`` state_dicts (copies), the ``k``-th taken after epoch ``k + 1``.
    """
    alpha = _check_positive("alpha (the final learning rate of supernet training)", alpha)
    temperature = _check_positive("temperature", temperature, allow_zero=True)
    weight_decay = _check_positive("weight_decay", weight_decay, allow_zero=True)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise EstimatorError(f"num_samples must be an integer >= 1 (one SGLD sample per epoch), got {num_samples!r}")
    n = len(train_set)
    loader = make_loader(train_set, batch_size, shuffle=True, seed=seed, drop_last=True)
    if len(loader) == 0:
        raise EstimatorError(f"batch_size {batch_size} exceeds the {n} training images: pass batch_size <= {n}")
    start = _clone(weights) if isinstance(weights, Mapping) else weights
    _load(supernet, start)
    std = math.sqrt(2.0 * alpha * temperature / n)
    device = _device(supernet) or torch.device("cpu")
    noise = torch.Generator(device=device).manual_seed(seed)
    rng = np.random.default_rng(seed)
    loss_fn = nn.CrossEntropyLoss()
    was_training = supernet.training
    supernet.train()
    samples = []
    bar = tqdm(total=num_samples * len(loader), desc=desc, disable=not progress, leave=False, unit="step")
    try:
        for _ in range(num_samples):
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                supernet.zero_grad(set_to_none=True)
                loss_fn(supernet(x, sampler(rng)), y).backward()
                with torch.no_grad():
                    for p in supernet.parameters():
                        if p.grad is None:  # not on this step's path
                            continue
                        step = p.grad + weight_decay * p if weight_decay and p.ndim > 1 else p.grad
                        p.sub_(alpha * step)
                        if std:
                            p.add_(torch.randn(p.shape, generator=noise, device=p.device, dtype=p.dtype), alpha=std)
                bar.update(1)
            samples.append(_clone(supernet.state_dict()))
    finally:
        bar.close()
        supernet.zero_grad(set_to_none=True)
        supernet.load_state_dict(start)
        supernet.train(was_training)
    return samples


def _score_expectation_many(supernet, samples, archs, data, recal=True, recal_samples=512, seed=0, progress=False,
                            desc="score_expectation") -> list[float]:
    data, archs, samples = as_eval_data(data), list(archs), _sample_list(samples)
    total = np.zeros(len(archs))
    with _bar(len(archs) * len(samples), progress, desc) as bar:
        for k, state in enumerate(samples):
            _load(supernet, state, f"sample {k}")
            total += _score_loaded(supernet, archs, data, recal, recal_samples, seed, bar)
    return (total / len(samples)).tolist()


def score_expectation(supernet, samples, arch, data, recal: bool = True, recal_samples: int = 512,
                      seed: int = 0) -> float:
    """Mean over the SGLD ``samples`` of :func:`single_checkpoint`'s accuracy (BN recalibrated per sample).

    Args:
        samples (list of dict): supernet state_dicts from :func:`sgld_samples`.
        Others as :func:`single_checkpoint`.
    """
    return _score_expectation_many(supernet, samples, [arch], data, recal, recal_samples, seed)[0]


def _parameter_expectation_many(supernet, samples, archs, data, recal=True, recal_samples=512, seed=0,
                                progress=False, desc="parameter_expectation") -> list[float]:
    mean = running_average(_sample_list(samples))
    return _checkpoint_many(supernet, mean, archs, data, recal, recal_samples, seed, progress, desc)


def parameter_expectation(supernet, samples, arch, data, recal: bool = True, recal_samples: int = 512,
                          seed: int = 0) -> float:
    """:func:`single_checkpoint` on the mean of the SGLD ``samples``.

    The mean follows :mod:`graphnas.averaging`: floating-point tensors, BN running statistics
    included, averaged; ``num_batches_tracked`` from the last sample. With ``recal`` the path's
    statistics are recomputed for the averaged weights anyway. Arguments as :func:`score_expectation`.
    """
    return _parameter_expectation_many(supernet, samples, [arch], data, recal, recal_samples, seed)[0]


# ---------------------------------------------------------------------- fine-tuning
def _fine_tune_config(epochs, lr, batch_size, seed, train_options) -> TrainConfig:
    if lr is None:
        raise EstimatorError("fine_tune needs lr=<the final learning rate of supernet training> "
                             "(TrainConfig.lr * final_lr_ratio, or a small positive value if that is 0)")
    lr = _check_positive("lr", lr)
    options = dict(epochs=epochs, batch_size=batch_size, lr=lr, final_lr_ratio=1.0, seed=seed)
    options.update(train_options or {})
    known = {f.name for f in fields(TrainConfig)}
    if set(options) - known:
        raise EstimatorError(f"unknown train_options {sorted(set(options) - known)}: choose from {sorted(known)}")
    return TrainConfig(**options)


def _fine_tune_many(supernet, weights, archs, data, epochs=1, lr=None, batch_size=64, recal=True,
                    recal_samples=512, seed=0, train_options=None, progress=False, desc="fine_tune") -> list[float]:
    config = _fine_tune_config(epochs, lr, batch_size, seed, train_options)
    data, archs = as_eval_data(data), list(archs)
    _load(supernet, weights)
    scores = []
    with _bar(len(archs), progress, desc) as bar:
        for arch in archs:
            net = supernet.extract(arch)  # a copy: the shared weights stay as loaded
            train(net, data.train_set, config, progress=False, desc=f"{desc} {arch.hash[:8]}")
            scores.append(score_path(net, data.eval_set, None, data.train_set if recal else None, recal_samples,
                                     seed, data.batch_size))
            bar.update(1)
    return scores


def fine_tune(supernet, weights, arch, data, epochs: int = 1, lr: float | None = None, batch_size: int = 64,
              recal: bool = True, recal_samples: int = 512, seed: int = 0, train_options: dict | None = None) -> float:
    """Accuracy of ``arch`` extracted from the shared ``weights`` and trained alone for ``epochs``.

    Training is :func:`graphnas.train.train` at the constant rate ``lr`` (the final learning rate of
    supernet training: the weights are continued, not restarted); the supernet is not changed.

    Args:
        epochs (int, optional): passes over ``data``'s training set. (default: 1)
        lr (float): constant learning rate, required.
        batch_size (int, optional): images per step. (default: 64)
        recal (bool, optional): recompute every BN statistic of the fine-tuned network on
            ``recal_samples`` training images before scoring. Without it the network keeps the running
            statistics fine-tuning left: those copied from the supernet, decayed by BN's momentum
            (0.9 per step) and mixed with the new batches' statistics, which after a few dozen steps are
            practically the fine-tuned network's own. (default: ``True``)
        train_options (dict, optional): further :class:`~graphnas.train.TrainConfig` fields
            (``weight_decay``, ``momentum``, ...). (default: None)
        Others as :func:`single_checkpoint`.
    """
    return _fine_tune_many(supernet, weights, [arch], data, epochs, lr, batch_size, recal, recal_samples, seed,
                           train_options)[0]


# ---------------------------------------------------------------------- registry
#: name -> estimator ``(supernet, weights, arch, data, **options) -> accuracy``.
ESTIMATORS: dict[str, Estimator] = {
    "single_checkpoint": single_checkpoint,
    "weight_averaging": weight_averaging,
    "score_expectation": score_expectation,
    "parameter_expectation": parameter_expectation,
    "fine_tune": fine_tune,
}

_MANY = {single_checkpoint: _checkpoint_many, weight_averaging: _checkpoint_many,
         score_expectation: _score_expectation_many, parameter_expectation: _parameter_expectation_many,
         fine_tune: _fine_tune_many}


def evaluate_archs(estimator: str | Estimator, supernet, weights, archs: Sequence, data, progress: bool = True,
                   desc: str | None = None, **options) -> list[float]:
    """Scores of many architectures with one estimator, each set of weights loaded once.

    Equal to ``[estimator(supernet, weights, a, data, **options) for a in archs]`` (the same images
    recalibrate every architecture), but the weights are loaded (and averaged, for
    ``parameter_expectation``) once, and once per sample for ``score_expectation``.

    Args:
        estimator (str or callable): a name in :data:`ESTIMATORS` or an estimator function; one not
            registered is called per architecture.
        archs (sequence of Architecture): what to score.
        progress (bool, optional): show a tqdm bar. (default: ``True``)
        desc (str, optional): the bar's label. (default: the estimator's name)
        **options: the estimator's keyword options (``recal``, ``lr``, ...).

    Returns:
        list of float: accuracies, in the order of ``archs``.
    """
    if isinstance(estimator, str):
        if estimator not in ESTIMATORS:
            raise EstimatorError(f"unknown estimator {estimator!r}: choose one of {', '.join(ESTIMATORS)}")
        estimator = ESTIMATORS[estimator]
    desc = desc or getattr(estimator, "__name__", "estimate")
    archs = list(archs)
    many = _MANY.get(estimator)
    if many is not None:
        return many(supernet, weights, archs, data, **options, progress=progress, desc=desc)
    scores = []
    for arch in tqdm(archs, desc=desc, disable=not progress, leave=False, unit="arch"):
        scores.append(float(estimator(supernet, weights, arch, data, **options)))
    return scores
