"""Label, fit, re-score: GCN-NAS's loop over a (sub)space small enough to predict whole.

1. Measure the ``first`` nodes (architectures drawn at random, or every node of a small space) with the
   caller's ``score`` (a supernet estimator, a benchmark table).
2. Fit the GCN predictor on every node measured so far (:func:`~graphnas.predictor.fit.predict_space`,
   labels in node order, the seed drawn from ``rng``) and predict every node.
3. Re-score: each ``pick(predicted, measured)`` names nodes to measure next from the predictions; they
   are measured, the predictor is fitted again (unless ``refit=False``) and the next pick follows.

:func:`graphnas.search.gcn_search` re-scores once, the best predictions that meet the limits, and keeps
the best measured architecture; :func:`graphnas.lookup.label_and_predict` re-scores the predicted
accuracy-cost front in rounds and keeps the last predictions for a lookup table. A space whose every
node was measured in step 1 needs no predictor: its predictions are its measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..space.encoding import size_of
from .fit import job_options, out_of_sample_array, predict_space

__all__ = ["Labelled", "label_fit_rescore"]

#: ``pick(predicted, measured) -> node ids``: both ``(size,)`` float64, ``measured`` NaN where not measured.
Pick = Callable[[np.ndarray, np.ndarray], Sequence[int]]


@dataclass
class Labelled:
    """What :func:`label_fit_rescore` measured and predicted.

    Attributes:
        predicted (ndarray): float64 ``(size,)``: the last fit's predictions (the measurements themselves
            when every node was measured first).
        measured (ndarray): float64 ``(size,)``: the measurements, NaN where a node was not measured.
        order (ndarray): int64, the measured nodes in the order they were measured.
        fits (list of dict): one per fit: ``labels``, ``best_val_tau``, ``epochs_run``, ``seconds``.
        out_of_sample (ndarray or None): float64 ``(size,)``: the last fit's out-of-sample predictions of
            the measured nodes its validation split held out, NaN elsewhere (``None`` without a fit).
    """

    predicted: np.ndarray
    measured: np.ndarray
    order: np.ndarray
    fits: list = field(default_factory=list)
    out_of_sample: np.ndarray | None = None


def label_fit_rescore(space, score: Callable[[int], float], first, picks: Sequence[Pick] = (), *, rng,
                      predictor: dict | None = None, refit: bool = True) -> Labelled:
    """Measure ``first``, fit the GCN predictor, and re-score the nodes each of ``picks`` names (module doc).

    Args:
        space (SearchSpace or sequence of int): the (sub)space whose nodes are numbered by
            :func:`graphnas.space.encoding.indices_of`, or its radices; a fit needs one without in-degree constraints.
        score (callable): ``score(v) -> float`` for node ``v``, higher is better; called once per measured
            node, in the order measured.
        first (array_like of int): the nodes measured first, in this order.
        picks (sequence of callables): the re-score steps, each ``pick(predicted, measured) -> node ids``
            after a fit (``measured`` is NaN where a node was not measured); nodes measured before are
            skipped. Not called when every node was measured first.
        rng (numpy Generator): draws each fit's seed.
        predictor (dict, optional): options of :func:`~graphnas.predictor.fit.predict_space` over
            :data:`~graphnas.predictor.fit.SEARCH_OPTIONS` (see :func:`~graphnas.predictor.fit.job_options`).
        refit (bool): fit again after each pick's measurements (default); ``False``: fit once, after
            ``first``, and return those predictions.

    Returns:
        Labelled: the predictions, the measurements, their order and one record per fit.

    Raises:
        PredictorError: a fit's labels are not finite, too few, or the space has in-degree constraints.
    """
    size = size_of(space)
    measured = np.full(size, np.nan)
    known = np.zeros(size, dtype=bool)
    order: list[int] = []

    def measure(ids) -> None:
        for v in (int(v) for v in ids):
            if not known[v]:
                measured[v] = float(score(v))
                known[v] = True
                order.append(v)

    def fit() -> np.ndarray:
        nodes = np.flatnonzero(known)
        pred, history = predict_space(space, {int(v): float(measured[v]) for v in nodes},
                                      seed=int(rng.integers(2**31)), **job_options(predictor, len(nodes), space))
        fits.append({"labels": len(nodes), "best_val_tau": history.get("best_val_tau"),
                     "epochs_run": history.get("epochs_run"), "seconds": history.get("seconds")})
        last[0] = out_of_sample_array(history.get("out_of_sample", {}), size)
        return pred

    last: list = [None]

    fits: list[dict] = []
    measure(first)
    if known.all():
        return Labelled(measured.copy(), measured, np.array(order, dtype=np.int64))
    predicted = fit()
    for pick in picks:
        measure(pick(predicted, measured.copy()))
        if refit:
            predicted = fit()
    return Labelled(predicted, measured, np.array(order, dtype=np.int64), fits, last[0])
