"""A lookup table for a space too large to tabulate: a subspace around one architecture, labelled by an estimator.

A lookup table stores every architecture of a (sub)space, so a space like the ST-NAS topology space
(10^54) is tabulated around a chosen architecture (the search's best): the edges whose candidates
change the cost most stay free, every other edge is fixed, and the subspace is kept within
``max_nodes`` rows. Then, as in GCN-NAS:

1. ``labels`` architectures of the subspace are scored with the estimator (a supernet path after BN
   recalibration in ``graphnas run``): most drawn uniformly, the rest on the accuracy-cost front that
   a GCN over the subspace's Hamming-1 graph predicts (:mod:`graphnas.lookup.labelling`);
2. the GCN, retrained on all of them, predicts every other one (:func:`~graphnas.predictor.predict_space`);
3. every row goes into a :class:`~graphnas.lookup.LookupTable` with its MAdds, parameters and, with a
   latency model, its latency on the measured device; the scored rows keep their score as ``measured``.

``graphnas run`` ends with this step, so its output folder holds ``lookup.db`` for
``tools/lookup.py --table runs/demo/lookup.db --latency ...``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..cost.model import batch_cost
from ..errors import LookupTableError
from ..utils import as_rng
from .orders import DEFAULT_ORDER

if TYPE_CHECKING:
    from ..space.architecture import Architecture
    from ..cost.latency import LatencyModel
    from ..space.searchspace import SearchSpace
    from .table import LookupTable

__all__ = ["cost_spread", "frozen_topology", "lookup_subspace", "build_from_estimator"]


def cost_spread(space: "SearchSpace", base: "Architecture", latency_model: "LatencyModel | None" = None) -> np.ndarray:
    """Per choice edge, how far the cost of ``base`` moves when only that edge changes: ``max - min`` over its
    candidates, of latency (ms) with a latency model, else of MAdds. ``(E,)``; 0 on fixed edges."""
    base_choices = np.asarray(base.choices, dtype=np.int64)
    rows, owner = [], []
    for i, r in enumerate(space.radices.tolist()):
        for c in range(r):
            row = base_choices.copy()
            row[i] = c
            rows.append(row)
            owner.append(i)
    choices, owner = np.array(rows), np.array(owner)
    cost = (latency_model.batch_latency(space, choices) if latency_model is not None
            else batch_cost(space, choices, "madds"))
    spread = np.zeros(space.num_edges)
    for i in range(space.num_edges):
        mine = cost[owner == i]
        spread[i] = mine.max() - mine.min()
    return spread


def frozen_topology(space: "SearchSpace", base: "Architecture") -> "SearchSpace":
    """``space`` itself, or for a space with in-degree constraints (DARTS cells) the subspace where every edge
    into a constrained node keeps ``base``'s presence: present edges choose among the real operators, absent
    ones stay ``none``. The constraints then hold by construction, so the subspace drops them and is a plain
    product of independent choices (what a Hamming graph needs)."""
    if not space.in_degree:
        return space
    from ..ops.registry import NONE

    keep = {i: [NONE] if base.ops[i] == NONE else [op for op in e.candidates if op != NONE]
            for i, e in enumerate(space.edges) if e.dst in space.in_degree}
    return replace(space.subspace(allowed=keep, name=f"{space.name}/topology"), in_degree={})


def lookup_subspace(space: "SearchSpace", base: "Architecture", max_nodes: int = 20_000,
                    latency_model: "LatencyModel | None" = None, name: str | None = None) -> "SearchSpace":
    """The subspace of ``space`` around ``base`` with at most ``max_nodes`` architectures: the edges of largest
    :func:`cost_spread` stay free (ties: lower edge first) while the product of their candidates fits, every
    other edge keeps ``base``'s operator. With in-degree constraints, edges into a constrained node choose only
    operators, not presence (:func:`frozen_topology`). Its choice vectors have the length of ``space``'s
    (``SearchSpace.subspace``); turn its architectures into ``space``'s with ``space.from_ops(arch.ops)``.
    """
    if max_nodes < 2:
        raise LookupTableError(f"max_nodes={max_nodes} leaves nothing to tabulate; give at least 2")
    space.check(base)
    name = name or f"{space.name}/lookup"
    space = frozen_topology(space, base)
    base = space.from_ops(base.ops)
    spread = cost_spread(space, base, latency_model)
    free, size = set(), 1
    for i in sorted(np.flatnonzero(space.radices > 1).tolist(), key=lambda i: (-spread[i], i)):
        r = int(space.radices[i])
        if size * r <= max_nodes:
            free.add(i)
            size *= r
    fixed = {i: op for i, op in enumerate(base.ops) if i not in free and space.radices[i] > 1}
    return space.subspace(fixed=fixed, name=name)


def build_from_estimator(path: str | Path, space: "SearchSpace", evaluate: Callable[["Architecture"], float],
                         base: "Architecture", *, labels: int = 200, max_nodes: int = 20_000,
                         latency_model: "LatencyModel | None" = None, rng=None, reevaluate: int | None = None,
                         rounds: int = 2, predictor: dict | None = None, meta: dict | None = None,
                         order: str = DEFAULT_ORDER, progress: bool = True) -> tuple["LookupTable", dict]:
    """Tabulate :func:`lookup_subspace` of ``space`` around ``base`` (module doc): measure, predict, build.

    Args:
        path (str or Path): the SQLite file to write (an interrupted build of the same inputs resumes).
        space (SearchSpace): the space the estimator scores (architectures are passed to ``evaluate`` as
            architectures of ``space``, so a cache keyed by their hash is shared with a search).
        evaluate (callable): ``evaluate(arch) -> float``, higher is better.
        base (Architecture): of ``space``; the fixed edges keep its operators.
        labels (int): architectures scored with ``evaluate`` (default 200): drawn at random, then
            ``reevaluate`` of them on the predicted accuracy-cost front in ``rounds`` rounds
            (:func:`~graphnas.lookup.labelling.label_and_predict`); a subspace no larger than ``labels``
            is scored whole and needs no predictor.
        max_nodes (int): largest subspace (default 20,000 rows).
        latency_model (LatencyModel, optional): latency of every row (the front's cost, and the cost that
            picks the free edges); without one, MAdds.
        rng (int or Generator, optional): seeds the labelled sample and the predictor.
        reevaluate, rounds: see :func:`~graphnas.lookup.labelling.label_and_predict`.
        predictor (dict, optional): options of :func:`~graphnas.predictor.predict_space` over
            :data:`graphnas.predictor.SEARCH_OPTIONS`.
        meta (dict, optional): extra metadata for the table (e.g. the supernet checkpoint's digest).
        order (str): the table's answer order, ``"shrinkage"`` (default) or ``"measured-first"``
            (:mod:`graphnas.lookup.orders`).
        progress (bool): show progress bars.

    Returns:
        ``(table, info)``: the open table, and a JSON-able dict with ``subspace`` (name, size, free edges,
        base operators) and the labelling's ``info`` (``labels``, ``random``, ``front``, ``fits``, ``options``).
    """
    from ..space.encoding import choices_of
    from ..predictor import out_of_sample_array
    from .labelling import label_and_predict
    from .table import LookupTable

    rng = as_rng(rng)
    sub = lookup_subspace(space, base, max_nodes, latency_model)
    choices = choices_of(sub, np.arange(sub.size))
    cost = latency_model.batch_latency(sub, choices) if latency_model is not None else batch_cost(sub, choices)
    predicted, measured, info = label_and_predict(
        sub, lambda v: evaluate(space.from_ops(sub.from_index(v).ops)), labels, cost=cost, reevaluate=reevaluate,
        rounds=rounds, rng=rng, predictor=predictor, progress=progress)
    info = {"subspace": {"name": sub.name, "size": int(sub.size), "free_edges": np.flatnonzero(sub.radices > 1).tolist(),
                         "base": list(base.ops)}, **info}
    oos = out_of_sample_array(info.pop("out_of_sample"), sub.size)
    table = LookupTable.build(path, sub, predicted, measured=measured, latency_model=latency_model,
                              meta={"predictor": "gcn" if info["fits"] else "estimator (every row scored)",
                                    **(meta or {})}, progress=progress, order=order, out_of_sample=oos)
    return table, info
