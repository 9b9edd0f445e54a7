"""GCN-NAS iterative search: segments of choice edges, a GCN over each segment's Hamming graph, super-cells.

A whole space is too large for one Hamming graph, so the choice edges are cut into consecutive
*segments* (FairNAS's 19 layers: 7, 6, 6). Segment ``s`` is searched with every other edge fixed to
the best architecture so far:

1. its subspace is the product of the segment's candidates and, after the first segment, one extra
   *super-cell* position whose candidates are the ``top_k`` best sub-architectures kept from the
   segments before (so with FairNAS's 6 choices and K = 6 the second subspace is 6^6 x 6 = 6^7);
2. ``labels`` architectures of it, drawn uniformly, are scored with the estimator (``evaluate``);
3. a GCN over the subspace's Hamming-1 graph with Gray-code features (:mod:`graphnas.predictor`)
   predicts every other one;
4. the ``reevaluate`` best predictions that meet the limits are scored with the estimator, and the
   best scored architecture becomes the current one; the ``top_k`` best scored ones become the next
   super-cell.

Without ``segments``, consecutive free edges are grouped while the subspace stays within
``max_nodes`` nodes. Every evaluation counts against ``budget``: each segment gets an equal share,
about 95% of it labels and 5% re-evaluations (GCN-NAS: 2,000 and 100). The last segment's
predictions over its whole subspace are kept in ``result.details``: what a lookup table stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..errors import GraphnasError
from ..space.encoding import choices_of
from ..utils import as_rng
from ..cost.limits import sample_feasible
from .result import Record, SearchResult, make_record

__all__ = ["gcn_search", "default_segments", "SegmentSpace"]


def default_segments(space, max_nodes: int = 20_000, top_k: int = 6) -> list[list[int]]:
    """Consecutive free edges (more than one candidate), grouped while the product of their candidates
    (times ``top_k`` for the super-cell of every segment after the first) stays within ``max_nodes``."""
    segments: list[list[int]] = []
    current: list[int] = []
    size = 1
    for i in np.flatnonzero(space.radices > 1).tolist():
        r = int(space.radices[i])
        limit = max_nodes // (top_k if segments else 1)
        if current and size * r > limit:
            segments.append(current)
            current, size = [], 1
        current.append(i)
        size *= r
    if current:
        segments.append(current)
    return segments


@dataclass
class SegmentSpace:
    """The subspace searched in one segment: node ``v`` (mixed-radix over ``radices``) -> an architecture.

    Attributes:
        space (SearchSpace): the whole space.
        base (tuple): the choice vector every node starts from (the current best).
        edges (list of int): the segment's choice edges, one position each.
        cells (list of dict): the super-cell's candidates (edge -> choice); empty in the first segment.
    """

    space: object
    base: tuple
    edges: list
    cells: list

    @property
    def radices(self) -> np.ndarray:
        r = [int(self.space.radices[i]) for i in self.edges]
        return np.array(r + ([len(self.cells)] if self.cells else []), dtype=np.int64)

    @property
    def size(self) -> int:
        return int(np.prod(self.radices, dtype=object))

    def choices(self, ids) -> np.ndarray:
        """Choice vectors of the whole space for node ids (``(n, E)``)."""
        local = choices_of(self.radices, np.asarray(ids, dtype=np.int64))
        out = np.tile(np.array(self.base, dtype=np.int64), (len(local), 1))
        out[:, self.edges] = local[:, :len(self.edges)]
        if self.cells:
            cell_edges = sorted(self.cells[0])
            table = np.array([[cell[e] for e in cell_edges] for cell in self.cells], dtype=np.int64)
            out[:, cell_edges] = table[local[:, -1]]
        return out

    def arch(self, v: int):
        return self.space.arch(self.choices([v])[0])


def _feasible(arch, constraints) -> bool:
    return all(c(arch) for c in constraints)


def gcn_search(space, evaluate: Callable, constraints: Sequence = (), budget: int = 2100, rng=None,
               segments: Sequence[Sequence[int]] | None = None, top_k: int = 6, labels: int | None = None,
               reevaluate: int | None = None, max_nodes: int = 20_000, predictor: dict | None = None,
               progress: bool = True) -> SearchResult:
    """Run GCN-NAS's iterative search (see the module doc).

    Args:
        space (SearchSpace): where to search (no in-degree constraints).
        evaluate (callable): ``evaluate(arch) -> float``, higher is better (the supernet estimator).
        constraints (sequence of Limit): the returned architectures meet all of them; labels need not.
        budget (int): estimator calls in all (default 2100: one segment of the paper's 2000 + 100).
        rng (int or Generator, optional): seed.
        segments (list of lists of int, optional): choice-edge positions per segment.
        top_k (int): sub-architectures kept as the next super-cell (default 6).
        labels, reevaluate (int, optional): per segment; default 95% / 5% of its share of ``budget``.
        max_nodes (int): largest subspace of an automatic segment (default 20,000: about half a minute
            of GCN training per segment on 2 CPU cores; the paper's 6^7 = 279,936 takes many minutes).
        predictor (dict, optional): options of :func:`graphnas.predictor.predict_space` over
            :data:`graphnas.predictor.SEARCH_OPTIONS` (``epochs=150, patience=50, hidden=(128, 128)``,
            lighter than the paper's 600 epochs of 512-wide layers so that a CPU search takes minutes).
        progress (bool): show a tqdm bar.

    Returns:
        SearchResult: the feasible evaluated architectures; ``details`` holds ``subspace`` (the last
        :class:`SegmentSpace`), ``predictions`` (the predicted score of its every node) and ``segments``.
    """
    from ..predictor import label_fit_rescore

    if space.in_degree:
        raise GraphnasError(f"the gcn strategy needs a space without in-degree constraints ('{space.name}' has "
                            f"them); use evolution or random")
    rng = as_rng(rng)
    segments = [list(s) for s in (segments or default_segments(space, max_nodes, top_k))]
    if not segments:
        raise GraphnasError(f"space '{space.name}' has no choice to search")
    share = max(budget // len(segments), 8)
    n_re = reevaluate if reevaluate is not None else max(1, round(share * 0.05))
    n_label = labels if labels is not None else max(share - n_re, 8)
    start = sample_feasible(lambda: space.sample(rng), constraints)
    scores: dict[str, float] = {}
    records: dict[str, Record] = {}
    bar = tqdm(total=len(segments) * (n_label + n_re), desc="gcn", disable=not progress, leave=False, unit="arch")

    def score(arch) -> float:
        if arch.hash not in scores:
            scores[arch.hash] = float(evaluate(arch))
            bar.update(1)
            if _feasible(arch, constraints):
                records[arch.hash] = make_record(arch, scores[arch.hash], constraints)
        return scores[arch.hash]

    current, cells, seg_space, predictions = start, [], None, None
    covered: list[int] = []
    for seg in segments:
        seg_space = SegmentSpace(space, tuple(current.choices), seg, cells)
        size = seg_space.size

        def best_predicted(predicted, measured) -> list[int]:
            """The ``n_re`` best predictions not measured yet that meet the limits (GCN-NAS's re-evaluation)."""
            chosen = []
            for v in np.argsort(-predicted, kind="stable").tolist():
                if len(chosen) >= n_re:
                    break
                if np.isnan(measured[v]) and _feasible(seg_space.arch(v), constraints):
                    chosen.append(v)
            return chosen

        first = np.arange(size) if size <= n_label + n_re else rng.choice(size, n_label, replace=False)
        run = label_fit_rescore(seg_space.radices, lambda v: score(seg_space.arch(v)), first,
                                [best_predicted], rng=rng, predictor=predictor, refit=False)
        predictions = run.predicted
        labelled = {v: float(run.measured[v]) for v in run.order.tolist()}
        feasible = sorted((v for v in labelled if _feasible(seg_space.arch(v), constraints)),
                          key=lambda v: -labelled[v])
        if not feasible:
            continue  # nothing in this segment met the limits: keep the current architecture
        current = seg_space.arch(feasible[0])
        covered = sorted(set(covered) | set(seg))
        cells = [{e: int(seg_space.arch(v).choices[e]) for e in covered} for v in feasible[:top_k]]
    bar.close()
    if not records:  # no segment found a feasible architecture: fall back on the feasible start
        score(start)
    return SearchResult("gcn", list(records.values()), list(constraints),
                        details={"subspace": seg_space, "predictions": predictions, "segments": segments})
