"""GCN-NAS iterative search: segments of choice edges, a GCN over each segment's Hamming graph, super-cells.

A whole space is too large for one Hamming graph, so the choice edges are cut into consecutive
*segments* (FairNAS's 19 layers: 7, 6, 6). Segment ``s`` is searched with every other edge fixed to
the best architecture so far:

1. its subspace is the product of the segment's candidates and, after the first segment, one extra
   *super-cell* position whose candidates are the ``top_k`` best sub-architectures kept from the
   segments before (so with FairNAS's 6 choices and K = 6 the second subspace is 6^6 x 6 = 6^7);
2. ``labels`` architectures of it, drawn uniformly, are scored with the estimator (``evaluate``);
3. a GCN over the subspace's Hamming-1 graph (:mod:`graphnas.predictor`; one-hot, cost and path inputs
   by default, GCN-NAS's Gray code with ``predictor={"features": "gray"}``) predicts every other one;
4. the ``reevaluate`` best predictions that meet the limits (not scored yet) are scored with the
   estimator (GCN-NAS's Step 3), and with ``select="reevaluated"`` (default) the best of *them* becomes
   the current architecture and the ``top_k`` best of them the next super-cell; ``select="measured"``
   takes the best of every architecture scored, labels included. Noisy labels favour the re-evaluated:
   the highest of 2,000 noisy labels is mostly the luckiest noise, the best of the top predictions is
   a good architecture by two measures (``tools/bench_lookup_noisy.py``, BENCHMARKS.md).

The search starts from the architecture that runs ``mbconv_k3_e6`` on every free edge where the space
has it there (GCN-NAS's start, all K3E6) and it meets the limits; else from a random feasible one.
``segments`` gives the edge positions of each segment, or their sizes over the free edges in order
(``[7, 6, 6]``: GCN-NAS on FairNAS's 19 layers); without it consecutive free edges are grouped while
the subspace stays within ``max_nodes`` nodes. Every evaluation counts against ``budget``: each
segment gets an equal share, 20/21 of it labels and 1/21 re-evaluations: GCN-NAS's 2,000 labels (1,800
to train, 200 to validate: the predictor's 10% split) and 100 re-evaluated top predictions per segment,
:data:`SEGMENT_BUDGET` = 2,100, the library's default budget per segment. ``graphnas run`` scales it to a
laptop (its ``--budget``, 200 by default, over all segments). The last segment's predictions over its whole
subspace are kept in ``result.details``: what a lookup table stores.
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

__all__ = ["gcn_search", "default_segments", "segments_of", "SegmentSpace", "SELECT", "START_OP", "SEGMENT_BUDGET"]

#: How the gcn search picks each segment's architecture: GCN-NAS's Step 3 first (the default).
SELECT = ("reevaluated", "measured")
#: GCN-NAS's scores per segment: 2,000 labels and 100 re-evaluations.
SEGMENT_BUDGET = 2100
#: GCN-NAS starts from the architecture with this operator on every layer.
START_OP = "mbconv_k3_e6"


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


def segments_of(space, segments) -> list[list[int]]:
    """``segments`` as lists of edge positions: lists of positions pass (checked), integers are sizes of
    consecutive groups of the free edges (more than one candidate) in order and must add up to all of them."""
    free = np.flatnonzero(space.radices > 1).tolist()
    segments = list(segments)
    if segments and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in segments):
        if any(s < 1 for s in segments) or sum(segments) != len(free):
            raise GraphnasError(f"segment sizes {','.join(map(str, segments))} must be positive and add up to the "
                                f"{len(free)} free choice edges of space '{space.name}'")
        out, at = [], 0
        for size in segments:
            out.append(free[at:at + size])
            at += size
        return out
    out = [list(map(int, s)) for s in segments]
    used = [i for s in out for i in s]
    bad = [i for i in used if i not in free]
    if bad or len(set(used)) != len(used) or any(not s for s in out):
        raise GraphnasError(f"segments must be non-empty lists of distinct free choice edges of space '{space.name}' "
                            f"(positions {free[0]}..{free[-1]} with more than one candidate), or their sizes; got "
                            f"{segments}")
    return out


def _start(space, constraints, rng):
    """GCN-NAS's start (``START_OP`` on every free edge) where the space has it and it meets the limits; else a
    random feasible architecture."""
    choices = []
    for e, r in zip(space.edges, space.radices):
        if r > 1 and START_OP not in e.candidates:
            choices = None
            break
        choices.append(e.candidates.index(START_OP) if r > 1 else 0)
    if choices is not None:
        try:
            arch = space.arch(choices)
        except GraphnasError:
            arch = None
        if arch is not None and _feasible(arch, constraints):
            return arch
    return sample_feasible(lambda: space.sample(rng), constraints)


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
        return self.parent_choices(choices_of(self.radices, np.asarray(ids, dtype=np.int64)))

    def parent_choices(self, local: np.ndarray) -> np.ndarray:
        """Choice vectors of the whole space for the subspace's own choice vectors (what the predictor's cost and
        path inputs are computed from: :func:`graphnas.predictor.features.node_features`)."""
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


def gcn_search(space, evaluate: Callable, constraints: Sequence = (), budget: int | None = None, rng=None,
               segments: Sequence[Sequence[int]] | None = None, top_k: int = 6, labels: int | None = None,
               reevaluate: int | None = None, max_nodes: int = 20_000, predictor: dict | None = None,
               select: str = "reevaluated", progress: bool = True) -> SearchResult:
    """Run GCN-NAS's iterative search (see the module doc).

    Args:
        space (SearchSpace): where to search (no in-degree constraints).
        evaluate (callable): ``evaluate(arch) -> float``, higher is better (the supernet estimator).
        constraints (sequence of Limit): the returned architectures meet all of them; labels need not.
        budget (int, optional): estimator calls in all (default: :data:`SEGMENT_BUDGET` per segment, the
            paper's 2,000 + 100).
        rng (int or Generator, optional): seed.
        segments (list, optional): choice-edge positions per segment, or segment sizes over the free edges
            (``[7, 6, 6]``; :func:`segments_of`).
        top_k (int): sub-architectures kept as the next super-cell (default 6).
        labels, reevaluate (int, optional): per segment; default 20/21 and 1/21 of its share of ``budget``.
        max_nodes (int): largest subspace of an automatic segment (default 20,000: about half a minute
            of GCN training per segment on 2 CPU cores; the paper's 6^7 = 279,936 takes many minutes).
        predictor (dict, optional): options of :func:`graphnas.predictor.predict_space` over
            :data:`graphnas.predictor.SEARCH_OPTIONS` (one-hot, cost and path inputs where the space has them,
            ranking loss x10, 150 epochs of 128-wide layers: lighter than the paper's 600 epochs of 512-wide
            layers so that a CPU search takes minutes; ``{"features": "gray"}`` is GCN-NAS's input).
        select (str): ``"reevaluated"`` (default: the best re-evaluated top prediction, GCN-NAS's Step 3) or
            ``"measured"`` (the best of every architecture scored).
        progress (bool): show a tqdm bar.

    Returns:
        SearchResult: the feasible evaluated architectures, ``best`` the one ``select`` chose; ``details`` holds ``subspace`` (the last
        :class:`SegmentSpace`), ``predictions`` (the predicted score of its every node) and ``segments``.
    """
    from ..predictor import label_fit_rescore

    if space.in_degree:
        raise GraphnasError(f"the gcn strategy needs a space without in-degree constraints ('{space.name}' has "
                            f"them); use evolution or random")
    if select not in SELECT:
        raise GraphnasError(f"select={select!r}: use one of {', '.join(SELECT)}")
    rng = as_rng(rng)
    segments = segments_of(space, segments) if segments else default_segments(space, max_nodes, top_k)
    if not segments:
        raise GraphnasError(f"space '{space.name}' has no choice to search")
    budget = SEGMENT_BUDGET * len(segments) if budget is None else budget
    share = max(budget // len(segments), 8)
    n_re = reevaluate if reevaluate is not None else max(1, round(share / 21))
    n_label = labels if labels is not None else max(share - n_re, 8)
    start = _start(space, constraints, rng)
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
        run = label_fit_rescore(seg_space, lambda v: score(seg_space.arch(v)), first,
                                [best_predicted], rng=rng, predictor=predictor, refit=False)
        predictions = run.predicted
        labelled = {v: float(run.measured[v]) for v in run.order.tolist()}
        feasible = sorted((v for v in labelled if _feasible(seg_space.arch(v), constraints)),
                          key=lambda v: -labelled[v])
        if select == "reevaluated" and len(run.order) > len(first):  # Step 3: the re-evaluated come first
            again = set(run.order[len(first):].tolist())
            feasible = [v for v in feasible if v in again] + [v for v in feasible if v not in again]
        if not feasible:
            continue  # nothing in this segment met the limits: keep the current architecture
        current = seg_space.arch(feasible[0])
        covered = sorted(set(covered) | set(seg))
        cells = [{e: int(seg_space.arch(v).choices[e]) for e in covered} for v in feasible[:top_k]]
    bar.close()
    if not records:  # no segment found a feasible architecture: fall back on the feasible start
        score(start)
    chosen = current.hash if select == "reevaluated" and current.hash in records else None
    return SearchResult("gcn", list(records.values()), list(constraints), chosen=chosen,
                        details={"subspace": seg_space, "predictions": predictions, "segments": segments})
