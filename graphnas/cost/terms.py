"""The per-edge term table of a space: what each part of an architecture's network runs, and what it is worth.

An architecture's network is a stem, the operators of its live edges (in every cell of their template),
the preprocessing of the cell inputs they read, fixed blocks, additions where several edges enter a node,
concatenations, and a head. Each of these is an :class:`Entry` (kind, operator, input channels, output
channels, stride, input resolution). :func:`terms` lists them once per space, by the term they belong to
(:class:`Terms`): the fixed part, each candidate of each choice edge, each cell input, and each node's
additions.

A :class:`TermTable` gives every term its *leaf*: a few numbers computed from the term's entries. The
analytic model's leaf is the closed-form cost (MAdds, parameters, BitOps: :func:`graphnas.cost.model.cost_table`);
the latency model's is the measured milliseconds of the entries and the module calls they make
(:class:`graphnas.cost.latency.LatencyModel`). Either way the value of an architecture is the one sum::

    fixed + sum over live edges i of edges[i][c_i] + sum over read cell inputs of inputs[t][j]
          + sum over nodes n of max(live edges into n - 1, 0) * adds[n]

which :func:`term_sums` takes for ``N`` choice vectors at once over :func:`~graphnas.space.liveness.live_masks`,
and :func:`term_sum` for one, the one-row case (the same walk on one-bit rows, summed in Python).
"""

from __future__ import annotations

from collections import Counter, namedtuple
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

import numpy as np

from ..ops.registry import NONE
from ..space.parts import Cell, Fixed
from ..space.liveness import live_masks, live_row

if TYPE_CHECKING:
    from ..space.searchspace import SearchSpace

__all__ = ["Entry", "Terms", "terms", "arch_entries", "PARTS", "TermTable", "term_table", "term_sums", "term_sum"]


class Entry(NamedTuple):
    """One distinct operator instance: ``kind`` is ``'op'`` (a registered operator: edges, preprocessing,
    fixed blocks), ``'stem'``, ``'head'``, ``'add'`` (summing one more input into a node) or ``'concat'``."""

    kind: str
    op: str
    c_in: int
    c_out: int
    stride: int
    res: int

    @property
    def key(self) -> str:
        return "|".join(map(str, self))

    def __str__(self) -> str:
        return f"{self.op} {self.c_in}->{self.c_out} stride {self.stride} at {self.res}px"


class Terms(NamedTuple):
    """The entries of every term of a space (each a tuple of :class:`Entry`, one per cell it runs in).

    Attributes:
        fixed (tuple): entries every architecture runs (stem, head, fixed blocks, concatenations).
        edges (tuple): ``edges[i][c]``: entries of candidate ``c`` on choice edge ``i`` (``()`` for ``none``).
        inputs (tuple): ``inputs[t][j]``: entries of the preprocessing of input ``j`` of template ``t``
            (``()`` when the template does not preprocess).
        adds (tuple): ``adds[n]``: entries of one more input summed into node ``n``.
    """

    fixed: tuple
    edges: tuple
    inputs: tuple
    adds: tuple


#: The kinds of term, as a leaf function is told them: ``leaf(entries, part)``.
PARTS = ("fixed", "edge", "input", "add")


def terms(space: "SearchSpace") -> Terms:
    """The :class:`Terms` of ``space`` (computed once per space object and kept with it)."""
    return space.derived("terms", lambda: _build_terms(space))


def _build_terms(space: "SearchSpace") -> Terms:
    h = space.input_shape[1]
    cells = {t: [item for item in space.body if isinstance(item, Cell) and item.template == t]
             for t in range(len(space.templates))}
    stem = space.stem
    fixed = [Entry("stem", f"stem(c={stem.channels},pool={int(stem.pool)},act={int(stem.act)},k={stem.kernel})",
                   space.input_shape[0], space.stem_out_channels, stem.stride, h)]
    c_last, r_last = space.out_shape
    fixed.append(Entry("head", f"head(c={space.head.channels},bn={int(space.head.bn)})", c_last, space.num_classes,
                       1, r_last))
    for item, (c_in, red_in), (c_out, red_out) in space.blocks:
        if isinstance(item, Fixed):
            fixed.append(Entry("op", item.op, c_in, c_out, red_out // red_in, -(-h // red_in)))
    for node in space.nodes:
        if node.concat:
            for cell in cells[space.node_template[node.id]]:
                widths = [space.node_shape(m, cell)[0] for m in node.concat]
                res = space.node_shape(node.id, cell)[1]
                fixed.append(Entry("concat", "concat(" + "+".join(map(str, widths)) + ")", widths[0], sum(widths), 1,
                                   res))
    edges = tuple(tuple(() if op == NONE else tuple(Entry("op", op, *space.edge_shape(i, cell))
                                                     for cell in cells[space.edge_template[i]])
                        for op in e.candidates) for i, e in enumerate(space.edges))
    inputs = []
    for t, tmpl in enumerate(space.templates):
        blocks = [k for k, item in enumerate(space.body) if isinstance(item, Cell) and item.template == t]
        inputs.append(tuple(tuple(Entry("op", tmpl.preprocess, *space.input_edge_shape(k, j)) for k in blocks)
                            if tmpl.preprocess is not None else () for j in range(tmpl.inputs)))
    adds = tuple(tuple(Entry("add", "add", c, c, 1, r) for c, r in (space.node_shape(node.id, cell)
                                                                     for cell in cells[space.node_template[node.id]]))
                 for node in space.nodes)
    return Terms(tuple(fixed), edges, tuple(inputs), adds)


def _used(space: "SearchSpace", table, choices: Sequence[int]) -> list:
    """The leaves of ``table`` (a :class:`Terms` or a :class:`TermTable`) one choice vector uses, once per use:
    the fixed part, its live edges' candidates, the cell inputs it reads, one more input per extra edge into a node."""
    live, read = live_row(space, choices)
    used = [table.fixed] + [row[c] for row, c, on in zip(table.edges, choices, live) if on]
    used += [table.inputs[tp][j] for tp, tmpl in enumerate(space.templates)
             for j, node in enumerate(tmpl.nodes[:tmpl.inputs]) if read[node]]
    merged = Counter(e.dst for e, on in zip(space.edges, live) if on)
    return used + [table.adds[n] for n, k in merged.items() for _ in range(k - 1)]


def arch_entries(space: "SearchSpace", choices: Sequence[int]) -> list[Entry]:
    """Every entry the architecture with ``choices`` runs, once per use (the terms :func:`term_sums` adds up)."""
    return [e for entries in _used(space, terms(space), choices) for e in entries]


# ---------------------------------------------------------------------- the numbers
@lru_cache(maxsize=None)
def _leaf_type(fields: tuple[str, ...]) -> type:
    return namedtuple("Leaf", fields)


class _Arrays(NamedTuple):
    values: np.ndarray      # (E * R + M + 1, K): candidate c of edge i at row i * R + c, the M cell-input slots, zeros
    edge_rows: np.ndarray   # (E,) the row of candidate 0 of every edge: i * R
    input_rows: np.ndarray  # (M,) the row of every (template, input) slot
    input_nodes: tuple      # (M,) the node of every slot (read or not)
    into: np.ndarray        # (E, nodes) int: edge i enters node n
    adds: np.ndarray | None  # (nodes, K) with NaN as 0, 0 where fewer than two edges enter; None: every addition is 0
    unknown: np.ndarray | None  # (nodes, K) bool: the add leaf is NaN (a sum that uses it is NaN); None: none is
    fixed: np.ndarray       # (K,)


@dataclass(frozen=True)
class TermTable:
    """The leaf of every term of a space's :class:`Terms` (see the module doc).

    Each leaf is a named tuple of ``fields`` (``table.edges[i][c].madds``, or ``table.edges[i][c][0]``).

    Attributes:
        fields (tuple of str): the names of a leaf's numbers, e.g. ``('madds', 'params', 'bitops')``.
        fixed: the leaf of the fixed part.
        edges (tuple): ``edges[i][c]``: the leaf of candidate ``c`` on choice edge ``i``.
        inputs (tuple): ``inputs[t][j]``: the leaf of the preprocessing of input ``j`` of template ``t``.
        adds (tuple): ``adds[n]``: the leaf of one more input summed into node ``n``.
    """

    fields: tuple
    fixed: tuple
    edges: tuple
    inputs: tuple
    adds: tuple
    arrays: _Arrays = field(repr=False, compare=False)


def term_table(space: "SearchSpace", leaf: Callable[[tuple, str], Sequence], fields: Sequence[str],
               dtype=np.float64) -> TermTable:
    """Value every term of ``space``: ``leaf(entries, part) -> numbers`` (one per field) for each term's entries.

    Args:
        space (SearchSpace): the space.
        leaf (callable): ``leaf(entries, part)`` with ``entries`` a tuple of :class:`Entry` and ``part`` one
            of :data:`PARTS`; returns ``len(fields)`` numbers (a NaN leaf is an error only for an
            architecture that runs it: see :func:`term_sums`).
        fields (sequence of str): the names of the numbers.
        dtype: of the sums (``np.int64`` keeps counts exact).
    """
    t, kind = terms(space), _leaf_type(tuple(fields))
    fixed = kind(*leaf(t.fixed, "fixed"))
    edges = tuple(tuple(kind(*leaf(c, "edge")) for c in row) for row in t.edges)
    inputs = tuple(tuple(kind(*leaf(j, "input")) for j in row) for row in t.inputs)
    adds = tuple(kind(*leaf(a, "add")) for a in t.adds)
    width, k, n_edges = int(space.radices.max()), len(fields), space.num_edges
    slots = [(node, inputs[tp][j]) for tp, tmpl in enumerate(space.templates)
             for j, node in enumerate(tmpl.nodes[:tmpl.inputs])]
    values = np.zeros((n_edges * width + len(slots) + 1, k), dtype=dtype)
    for i, row in enumerate(edges):
        values[i * width:i * width + len(row)] = row
    for m, (_, leaf_value) in enumerate(slots):
        values[n_edges * width + m] = leaf_value
    into = np.zeros((n_edges, len(space.nodes)), dtype=np.int64)
    into[np.arange(n_edges), [e.dst for e in space.edges]] = 1
    merging = into.sum(axis=0) > 1  # only there is an input ever added to another
    add_values = np.where(merging[:, None], np.array(adds, dtype=dtype).reshape(len(adds), k), 0)
    unknown = np.isnan(add_values) if add_values.dtype.kind == "f" else np.zeros(add_values.shape, dtype=bool)
    arrays = _Arrays(values, np.arange(n_edges) * width, n_edges * width + np.arange(len(slots)),
                     tuple(n for n, _ in slots), into, np.nan_to_num(add_values) if np.any(add_values != 0) else None,
                     unknown if unknown.any() else None, np.array(fixed, dtype=dtype))
    return TermTable(tuple(fields), fixed, edges, inputs, adds, arrays)


def term_sums(space: "SearchSpace", table: TermTable, choices) -> np.ndarray:
    """The value of every choice vector in ``choices`` (``(N, E)``) under ``table``: ``(N, K)``.

    A leaf of a term an architecture does not run never enters its sum (a NaN there stays out of it).
    """
    a = table.arrays
    choices = np.asarray(choices)
    masks = live_masks(space, choices, a.input_nodes)  # live edges, then read cell inputs
    rows = np.empty(masks.shape, dtype=np.int64)  # the row of every term's leaf
    rows[:, :space.num_edges] = a.edge_rows + choices
    rows[:, space.num_edges:] = a.input_rows
    with np.errstate(over="ignore", invalid="ignore"):  # huge leaves sum to inf: the caller refuses that
        leaves = a.values.take(np.where(masks, rows, len(a.values) - 1), axis=0)  # (N, terms, K)
        total = np.einsum("ntk->nk", leaves)  # the sum over terms, several times faster than .sum(axis=1) here
        if a.adds is not None:
            extra = np.maximum(masks[:, :space.num_edges] @ a.into - 1, 0)  # inputs summed beyond a node's first
            total += extra @ a.adds
            if a.unknown is not None:
                total[(extra > 0) @ a.unknown] = np.nan
        return total + a.fixed


def term_sum(space: "SearchSpace", table: TermTable, choices: Sequence[int]) -> tuple:
    """:func:`term_sums` of one choice vector, as a tuple of Python numbers: the one-row case (the same leaves, the
    same liveness walk on one-bit rows, :func:`~graphnas.space.liveness.live_row`) summed without numpy, which
    would cost more than the sum itself for one architecture."""
    return tuple(map(sum, zip(*_used(space, table, choices))))
