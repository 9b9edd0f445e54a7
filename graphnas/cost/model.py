"""Analytic cost of architectures: MAdds, parameters and BitOps summed over the DAG, without running it.

``arch_cost(arch) = stem + sum over cells (op cost of each live edge of the cell's template + the
preprocessing of each input a live edge reads) + fixed blocks + head``: the per-edge term table of
:mod:`graphnas.cost.terms` with closed-form costs as its leaves (:func:`cost_table`), summed over the live
edges of one architecture (:func:`arch_cost`) or of many at once (:func:`batch_costs`) by the same code.
Each operator's cost comes from its closed form in the registry; an operator registered without one is
counted once per distinct shape with :func:`~graphnas.cost.count.count_module` and cached. Costs are
for the space's configured scale and one input sample.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..errors import GraphnasError
from ..ops.primitives import Cost
from ..ops.registry import NONE, get_op
from ..ops.stemhead import HeadBlock, StemBlock
from ..space.searchspace import Cell
from .count import count_module
from .terms import Entry, TermTable, term_sum, term_sums, term_table, terms

if TYPE_CHECKING:
    from ..space.architecture import Architecture
    from ..space.searchspace import SearchSpace

__all__ = ["FIELDS", "op_cost", "edge_cost", "preprocess_cost", "stem_cost", "head_cost", "fixed_costs",
           "entry_cost", "clear_cost_cache", "cost_table", "batch_costs", "batch_cost", "arch_cost", "extreme_archs"]

#: The numbers of a cost-table leaf and the columns of :func:`batch_costs`: the fields of :class:`Cost`.
FIELDS = ("madds", "params", "bitops")


def op_cost(op: str, c_in: int, c_out: int, stride: int, res: int) -> Cost:
    """Cost of operator ``op`` joining ``c_in`` channels at ``res`` x ``res`` to ``c_out`` channels."""
    return _spec_cost(get_op(op), c_in, c_out, stride, res)


@lru_cache(maxsize=65536)
def _spec_cost(spec, c_in: int, c_out: int, stride: int, res: int) -> Cost:
    # Keyed by the OpSpec itself, so re-registering a name with overwrite=True is never served stale.
    if spec.cost is not None:
        return spec.cost(c_in, c_out, stride, res)
    return count_module(spec.factory(c_in, c_out, stride), (c_in, res, res))


def clear_cost_cache() -> None:
    """Forget every counted operator cost (benchmarks time the first, "cold" costing of a space with it)."""
    _spec_cost.cache_clear()


def edge_cost(space: "SearchSpace", i: int, op: str, cell: Cell = Cell()) -> Cost:
    """Cost of choosing ``op`` on choice edge ``i`` of ``space`` (in body instance ``cell``)."""
    return op_cost(op, *space.edge_shape(i, cell))


def preprocess_cost(space: "SearchSpace", k: int, j: int) -> Cost:
    """Cost of the preprocessing of input ``j`` of body block ``k`` (a Cell whose template preprocesses)."""
    return op_cost(space.templates[space.body[k].template].preprocess, *space.input_edge_shape(k, j))


def stem_cost(space: "SearchSpace") -> Cost:
    """Cost of the stem (input image -> the body's input)."""
    c, h, _ = space.input_shape
    return StemBlock.cost(c, space.stem.channels, space.stem_out_channels, space.stem.stride, h, space.stem.pool,
                          kernel=space.stem.kernel)


def head_cost(space: "SearchSpace") -> Cost:
    """Cost of the head (the body's output -> logits)."""
    c, res = space.out_shape
    return HeadBlock.cost(c, space.head.channels, space.num_classes, res, space.head.bn)


def fixed_costs(space: "SearchSpace") -> Cost:
    """Cost of every part that no choice changes: stem, head and the :class:`Fixed` body blocks."""
    return sum((entry_cost(space, e) for e in terms(space).fixed), Cost())


def entry_cost(space: "SearchSpace", entry: Entry) -> Cost:
    """The closed-form cost of one term entry (:class:`~graphnas.cost.terms.Entry`) of ``space``: the leaf of
    the analytic model (additions and concatenations have no multiply-adds and no parameters)."""
    if entry.kind == "op":
        return op_cost(entry.op, entry.c_in, entry.c_out, entry.stride, entry.res)
    if entry.kind == "stem":  # a space has one stem and one head: their entries are those of stem_cost/head_cost
        return stem_cost(space)
    if entry.kind == "head":
        return head_cost(space)
    return Cost()


def cost_table(space: "SearchSpace") -> TermTable:
    """The :class:`~graphnas.cost.terms.TermTable` of ``space`` whose leaves are closed-form costs, fields
    :data:`FIELDS`: ``table.edges[i][c].madds`` is the multiply-adds of candidate ``c`` on choice edge ``i``
    summed over every body cell of its template (computed once per space object and kept with it)."""
    def leaf(entries, part: str) -> tuple[int, int, int]:
        c = sum((entry_cost(space, e) for e in entries), Cost())
        return c.madds, c.params, c.bitops

    return space.derived("cost_table", lambda: term_table(space, leaf, FIELDS, np.int64))


def batch_costs(space: "SearchSpace", choices) -> np.ndarray:
    """Cost of every choice vector in ``choices`` (``(N, E)``), exactly as :func:`arch_cost` counts:
    ``(N, 3)`` int64, columns :data:`FIELDS`."""
    return term_sums(space, cost_table(space), choices)


def batch_cost(space: "SearchSpace", choices, metric: str = "madds") -> np.ndarray:
    """One column of :func:`batch_costs`: ``metric`` (``'madds'``, ``'params'`` or ``'bitops'``) of every
    choice vector in ``choices`` (``(N, E)``), ``(N,)`` float."""
    if metric not in FIELDS:
        raise GraphnasError(f"unknown cost metric '{metric}'; choose one of {', '.join(FIELDS)}")
    return batch_costs(space, choices)[:, FIELDS.index(metric)].astype(np.float64)


def arch_cost(arch: "Architecture") -> Cost:
    """MAdds, parameters and BitOps of ``arch`` at its space's scale (live edges of every cell, plus fixed parts).

    The one-row case of :func:`batch_costs` (:func:`~graphnas.cost.terms.term_sum`): after the space's
    :func:`cost_table` is built (on first use), an architecture costs one liveness walk and one sum.

    >>> # cost = arch_cost(space.sample(0)); cost.madds, cost.params
    """
    return Cost(*term_sum(arch.space, cost_table(arch.space), arch.choices))


def extreme_archs(space: "SearchSpace") -> tuple["Architecture", "Architecture"]:
    """The smallest and the largest architecture by MAdds (then parameters), edge by edge.

    Each edge takes its cheapest (most expensive) candidate in the first body cell of its template; a
    node with an in-degree constraint keeps the ``k`` incoming edges whose cheapest (most expensive)
    operator is cheapest (most expensive), and ``none`` elsewhere. Costs add over edges, so this is
    exact where every edge is live; with dead-edge pruning the smallest found is an upper bound of the
    true minimum (``none`` on every branch edge is then usually optimal).
    """
    cells = {}
    for item in space.body:
        if isinstance(item, Cell):
            cells.setdefault(item.template, item)

    def key(i, op):
        if op == NONE or space.edge_template[i] not in cells:
            return (0, 0)
        c = edge_cost(space, i, op, cells[space.edge_template[i]])
        return (c.madds, c.params)

    low = [min(e.candidates, key=lambda op: key(i, op)) for i, e in enumerate(space.edges)]
    high = [max(e.candidates, key=lambda op: key(i, op)) for i, e in enumerate(space.edges)]
    for g in space.groups:
        if g.k is None:
            continue
        for ops, pick in ((low, min), (high, max)):
            best = {i: pick((op for op in space.edges[i].candidates if op != NONE), key=lambda op: key(i, op))
                    for i in g.edges if any(op != NONE for op in space.edges[i].candidates)}
            forced = [i for i in g.edges if NONE not in space.edges[i].candidates]
            optional = sorted((i for i in best if i not in forced), key=lambda i: key(i, best[i]),
                              reverse=pick is max)
            keep = set(forced + optional[:g.k - len(forced)])
            for i in g.edges:
                ops[i] = best[i] if i in keep else NONE
    return space.from_ops(low), space.from_ops(high)
