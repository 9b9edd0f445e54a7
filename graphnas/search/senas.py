"""SE-NAS's operator scores and shrinking (Eqs. 5-7 and Algorithm 1).

Li et al., "Improving One-Shot NAS with Shrinking-and-Expanding Supernet" (Pattern Recognition 2021). For every
operator ``o`` of every edge ``l`` with a choice:

* **selection importance** ``SI(o)`` (Eq. 5): the mean estimated accuracy of architectures that contain ``o``:
  ``samples`` architectures drawn uniformly with edge ``l`` set to ``o`` (those outside the limits drawn
  again, never scored), or, with ``samples=None``, every architecture of the space that contains ``o``;
* **selection confidence** ``SC(l)`` (Eq. 6): the variance of ``SI`` over the candidates of edge ``l``;
* **score** (Eq. 7): ``normalise(SI(o)) / normalise(SC(l))``, so an operator of low importance in a layer
  whose candidates differ clearly is dropped first. ``normalise`` maps the values (over all operators, resp.
  all edges) linearly onto ``[0.01, 1]``: a zero would make an operator's score zero whatever its layer, or
  divide by zero (graphnas's reading of "normalised"; ``mode="si"`` ranks by SI alone, as an ablation).

:func:`shrink` removes the ``k`` lowest-scoring operators across the space, never the last operator of an
edge (with ``per_edge=1``, at most one per edge, the fairness rule for FairNAS-like spaces), and returns the
shrunk space as an ordinary subspace (:meth:`SearchSpace.subspace`) that every strategy can search.

Scores come in one batch through the estimator protocol (``score_many``, sharded under torchrun); an
architecture drawn for several operators is scored once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..checks import check_int
from ..cost.limits import check_satisfiable
from ..errors import ConstraintError, GraphnasError
from ..space.architecture import Architecture
from ..utils import as_rng
from .history import score_all

__all__ = ["OperatorScores", "operator_scores", "shrink", "merge_groups", "MODES"]

#: How operators are ranked: SE-NAS's SI / SC, or SI alone.
MODES = ("si_sc", "si")
_FLOOR = 0.01  # the low end of a normalised value
_TRIES = 20  # draws per kept architecture before an operator is judged to have none within the limits


def _normalise(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 0:
        return np.ones_like(values)
    return _FLOOR + (1 - _FLOOR) * (values - lo) / (hi - lo)


@dataclass
class OperatorScores:
    """SE-NAS's scores of a space's operators (only edges with a choice).

    Attributes:
        space (SearchSpace): the space scored.
        ops (list of (int, str)): ``(edge, operator)`` pairs, edge by edge in candidate order.
        si (numpy.ndarray): selection importance per pair (NaN where no architecture met the limits).
        sc (dict): edge -> selection confidence (variance of its SI).
        score (numpy.ndarray): Eq. 7's score per pair (``-inf`` where SI is NaN: such operators go first).
        counts (numpy.ndarray): architectures averaged per pair.
        mode (str): ``"si_sc"`` or ``"si"`` (what :attr:`score` ranks by).
    """

    space: object
    ops: list
    si: np.ndarray
    sc: dict
    score: np.ndarray
    counts: np.ndarray
    mode: str = "si_sc"
    evaluated: int = field(default=0)

    def to_dict(self) -> dict:
        return {"space": self.space.name, "mode": self.mode, "evaluated": self.evaluated,
                "ops": [{"edge": e, "op": o, "si": None if np.isnan(s) else float(s),
                         "score": float(c) if np.isfinite(c) else None,
                         "count": int(n)} for (e, o), s, c, n in zip(self.ops, self.si, self.score, self.counts)],
                "sc": {str(e): float(v) for e, v in self.sc.items()}}


def _draw(space, edge: int, choice: int, n: int, rng: np.random.Generator, limits: Sequence) -> list[Architecture]:
    radices = np.asarray(space.radices)
    kept, tries = [], 0
    while len(kept) < n and tries < _TRIES * n:
        m = min(n - len(kept), _TRIES * n - tries)
        choices = (rng.random((m, len(radices))) * radices).astype(np.int64)
        choices[:, edge] = choice
        tries += m
        for row in choices:
            arch = Architecture(space, row)
            if all(lim(arch) for lim in limits):
                kept.append(arch)
    return kept


def operator_scores(space, evaluate: Callable, samples: int | None = 1000, limits: Sequence = (), rng=None,
                    mode: str = "si_sc") -> OperatorScores:
    """SI, SC and the score of every operator of ``space`` (see the module docstring).

    Args:
        space (SearchSpace): a space without in-degree constraints.
        evaluate (callable): ``evaluate(arch) -> accuracy`` or an estimator with ``score_many``.
        samples (int, optional): architectures per operator (default: 1,000, the paper's); ``None``: every
            architecture of the space (exact; small spaces such as NAS-Bench-201's 15,625 cells).
        limits (sequence of Limit): architectures outside them are drawn again, never scored.
        rng (int or Generator, optional): seed of the draws.
        mode (str): ``"si_sc"`` (Eq. 7, default) or ``"si"``.
    """
    if mode not in MODES:
        raise GraphnasError(f"unknown SE-NAS score mode {mode!r}; choose one of {', '.join(MODES)}")
    if space.in_degree:
        raise GraphnasError(f"SE-NAS scores need a space without in-degree constraints ('{space.name}' has them)")
    rng = as_rng(rng)
    radices = np.asarray(space.radices)
    edges = [e for e in range(len(radices)) if radices[e] > 1]
    if not edges:
        raise GraphnasError(f"space '{space.name}' has no edge with a choice; there is nothing to score")
    check_satisfiable(space, limits)
    pairs = [(e, c) for e in edges for c in range(int(radices[e]))]
    if samples is None:
        archs = [a for a in space.enumerate() if all(lim(a) for lim in limits)]
        scores = np.asarray(score_all(evaluate, archs))
        choices = np.array([a.choices for a in archs], dtype=np.int64)
        members = [np.flatnonzero(choices[:, e] == c) for e, c in pairs]
        si = np.array([scores[m].mean() if len(m) else np.nan for m in members])
        counts = np.array([len(m) for m in members])
        evaluated = len(archs)
    else:
        check_int("SE-NAS samples", samples, 1)
        drawn = [_draw(space, e, c, samples, rng, limits) for e, c in pairs]
        unique = list({a.hash: a for group in drawn for a in group}.values())
        if not unique:
            raise GraphnasError("SE-NAS: no architecture within the limits was drawn; loosen the limit")
        by_hash = dict(zip((a.hash for a in unique), score_all(evaluate, unique)))
        si = np.array([np.mean([by_hash[a.hash] for a in group]) if group else np.nan for group in drawn])
        counts = np.array([len(group) for group in drawn])
        evaluated = len(unique)
    sc = {}
    for e in edges:
        values = si[[k for k, (pe, _) in enumerate(pairs) if pe == e]]
        values = values[~np.isnan(values)]
        sc[e] = float(values.var()) if len(values) else 0.0
    known = ~np.isnan(si)
    score = np.full(len(pairs), -np.inf)
    si_n = _normalise(si[known]) if known.any() else si[known]
    if mode == "si":
        score[known] = si_n
    else:
        edge_list = list(sc)
        sc_n = dict(zip(edge_list, _normalise(np.array([sc[e] for e in edge_list]))))
        score[known] = si_n / np.array([sc_n[e] for (e, _), k in zip(pairs, known) if k])
    ops = [(e, space.edges[e].candidates[c]) for e, c in pairs]
    return OperatorScores(space, ops, si, sc, score, counts, mode, evaluated)


def shrink(space, scores: OperatorScores, k: int = 10, per_edge: int | None = None, name: str | None = None,
           limits: Sequence = ()):
    """Remove the ``k`` lowest-scoring operators (Algorithm 1), never an edge's last one; ``per_edge`` caps the
    removals per edge (1: FairNAS's fairness). Returns ``(subspace, removed)``: the shrunk space and the
    ``(edge, operator)`` pairs removed, lowest score first (ties: edge, then candidate order).

    With ``limits``, a removal after which no architecture of the space could meet an analytic limit (MAdds,
    parameters, BitOps: :func:`~graphnas.cost.limits.check_satisfiable`) is skipped, so a shrunk space can always
    be searched under the limits its operators were scored under."""
    check_int("SE-NAS k (operators removed per stage)", k, 1)
    if per_edge is not None:
        check_int("SE-NAS per_edge", per_edge, 1)
    if scores.space is not space:
        raise GraphnasError("these scores are of another space; score the space being shrunk")
    left = {e: list(space.edges[e].candidates) for e in range(space.num_edges)}
    taken: dict[int, int] = {}
    removed = []
    order = sorted(range(len(scores.ops)), key=lambda i: (scores.score[i], i))
    for i in order:
        if len(removed) == k:
            break
        e, op = scores.ops[i]
        if len(left[e]) <= 1 or (per_edge is not None and taken.get(e, 0) >= per_edge):
            continue
        left[e].remove(op)
        if limits and not _meetable(space, left, limits):
            left[e].append(op)
            left[e].sort(key=space.edges[e].candidates.index)
            continue
        taken[e] = taken.get(e, 0) + 1
        removed.append((e, op))
    return _restricted(space, left, name or f"{space.name}/shrunk"), removed


def _restricted(space, left: dict, name: str):
    return space.subspace(allowed={e: ops for e, ops in left.items() if len(ops) < len(space.edges[e].candidates)},
                          name=name)


def _meetable(space, left: dict, limits: Sequence) -> bool:
    try:
        check_satisfiable(_restricted(space, left, space.name), limits)
    except ConstraintError:
        return False
    return True


def merge_groups(space, groups: Sequence[Sequence[int]], t: int, edges: Sequence[int] | None = None) -> list:
    """SE-NAS's merging (Section 3.4): adjacent layer spaces joined from shallow to deep while the merged child
    space has at most ``t`` partial models.

    The layer spaces are the earlier ``groups`` (kept whole) and every other edge of ``edges`` (default: the
    edges with a choice in the space ``space`` was shrunk from, even those shrunk to one operator), in edge order; a unit's size is the product of ``space``'s candidate
    counts over its edges. Returns the groups of two or more edges (a lone layer's operators already have their
    own weights), as lists of edge positions.
    """
    check_int("SE-NAS t (largest merged child space)", t, 1)
    radices = [len(e.candidates) for e in space.edges]
    if edges is None:
        root = space
        while root.parent is not None:
            root = root.parent
        edges = [e for e, edge in enumerate(root.edges) if len(edge.candidates) > 1]
    edges = [int(e) for e in edges]
    grouped = {i: tuple(g) for g in groups for i in g}
    units, seen = [], set()
    for e in sorted(set(edges) | set(grouped)):
        if e in seen:
            continue
        unit = grouped.get(e, (e,))
        seen.update(unit)
        units.append(list(unit))
    merged, current, size = [], [], 0
    for unit in units:
        n = math.prod(radices[i] for i in unit)
        if current and size * n <= t:
            current += unit
            size *= n
        else:
            merged.append(current)
            current, size = list(unit), n
    merged.append(current)
    return [g for g in merged if len(g) > 1]
