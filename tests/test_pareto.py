"""The one Pareto front (graphnas.search.pareto.front) against a brute-force definition, ties included."""

import doctest

import numpy as np

from graphnas.search import pareto
from graphnas.search.pareto import front


def brute(cost, score) -> set:
    """Rows that no row beats: none with cost <= and score >, and of equal (cost, score) rows the first."""
    on = set()
    for i in range(len(cost)):
        beaten = any(cost[j] <= cost[i] and (score[j] > score[i] or (score[j] == score[i] and
                                                                      (cost[j] < cost[i] or j < i)))
                     for j in range(len(cost)) if j != i)
        if not beaten:
            on.add(i)
    return on


def test_front_is_the_set_no_row_beats_in_cost_order():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        cost = rng.integers(0, 8, n).astype(float)  # few values: many ties
        score = rng.integers(0, 6, n).astype(float)
        got = front(cost, score)
        assert set(got.tolist()) == brute(cost, score)
        assert (np.diff(cost[got]) > 0).all() and (np.diff(score[got]) > 0).all()


def test_doctest():
    assert doctest.testmod(pareto).failed == 0
