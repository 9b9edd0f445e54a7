"""Weight-sharing performance estimators: how well would this architecture do, judged by a supernet?

:func:`make_estimator` builds one by name; :func:`estimator_for` builds one from what a search job has
(the trained supernet, its data and training config). Every estimator follows the protocol of
:class:`graphnas.estimate.score.Estimator`: ``estimator(arch) -> accuracy`` (top-1 on the evaluation set, in
[0, 1]), ``estimator.score_many(archs)`` (the weights loaded once per batch, sharded over torchrun
ranks), results cached by architecture hash and ``calls`` counting real evaluations. :data:`ESTIMATORS`
names them:

* ``single_checkpoint``: the shared weights as they are, with or without BN recalibration.
* ``weight_averaging`` (SE-NAS): single checkpoint on the mean of the shared weights over the last
  epoch's iterations (:class:`graphnas.train.averaging.WeightAverager`).
* ``score_expectation`` / ``parameter_expectation`` (ST-NAS): the mean accuracy over SGLD samples of
  the shared weights (:func:`graphnas.estimate.sgld.sgld_samples`), or the accuracy of their mean.
* ``fine_tune``: the architecture extracted and trained alone for an epoch or two.

``data`` is an :class:`~graphnas.estimate.score.EvalData` (``train_set`` for BN recalibration, fine-tuning
and SGLD, ``eval_set`` to score on), a :class:`~graphnas.train.data.DataSplits` (its ``train`` and ``val``)
or a ``(train_set, eval_set)`` pair.

The supernet is the estimators' workspace: they load the weights into it (so they must come from a
``Supernet`` of the same space and scale) and after scoring it holds them, BN statistics included
(recalibration is undone): the last SGLD sample for ``score_expectation``, their mean for
``parameter_expectation``. ``weights=None`` scores the weights the supernet holds, without loading.
Recalibration uses the first ``recal_samples`` images of a ``seed``-ed shuffle of ``train_set``: the
same images for every architecture.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields

from ..train.averaging import WeightAverager, running_average
from ..checks import check_float, check_int
from ..errors import EstimatorError
from .score import Estimator, EvalData, SupernetEvaluator, _check_state, _load, _weight_list, as_eval_data
from .sgld import NOISE, sgld_samples
from ..train.loop import TrainConfig, train

__all__ = ["ESTIMATORS", "make_estimator", "estimator_for", "check_step", "Estimator", "SupernetEvaluator", "FineTune",
           "EvalData", "as_eval_data", "sgld_samples", "NOISE", "WeightAverager", "running_average"]

#: Estimator names -> one-line help (for a command line's ``choices`` and help).
ESTIMATORS: dict[str, str] = {
    "single_checkpoint": "the shared weights as trained (BN recalibrated per path)",
    "weight_averaging": "the shared weights averaged over the last training epoch (SE-NAS)",
    "score_expectation": "mean accuracy over SGLD samples of the shared weights (ST-NAS)",
    "parameter_expectation": "accuracy of the mean of SGLD samples of the shared weights (ST-NAS)",
    "fine_tune": "the path extracted and trained alone briefly at the final learning rate",
}

_COMMON = ("recal", "recal_samples", "seed")
_SGLD = ("samples", "sampler", "alpha", "num_samples", "batch_size", "noise", "temperature", "weight_decay",
         "sgld_seed", "progress")
_OPTIONS = {
    "single_checkpoint": _COMMON,
    "weight_averaging": _COMMON,
    "score_expectation": _COMMON + _SGLD,
    "parameter_expectation": _COMMON + _SGLD,
    "fine_tune": _COMMON + ("epochs", "lr", "batch_size", "train_options"),
}


def _check_name(name) -> str:
    if name not in ESTIMATORS:
        raise EstimatorError(f"unknown estimator {name!r}: choose one of {', '.join(ESTIMATORS)}")
    return name


class FineTune(Estimator):
    """The accuracy of a path extracted from the shared weights and trained alone (the ``fine_tune`` estimator).

    Training is :func:`graphnas.train.loop.train` with ``config`` on ``data``'s training set; the supernet is
    not changed. Under torchrun that training is data-parallel, so every rank fine-tunes every
    architecture (``shard`` is False) and ``__call__`` and ``score_many`` are collective.

    Args:
        supernet (Supernet): the shared weights, or the workspace ``weights`` are loaded into.
        data (EvalData, DataSplits or pair): training and evaluation sets.
        config (TrainConfig): the fine-tuning run (``make_estimator`` makes it: constant rate ``lr``).
        weights (dict, optional): a state dict to load first; ``None``: what ``supernet`` holds.
        recal (bool): recompute every BN statistic of the fine-tuned network on ``recal_samples``
            training images before scoring. Without it the network keeps the running statistics
            fine-tuning left: those copied from the supernet, decayed by BN's momentum (0.9 per step)
            and mixed with the new batches', which after a few dozen steps are practically its own.
        recal_samples, seed: as :class:`~graphnas.estimate.score.Estimator`.
    """

    name = "fine_tune"
    shard = False

    def __init__(self, supernet, data, config: TrainConfig, *, weights=None, recal: bool = True,
                 recal_samples: int = 512, seed: int = 0) -> None:
        super().__init__(supernet, data, recal, recal_samples, seed)
        if self.data.train_set is None:
            raise EstimatorError("fine_tune needs a train_set to train on")
        self.config = config
        self.weights = _weight_list(supernet, None if weights is None else _check_state(weights))

    def _score(self, archs: list, bar) -> list[float]:
        for state in self.weights:
            _load(self.supernet, state)
        scores = []
        for arch in archs:
            net = self.supernet.extract(arch)  # a copy: the shared weights stay as loaded
            train(net, self.data.train_set, self.config, progress=False, desc=f"{self.name} {arch.hash[:8]}")
            scores.append(self._score_path(net, None))
            bar.update(1)
        return scores


def _fine_tune_config(epochs=1, lr=None, batch_size=64, seed=0, train_options=None) -> TrainConfig:
    if lr is None:
        raise EstimatorError("fine_tune needs lr=<the final learning rate of supernet training> "
                             "(TrainConfig.lr * final_lr_ratio, or a small positive value if that is 0)")
    options = dict(epochs=check_int("epochs", epochs, 1, error=EstimatorError),
                   batch_size=check_int("batch_size", batch_size, 1, error=EstimatorError),
                   lr=check_float("lr", lr, 0, lo_open=True, error=EstimatorError), final_lr_ratio=1.0, seed=seed)
    if train_options is not None and not isinstance(train_options, Mapping):
        raise EstimatorError(f"train_options must be a dict of TrainConfig fields, got {type(train_options).__name__}")
    options.update(train_options or {})
    known = {f.name for f in fields(TrainConfig)}
    if set(options) - known:
        raise EstimatorError(f"unknown train_options {sorted(set(options) - known)}: choose from {sorted(known)}")
    return TrainConfig(**options)


def _sgld_weights(name: str, supernet, weights, data: EvalData, options: dict, seed: int) -> list:
    """The SGLD samples of an expectation: ``samples`` as given, or drawn from ``weights`` with ``options``."""
    samples = options.pop("samples", None)
    if isinstance(weights, (list, tuple)):
        raise EstimatorError(f"{name}: weights is a list; pass SGLD samples as samples=[...] (weights is the "
                             f"state_dict they are drawn from)")
    if samples is not None:
        if weights is not None or options:
            extra = ["weights"] * (weights is not None) + sorted(options)
            raise EstimatorError(f"{name}: samples are given, so {', '.join(extra)} (what draws them) do not apply; "
                                 f"drop them or drop samples")
        if isinstance(samples, Mapping) or not isinstance(samples, Iterable):
            raise EstimatorError(f"samples must be a list of supernet state_dicts (from sgld_samples), got "
                                 f"{type(samples).__name__}: use single_checkpoint for one state_dict")
        return list(samples)
    if options.get("sampler") is None or options.get("alpha") is None:
        raise EstimatorError(f"{name} draws SGLD samples from the weights: pass sampler=<the training sampler> and "
                             f"alpha=<the final learning rate of supernet training>, or samples=[state_dict, ...]")
    if data.train_set is None:
        raise EstimatorError(f"{name} draws SGLD samples on a train_set: pass one in data")
    if "noise" in options and options["noise"] not in NOISE:
        raise EstimatorError(f"unknown SGLD noise {options['noise']!r}: choose one of {', '.join(NOISE)}")
    sampler, alpha = options.pop("sampler"), options.pop("alpha")
    seed, progress = options.pop("sgld_seed", seed), options.pop("progress", False)
    return sgld_samples(supernet, weights, data.train_set, sampler, alpha, seed=seed, progress=progress,
                        desc=f"{name} sgld", **options)


def make_estimator(name: str, supernet, weights, data, **options) -> Estimator:
    """The estimator ``name`` of :data:`ESTIMATORS` on ``supernet``.

    Args:
        name (str): ``single_checkpoint``, ``weight_averaging``, ``score_expectation``,
            ``parameter_expectation`` or ``fine_tune``.
        supernet (Supernet): the workspace (module docstring).
        weights (dict, optional): a supernet state dict: the trained weights (``single_checkpoint``,
            ``fine_tune``; ``None`` scores what ``supernet`` holds), the weights averaged over the last
            epoch (``weight_averaging``, required), the weights SGLD starts from (the expectations;
            ``None``: what ``supernet`` holds; must be ``None`` when ``samples`` are given).
        data (EvalData, DataSplits or pair): training and evaluation sets.
        **options: every estimator: ``recal`` (bool, default True: recompute the path's BN statistics
            first), ``recal_samples`` (default 512), ``seed`` (which recalibration images, default 0).
            The expectations: ``samples`` (a list of state dicts from :func:`~graphnas.estimate.sgld.sgld_samples`),
            or, to draw them here, ``sampler`` and ``alpha`` (required), ``num_samples`` (4), ``batch_size``
            (64), ``noise`` (``"eq9"`` or ``"tempered"``), ``temperature``, ``weight_decay`` (0),
            ``sgld_seed`` (default ``seed``), ``progress`` (False): :func:`~graphnas.estimate.sgld.sgld_samples`'s.
            ``fine_tune``: ``lr`` (required: the final learning rate of supernet training), ``epochs``
            (1), ``batch_size`` (64), ``train_options`` (further TrainConfig fields).

    Returns:
        Estimator: ``estimator(arch) -> float`` and ``estimator.score_many(archs) -> list[float]``.

    Raises:
        EstimatorError: an unknown name or option, a bad value, weights that do not fit.
    """
    _check_name(name)
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise EstimatorError(f"unknown option{'s' * (len(unknown) > 1)} {', '.join(unknown)} for estimator "
                             f"{name!r}: choose from {', '.join(_OPTIONS[name])}")
    data = as_eval_data(data)
    recal = options.pop("recal", True)
    if not isinstance(recal, bool):
        raise EstimatorError(f"recal={recal!r} must be True or False")
    common = dict(recal_samples=options.pop("recal_samples", 512), seed=options.pop("seed", 0))
    if name == "fine_tune":
        config = _fine_tune_config(seed=common["seed"], **options)
        return FineTune(supernet, data, config, weights=weights, recal=recal, **common)
    if name in ("score_expectation", "parameter_expectation"):
        weights = _sgld_weights(name, supernet, weights, data, options, common["seed"])
        if name == "parameter_expectation":
            weights = running_average(_weight_list(supernet, weights))
    elif weights is None and name == "weight_averaging":
        raise EstimatorError("weight_averaging needs the averaged weights: fit(..., average_last_epoch=True)"
                             ".averaged_state_dict, or `graphnas train --average-last-epoch`")
    elif weights is not None:
        _check_state(weights)
    return SupernetEvaluator(supernet, data.eval_set, data.train_set if recal else None, batch_size=data.batch_size,
                             weights=weights, name=name, **common)


def check_step(name: str, train_config: TrainConfig, options: Mapping) -> str | None:
    """The option that sets estimator ``name``'s step (``alpha`` for SGLD, ``lr`` for fine-tuning) when it
    defaults to the final learning rate of ``train_config``, else ``None``; one line when that rate is 0 and
    ``options`` give no step (a job checks this before training, not after)."""
    _check_name(name)
    rate = {"score_expectation": "alpha", "parameter_expectation": "alpha", "fine_tune": "lr"}.get(name)
    if rate is None or "samples" in options:
        return None
    if rate not in options and train_config.lr * train_config.final_lr_ratio <= 0:
        raise EstimatorError(f"{name} steps at the final learning rate of supernet training, lr * final_lr_ratio "
                             f"= {train_config.lr:g} * {train_config.final_lr_ratio:g} = 0: train with "
                             f"final_lr_ratio > 0 (--final-lr-ratio 0.05), or pass {rate}=<a small positive step> "
                             f"(--estimator-option {rate}=0.005)")
    return rate


def estimator_for(name: str, supernet, data, train_config: TrainConfig, sampler=None, recal_samples: int = 512,
                  seed: int = 0, *, weights=None, averaged=None, **options) -> Estimator:
    """The estimator ``name`` built from what a search job has, with the defaults the methods prescribe.

    SGLD's step size ``alpha`` and fine-tuning's ``lr`` default to the final learning rate of supernet
    training, ``train_config.lr * train_config.final_lr_ratio``; their ``batch_size`` to training's; SGLD's
    ``weight_decay`` to training's (the same objective, continued) and ``sgld_seed`` to ``seed``.

    Args:
        name (str): a name of :data:`ESTIMATORS`.
        supernet (Supernet): the trained supernet (holding its weights, or the workspace for ``weights``).
        data (DataSplits, EvalData or pair): its ``train`` and ``val`` sets.
        train_config (TrainConfig): how the supernet was trained.
        sampler (callable, optional): the path sampler of training; the SGLD expectations need it.
        recal_samples (int): images for BN recalibration (default: 512).
        seed (int): which images, and SGLD's seed (default: 0).
        weights (dict, optional): weights to load; ``None``: what ``supernet`` holds.
        averaged (dict, optional): the weights averaged over the last epoch; ``weight_averaging`` needs them.
        **options: further options of :func:`make_estimator` (``recal``, ``num_samples``, ``noise``, ...).

    Returns:
        Estimator: as :func:`make_estimator`.
    """
    rate = check_step(name, train_config, options)
    final_lr = train_config.lr * train_config.final_lr_ratio
    built = dict(recal_samples=recal_samples, seed=seed)
    if rate is not None:
        built.update({rate: final_lr, "batch_size": train_config.batch_size})
        if rate == "alpha":
            built.update(sampler=sampler, weight_decay=train_config.weight_decay)
    if name == "weight_averaging":
        weights = averaged
    return make_estimator(name, supernet, weights, data, **{**built, **options})
