"""SE-NAS's operator scores (SI, SC, Eq. 7) on a synthetic estimator with known answers, and shrinking."""

from __future__ import annotations

import numpy as np
import pytest

from graphnas import ChoiceEdge, GraphnasError, Node, SearchSpace, Stem
from graphnas.cost.limits import Limit
from graphnas.search.senas import operator_scores, shrink

OPS = ("mbconv_k3_e1", "mbconv_k3_e3", "mbconv_k5_e3")
W = np.array([[0.0, 0.1, 0.2], [0.0, 0.01, 0.02], [0.3, 0.0, 0.0]])  # accuracy = sum of one weight per edge


def chain(n_edges: int = 3) -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(n_edges + 1)]
    edges = [ChoiceEdge(i, i + 1, "stem", OPS) for i in range(n_edges)]
    return SearchSpace("senas_tiny", nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


class Additive:
    def __init__(self):
        self.seen = []

    def __call__(self, arch) -> float:
        self.seen.append(arch)
        return float(sum(W[e, c] for e, c in enumerate(arch.choices)))


def test_exact_scores_are_the_formulas():
    space = chain()
    s = operator_scores(space, Additive(), samples=None)
    assert s.ops == [(e, op) for e in range(3) for op in OPS] and s.evaluated == 27 and set(s.counts) == {9}
    others = W.mean(axis=1)
    for k, (e, c) in enumerate((e, c) for e in range(3) for c in range(3)):
        assert s.si[k] == pytest.approx(W[e, c] + others.sum() - others[e])  # Eq. 5: mean over the cells with it
    assert [s.sc[e] for e in range(3)] == pytest.approx(W.var(axis=1))  # Eq. 6: variance over the layer
    si_n = 0.01 + 0.99 * (s.si - s.si.min()) / (s.si.max() - s.si.min())
    sc = W.var(axis=1)
    sc_n = 0.01 + 0.99 * (sc - sc.min()) / (sc.max() - sc.min())
    assert s.score == pytest.approx(si_n / np.repeat(sc_n, 3))  # Eq. 7
    # edge 1 is unconfident (its SI spread is tiny): its weak operators score high and survive
    si_only = operator_scores(space, Additive(), samples=None, mode="si")
    assert np.argsort(si_only.score)[:2].tolist() != np.argsort(s.score)[:2].tolist()


def test_sampled_scores_approach_the_exact_ones_and_respect_limits():
    space, ev = chain(), Additive()
    limit = Limit("choices", 4.0, lambda a: float(sum(a.choices)))
    s = operator_scores(space, ev, samples=2000, limits=[limit], rng=0)
    exact = operator_scores(space, Additive(), samples=None, limits=[limit])
    assert all(sum(a.choices) <= 4 for a in ev.seen) and len(ev.seen) == s.evaluated <= 26  # each scored once
    assert s.si == pytest.approx(exact.si, abs=0.01) and set(s.counts) == {2000}


def test_shrink_removes_the_lowest_never_an_edges_last_and_keeps_fairness():
    space = chain()
    s = operator_scores(space, Additive(), samples=None, mode="si")
    sub, removed = shrink(space, s, k=6)
    assert len(removed) == 6 and all(len(e.candidates) >= 1 for e in sub.edges)
    assert sub.size == 1 and sub.parent is space  # 6 of 9 gone: one operator per edge left
    best = max(space.enumerate(), key=lambda a: Additive()(a))
    assert sub.from_parent(best).ops == best.ops  # the best architecture survives a noiseless shrink
    fair, removed = shrink(space, s, k=3, per_edge=1)
    assert sorted(e for e, _ in removed) == [0, 1, 2] and fair.size == 8
    four, _ = shrink(space, s, k=4)
    twice, removed = shrink(four, operator_scores(four, Additive(), samples=None), k=5)
    assert twice.size == 1 and len(removed) == 2  # only 2 of 5 removable: every edge keeps its last operator
    with pytest.raises(GraphnasError, match="k"):
        shrink(space, s, k=0)
    with pytest.raises(GraphnasError, match="another space"):
        shrink(sub, s, k=1)
    with pytest.raises(GraphnasError, match="mode"):
        operator_scores(space, Additive(), mode="sc")
