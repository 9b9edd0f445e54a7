"""Which edges of many architectures run, all at once: the liveness every cost and latency sum is taken over.

An edge is *live* when it is present (not ``none``), its source is reachable from an input node of its
template over present edges and its target reaches an output node (or a node the output concatenates);
with ``prune_dead=False`` every present edge is live. A node is *read* when a live edge leaves it or the
output takes it; a cell input's preprocessing runs when its node is read. This is what
:attr:`Architecture.live_edges <graphnas.space.architecture.Architecture.live_edges>` and
:attr:`~graphnas.space.architecture.Architecture.live_inputs` decide for one architecture, computed for ``N`` choice
vectors at once; the cost of one architecture is the one-row case.

**Bit-parallel rows.** Node ids are topological, so one pass over the edges in order of target (then one
in reverse order of source) is complete. The ``N`` rows travel packed into one Python integer per edge or
node (bit ``r`` is row ``r``): each step ANDs and ORs whole columns, so a batch of 50,000 costs the same
steps on 50,000-bit integers as one architecture on one-bit ones. :func:`live_masks` packs numpy rows in
and out; :func:`live_row` walks one choice vector as it is, so costing one architecture (inside a search,
between training steps) calls no numpy at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

from ..ops.registry import NONE

if TYPE_CHECKING:
    from ..space.searchspace import SearchSpace

__all__ = ["liveness", "live_masks", "live_row"]


class _Plan(NamedTuple):
    present: np.ndarray  # (E, R) bool: candidate c of edge i is not ``none`` (True in the padding)
    present_bits: tuple  # present_bits[i][c]: the same as 1 or 0, for one row without numpy
    edge_ids: np.ndarray  # (E,) 0..E-1
    forward: tuple       # (i, src, dst) by target, then source: reachability from the inputs
    backward: tuple      # (i, src, dst) by source, then target, descending: reaching an output
    ends: tuple          # (src, dst) of every edge, in edge order
    inputs: tuple        # input nodes of every template
    outputs: tuple       # output nodes (and the nodes they concatenate)
    nodes: int
    prune: bool


def _plan(space: "SearchSpace") -> _Plan:
    """The structure :func:`liveness` walks (built once per space object and kept with it)."""
    return space.derived("liveness", lambda: _build_plan(space))


def _build_plan(space: "SearchSpace") -> _Plan:
    edges = space.edges
    is_none = np.zeros((len(edges), int(space.radices.max())), dtype=bool)
    for i, e in enumerate(edges):
        is_none[i, :len(e.candidates)] = [op == NONE for op in e.candidates]
    forward = sorted(range(len(edges)), key=lambda i: (edges[i].dst, edges[i].src))
    backward = sorted(range(len(edges)), key=lambda i: (-edges[i].src, -edges[i].dst))
    return _Plan(~is_none, tuple(tuple(int(op != NONE) for op in e.candidates) for e in edges), np.arange(len(edges)),
                 tuple((i, edges[i].src, edges[i].dst) for i in forward),
                 tuple((i, edges[i].src, edges[i].dst) for i in backward), tuple((e.src, e.dst) for e in edges),
                 tuple(space.input_nodes), tuple(space.output_nodes), len(space.nodes), bool(space.prune_dead))


def _packed(columns: np.ndarray) -> list[int]:
    """Each column of ``columns`` (``(N, K)`` bool) as one integer whose bit ``r`` is row ``r``."""
    packed = np.packbits(columns, axis=0, bitorder="little")  # (ceil(N / 8), K)
    data = np.ascontiguousarray(packed.T).tobytes()
    width = len(packed)
    return [int.from_bytes(data[j * width:(j + 1) * width], "little") for j in range(columns.shape[1])]


def _unpacked(ints: list[int], rows: int) -> np.ndarray:
    """The inverse of :func:`_packed`: ``(rows, len(ints))`` bool."""
    width = (rows + 7) // 8
    data = np.frombuffer(b"".join(x.to_bytes(width, "little") for x in ints), dtype=np.uint8)
    bits = np.unpackbits(data.reshape(len(ints), width), axis=1, count=rows, bitorder="little")
    return np.ascontiguousarray(bits.T).view(bool)


def _walk(plan: _Plan, bits: list[int], rows: int) -> tuple[list[int], list[int]]:
    """The liveness walk on packed rows: ``bits[i]`` (edge ``i`` present, bit per row) -> ``(live bits per edge,
    read bits per node)``."""
    every = (1 << rows) - 1
    if plan.prune:
        fwd = [0] * plan.nodes
        for n in plan.inputs:
            fwd[n] = every
        for i, src, dst in plan.forward:
            fwd[dst] |= fwd[src] & bits[i]
        back = [0] * plan.nodes
        for n in plan.outputs:
            back[n] = every
        for i, src, dst in plan.backward:
            back[src] |= back[dst] & bits[i]
        bits = [b & fwd[src] & back[dst] for b, (src, dst) in zip(bits, plan.ends)]
    read = [0] * plan.nodes
    for n in plan.outputs:
        read[n] = every
    for b, (src, _) in zip(bits, plan.ends):
        read[src] |= b
    return bits, read


def live_masks(space: "SearchSpace", choices, nodes: Sequence[int] = ()) -> np.ndarray:
    """``(N, E + len(nodes))`` bool: which edges of every choice vector in ``choices`` (``(N, E)``) are live,
    then whether each of ``nodes`` is read (by a live edge, or as an output)."""
    plan = _plan(space)
    choices = np.asarray(choices)
    live, read = _walk(plan, _packed(plan.present[plan.edge_ids, choices]), len(choices))
    return _unpacked(live + [read[n] for n in nodes], len(choices))


def live_row(space: "SearchSpace", choices: Sequence[int]) -> tuple[list[int], list[int]]:
    """``(live, read)`` of one choice vector as lists of 1 and 0 (per edge, per node): the one-row case of
    :func:`live_masks`, the same walk on one-bit rows, without numpy (one architecture's cost pays no array
    overhead; the first numpy calls after a network ran cost tens of microseconds each)."""
    plan = _plan(space)
    return _walk(plan, [row[c] for row, c in zip(plan.present_bits, choices)], 1)


def liveness(space: "SearchSpace", choices) -> tuple[np.ndarray, np.ndarray]:
    """``(live, read)`` of every choice vector in ``choices`` (``(N, E)``): which edges run (``(N, E)`` bool)
    and which nodes are read, by a live edge or as an output (``(N, nodes)`` bool)."""
    masks = live_masks(space, choices, range(len(space.nodes)))
    return masks[:, :space.num_edges], masks[:, space.num_edges:]
