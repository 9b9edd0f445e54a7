"""Estimating accuracy under shared weights, and judging the estimates.

* :mod:`.score` -- accuracy of one path, BN recalibration, the :class:`Estimator` protocol
  (``estimator(arch)``, ``score_many``, sharded under torchrun);
* :mod:`.estimators` -- :func:`make_estimator` by name: single checkpoint, weight averaging, SGLD score and
  parameter expectation (:mod:`.sgld`), fine-tuning;
* :mod:`.minibatch` -- a path's accuracy on one mini-batch (PC-NAS's potentials), under the same protocol;
* :mod:`.ranking` -- how well estimates rank architectures (Kendall tau, Spearman rho, top-k), rank plots;
* :mod:`.groundtruth` -- reading a table of measured accuracies (NAS-Bench-201, standalone runs).
"""

from .estimators import ESTIMATORS, estimator_for, make_estimator
from .minibatch import MiniBatchEstimator
from .score import Estimator, EvalData, accuracy, recalibrate_bn, score_path

__all__ = ["ESTIMATORS", "make_estimator", "estimator_for", "Estimator", "EvalData", "MiniBatchEstimator", "accuracy",
           "recalibrate_bn", "score_path"]
