"""The job's estimator: ``config.search.estimator`` over the trained weights (:mod:`graphnas.estimators`)."""

from __future__ import annotations

from ..estimate import SupernetEvaluator
from .config import JobConfig

__all__ = ["job_estimator"]


def job_estimator(config: JobConfig, supernet, weights, data, space):
    """The estimator search scores paths with: ``supernet`` holding ``weights``, scoring on ``data.val`` after
    BN recalibration on ``data.train``."""
    supernet.load_state_dict(weights)
    return SupernetEvaluator(supernet, data.val, data.train, recal_samples=config.search.recal_samples)
