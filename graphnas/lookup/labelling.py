"""Which architectures of a (sub)space to measure, so that a lookup table answers every limit well (GCN-NAS).

GCN-NAS labels architectures drawn at random, trains the GCN, and re-evaluates the top predictions
under *the* limit. A lookup table answers limits not known yet, so the re-evaluations go to the
predicted accuracy-cost *front* instead: the architectures no other one beats in both predicted
accuracy and cost, layer after layer (the front, then the front of what is left, ...), in a few
rounds with the GCN retrained on everything measured so far. The table then ranks measured rows
first (:mod:`graphnas.lookup`), so the answer under any limit is the best measured architecture
near the front, and the predictor's errors cost only the front rows it failed to propose. The measuring,
fitting and re-scoring is :func:`graphnas.predictor.label_fit_rescore`, as in the gcn search.

``tools/bench_lookup_nb201.py`` compares this with random labels ranked by prediction on NAS-Bench-201
(BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ..errors import LookupTableError
from ..search.pareto import front
from ..utils import as_rng

__all__ = ["front_layers", "label_and_predict"]


def front_layers(cost, score, n: int, exclude=()) -> np.ndarray:
    """Up to ``n`` row ids, Pareto layer by layer over (low ``cost``, high ``score``), skipping ``exclude``.

    A row is on a layer when no remaining row has lower-or-equal cost and a higher score (cost ties
    go to the higher score, then the lower id). Within a layer the highest scores come first, so a
    partial last layer keeps its best rows.
    """
    cost, score = np.asarray(cost, dtype=np.float64), np.asarray(score, dtype=np.float64)
    if cost.shape != score.shape or cost.ndim != 1:
        raise LookupTableError(f"cost and score must be 1-d arrays of one length, got {cost.shape} and {score.shape}")
    available = np.ones(len(cost), dtype=bool)
    available[np.asarray(list(exclude), dtype=np.int64)] = False
    picked: list[int] = []
    while len(picked) < n and available.any():
        ids = np.flatnonzero(available)
        layer = ids[front(cost[ids], score[ids])]
        layer = layer[np.lexsort((layer, -score[layer]))][: n - len(picked)]
        picked.extend(layer.tolist())
        available[layer] = False
    return np.array(picked, dtype=np.int64)


def label_and_predict(space, score: Callable[[int], float], labels: int, *, cost=None, reevaluate: int | None = None,
                      rounds: int = 2, rng=None, predictor: dict | None = None,
                      progress: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """Measure ``labels`` architectures of ``space`` (module doc) and predict the rest with a GCN.

    Args:
        space (SearchSpace): a (sub)space without in-degree constraints, small enough to predict whole.
        score (callable): ``score(v) -> float`` for node ``v`` (``space.from_index(v)``), higher is better.
        labels (int): architectures measured in all (at least 8).
        cost (array_like, optional): ``(space.size,)`` cost of every node (latency or MAdds): the front's
            other axis. Without it every label is drawn at random.
        reevaluate (int, optional): how many of ``labels`` go to the predicted front (default a fifth);
            the rest are drawn uniformly first.
        rounds (int): front rounds, each after a GCN fit on everything measured so far (default 2).
        rng (int or Generator, optional): seeds the draw and the predictor.
        predictor (dict, optional): options of :func:`~graphnas.predictor.predict_space` over
            :data:`graphnas.predictor.SEARCH_OPTIONS`.
        progress (bool): show a progress bar.

    Returns:
        ``(predicted, measured, info)``: float64 ``(space.size,)`` predictions (the last fit's; the measured
        values themselves when the whole space was measured), measured values (NaN where not measured),
        and a JSON-able dict: ``labels``, ``random``, ``front`` (measured on the front), ``fits`` (one dict
        per GCN fit: labels, validation tau, epochs, seconds), ``options``, ``out_of_sample`` (``[node, value]``
        pairs: the last fit's out-of-sample predictions of measured nodes, for ``LookupTable.build``).
    """
    from ..predictor import job_options, label_fit_rescore

    if labels < 8:
        raise LookupTableError(f"labels={labels} is too few to train a predictor; give at least 8")
    rng = as_rng(rng)
    size = int(space.size)
    cost = None if cost is None else np.asarray(cost, dtype=np.float64)
    if cost is not None and cost.shape != (size,):
        raise LookupTableError(f"cost must give one value per architecture ({size}), got shape {cost.shape}")
    front_total = 0 if cost is None else (labels // 5 if reevaluate is None else int(reevaluate))
    if not 0 <= front_total < labels or rounds < 0:
        raise LookupTableError(f"reevaluate={reevaluate} must be at least 0 and below labels={labels}, and "
                               f"rounds={rounds} at least 0")
    rounds = min(rounds, front_total)
    front_total = front_total if rounds else 0
    options = job_options(predictor, labels, space)
    bar = tqdm(total=min(labels, size), desc="lookup labels", disable=not progress, leave=False, unit="arch")

    def measure(v: int) -> float:
        value = float(score(v))
        bar.update(1)
        return value

    def front_pick(share: int):
        return lambda predicted, measured: front_layers(cost, predicted, share,
                                                        exclude=np.flatnonzero(~np.isnan(measured)))

    every = size <= labels  # measure everything: nothing to predict
    first = range(size) if every else np.sort(rng.choice(size, labels - front_total, replace=False))
    shares = [] if every else [front_total // rounds + (1 if r < front_total % rounds else 0) for r in range(rounds)]
    run = label_fit_rescore(space, measure, first, [front_pick(n) for n in shares], rng=rng, predictor=predictor)
    bar.close()
    oos = run.out_of_sample
    info = {"labels": len(run.order), "random": len(first), "front": 0 if every else front_total, "fits": run.fits,
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
            "out_of_sample": [] if oos is None else [[int(v), float(oos[v])] for v in np.flatnonzero(np.isfinite(oos))]}
    return run.predicted, run.measured, info
