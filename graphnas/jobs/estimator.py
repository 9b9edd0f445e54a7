"""The job's estimator: ``config.search.estimator`` over the trained weights (:mod:`graphnas.estimate.estimators`)."""

from __future__ import annotations

from dataclasses import fields

from ..estimate.estimators import estimator_for
from ..train.samplers import make_sampler
from ..train.loop import TrainConfig
from .config import JobConfig

__all__ = ["job_estimator"]

#: Estimators that continue training the shared weights (SGLD, fine-tuning): they need training's options.
_CONTINUE = ("score_expectation", "parameter_expectation", "fine_tune")


def job_estimator(config: JobConfig, supernet, weights, data, space, trained_options: dict | None = None):
    """The estimator search scores paths with: ``config.search.estimator`` on ``weights`` (the final weights,
    or the last epoch's average for ``weight_averaging``), scoring ``data.val`` after BN recalibration on
    ``recal_samples`` images of ``data.train``, with ``config.search.estimator_options`` on top.

    SGLD's step and fine-tuning's rate follow the training that made the weights
    (:func:`graphnas.estimate.estimators.estimator_for`): ``trained_options`` (a searched checkpoint's) or the job's.
    """
    s = config.search
    if trained_options is not None:
        known = {f.name for f in fields(TrainConfig)}
        train_config = TrainConfig(**{k: v for k, v in trained_options.items() if k in known})
    else:
        train_config = config.train_config()
    sampler = (make_sampler(config.training.sampler, space, **config.training.sampler_options)
               if s.estimator in _CONTINUE else None)
    averaged = weights if s.estimator == "weight_averaging" else None
    return estimator_for(s.estimator, supernet, data, train_config, sampler, s.recal_samples, config.seed,
                         weights=None if averaged is not None else weights, averaged=averaged,
                         **s.estimator_options)
