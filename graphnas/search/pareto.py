"""Pareto fronts: accuracy against one cost (:func:`front`, for every caller: search results, lookup labelling)
and against several (:func:`nondominated`)."""

from __future__ import annotations

import numpy as np

__all__ = ["front", "nondominated", "hypervolume"]


def front(cost, score) -> np.ndarray:
    """Positions of the rows that no other row beats in ``score`` at lower or equal ``cost``, in cost order.

    Rows are walked by cost (ties: higher score first, then lower position); a row is on the front when its
    score is above every score before it, so of equal rows only the first is.

    >>> front([3, 1, 2, 2], [0.9, 0.5, 0.7, 0.8]).tolist()
    [1, 3, 0]
    """
    cost, score = np.asarray(cost, dtype=np.float64), np.asarray(score, dtype=np.float64)
    order = np.lexsort((np.arange(len(cost)), -score, cost))
    s = score[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
    return order[s > best_before]


def nondominated(points, maximize=None) -> np.ndarray:
    """Positions of the rows of ``points`` (n x d) that no other row dominates (at least as good in every
    column, better in one), in row order; equal rows are all kept. ``maximize`` (d bools, default: the first
    column up, the rest down) says which columns are better high.

    >>> nondominated([[0.9, 3], [0.5, 1], [0.7, 2], [0.6, 2]]).tolist()
    [0, 1, 2]
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError("points must be a 2-D array, one row per point")
    if maximize is None:
        maximize = [True] + [False] * (p.shape[1] - 1)
    q = np.where(np.asarray(maximize, dtype=bool), -p, p)  # every column minimised
    keep = np.ones(len(q), dtype=bool)
    for i in range(len(q)):
        if keep[i]:
            dominated = np.all(q[i] <= q, axis=1) & np.any(q[i] < q, axis=1)
            keep &= ~dominated
    return np.flatnonzero(keep)


def hypervolume(score, cost, ref_score: float, ref_cost: float) -> float:
    """The area of the (score up, cost down) plane that the points dominate, bounded by the reference point
    ``(ref_score, ref_cost)`` (worse than every point counted; points beyond it add nothing).

    >>> hypervolume([0.9, 0.5], [3.0, 1.0], ref_score=0.0, ref_cost=4.0)
    1.9
    """
    score, cost = np.asarray(score, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    ok = (score > ref_score) & (cost < ref_cost)
    idx = front(cost[ok], score[ok])
    s, c = score[ok][idx], cost[ok][idx]  # by cost up, score strictly up
    widths = np.diff(np.append(c, ref_cost))
    return float(np.sum(widths * (s - ref_score)))
