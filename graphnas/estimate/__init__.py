"""Estimating accuracy under shared weights, and judging the estimates.

* :mod:`.score` -- accuracy of one path, BN recalibration, the :class:`Estimator` protocol
  (``estimator(arch)``, ``score_many``, sharded under torchrun);
* :mod:`.estimators` -- :func:`make_estimator` by name: single checkpoint, weight averaging, SGLD score and
  parameter expectation (:mod:`.sgld`), fine-tuning;
* :mod:`.ranking` -- how well estimates rank architectures (Kendall tau, Spearman rho, top-k), rank plots;
* :mod:`.groundtruth` -- reading a table of measured accuracies (NAS-Bench-201, standalone runs).
"""

from .estimators import ESTIMATORS, estimator_for, make_estimator
from .score import Estimator, EvalData, accuracy, recalibrate_bn, score_path

__all__ = ["ESTIMATORS", "make_estimator", "estimator_for", "Estimator", "EvalData", "accuracy", "recalibrate_bn",
           "score_path"]
