"""Analytic cost of architectures: MAdds and parameters summed over the DAG, without running it.

``arch_cost(arch) = stem + sum over cells (op cost of each live edge of the cell's template + the
preprocessing of each input a live edge reads) + fixed blocks + head``. Each operator's cost comes from
its closed form in the registry; an operator registered without one is counted once per distinct
shape with :func:`~graphnas.cost.count.count_module` and cached. Costs are for the space's
configured scale and one input sample.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from ..ops.registry import NONE, get_op
from ..ops.stemhead import HeadBlock, StemBlock
from ..space import Cell, Fixed
from .count import count_module
from ..ops.primitives import Cost

if TYPE_CHECKING:
    from ..arch import Architecture
    from ..space import SearchSpace

__all__ = ["op_cost", "edge_cost", "preprocess_cost", "stem_cost", "head_cost", "fixed_costs", "arch_cost",
           "CostTable", "cost_table", "extreme_archs"]


def op_cost(op: str, c_in: int, c_out: int, stride: int, res: int) -> Cost:
    """Cost of operator ``op`` joining ``c_in`` channels at ``res`` x ``res`` to ``c_out`` channels."""
    return _spec_cost(get_op(op), c_in, c_out, stride, res)


@lru_cache(maxsize=65536)
def _spec_cost(spec, c_in: int, c_out: int, stride: int, res: int) -> Cost:
    # Keyed by the OpSpec itself, so re-registering a name with overwrite=True is never served stale.
    if spec.cost is not None:
        return spec.cost(c_in, c_out, stride, res)
    return count_module(spec.factory(c_in, c_out, stride), (c_in, res, res))


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
    total = stem_cost(space) + head_cost(space)
    h = space.input_shape[1]
    for item, (c_in, red_in), (c_out, red_out) in space.blocks:
        if isinstance(item, Fixed):
            total += op_cost(item.op, c_in, c_out, red_out // red_in, -(-h // red_in))
    return total


def arch_cost(arch: "Architecture") -> Cost:
    """MAdds, parameters and BitOps of ``arch`` at its space's scale (live edges of every cell, plus fixed parts).

    Reads the space's :func:`cost_table` (built on first use), so after that an architecture costs
    one table lookup per live edge.

    >>> # cost = arch_cost(space.sample(0)); cost.madds, cost.params
    """
    table = cost_table(arch.space)
    rows = [table.edges[i][c] for i, c in zip(arch.live_edges, (arch.choices[i] for i in arch.live_edges))]
    rows += [table.inputs[t][j] for t, inputs in enumerate(arch.live_inputs) for j in inputs]
    return Cost(table.fixed.madds + sum(r[0] for r in rows), table.fixed.params + sum(r[1] for r in rows),
                table.fixed.bitops + sum(r[2] for r in rows))


class CostTable(NamedTuple):
    """Every cost an architecture of one space can add up, precomputed.

    Attributes:
        fixed (Cost): stem, head and fixed body blocks.
        edges (tuple): ``edges[i][c]`` = ``(madds, params, bitops)`` of candidate ``c`` on choice edge
            ``i``, summed over every body cell of the edge's template (``(0, 0, 0)`` for ``none``).
        inputs (tuple): ``inputs[t][j]`` = the same for the preprocessing of input ``j`` of template
            ``t``, summed over its cells (``(0, 0, 0)`` when the template does not preprocess).
    """

    fixed: Cost
    edges: tuple
    inputs: tuple


def cost_table(space: "SearchSpace") -> CostTable:
    """The :class:`CostTable` of ``space`` (computed once per space object and kept on it)."""
    return space.derived("cost_table", lambda: _build_cost_table(space))


def _build_cost_table(space: "SearchSpace") -> CostTable:
    def triple(c: Cost) -> tuple[int, int, int]:
        return (c.madds, c.params, c.bitops)

    edges = []
    for i, e in enumerate(space.edges):
        cells = [item for item in space.body if isinstance(item, Cell) and item.template == space.edge_template[i]]
        edges.append(tuple(triple(sum((edge_cost(space, i, op, cell) for cell in cells), Cost()))
                           if op != NONE else (0, 0, 0) for op in e.candidates))
    inputs = []
    for t, tmpl in enumerate(space.templates):
        blocks = [k for k, item in enumerate(space.body) if isinstance(item, Cell) and item.template == t]
        inputs.append(tuple(triple(sum((preprocess_cost(space, k, j) for k in blocks), Cost()))
                            if tmpl.preprocess is not None else (0, 0, 0) for j in range(tmpl.inputs)))
    return CostTable(fixed_costs(space), tuple(edges), tuple(inputs))


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
