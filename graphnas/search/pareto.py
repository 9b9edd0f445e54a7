"""The accuracy-cost Pareto front, one function for every caller (search results, lookup labelling)."""

from __future__ import annotations

import numpy as np

__all__ = ["front"]


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
