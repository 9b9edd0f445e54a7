"""Architecture -> standalone ``nn.Module``: stem, the body (instances of the chosen DAG), head.

The DAG is executed from a *plan*, a tuple of ``(edge position, src, dst)`` in topological order
(computed once from :attr:`Architecture.live_edges`). Each node's value is the sum of the outputs of
its incoming edges. The body is the space's sequence of blocks: :class:`~graphnas.space.Cell`
instances of the DAG (one for a plain space) and :class:`~graphnas.space.Fixed` operators.

:class:`Network` (one architecture) and :class:`~graphnas.supernet.Supernet` (all of them, shared
weights) run the same executor and name their modules the same way (``stem``,
``body.<k>.edges.e<i>``, ``body.<k>.op``, ``head``), which is what makes :meth:`Supernet.extract`
exact.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from .arch import Architecture
from .errors import OpError
from .ops.registry import check_op_fits, get_op
from .ops.stemhead import HeadBlock, StemBlock
from .space import Cell

__all__ = ["Network", "compile", "build_op", "edge_key", "plan_of", "CellBody", "DAGModel"]

Plan = Sequence[tuple[int, int, int]]


def edge_key(i: int) -> str:
    """Module name of choice edge ``i`` (``'e7'``)."""
    return f"e{i}"


def _instantiate(op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    check_op_fits(op, c_in, c_out, stride)
    module = get_op(op).factory(c_in, c_out, stride)
    if not isinstance(module, nn.Module):
        raise OpError(f"operator '{op}' factory returned {type(module).__name__}, not an nn.Module")
    return module


def build_op(space, i: int, op: str, cell: Cell = Cell()) -> nn.Module:
    """Instantiate operator ``op`` for choice edge ``i`` (in body instance ``cell``) with stride/width adaptation."""
    c_in, c_out, stride, _ = space.edge_shape(i, cell)
    return _instantiate(op, c_in, c_out, stride)


def plan_of(arch: Architecture) -> tuple[tuple[int, int, int], ...]:
    """The execution plan of ``arch``: ``(edge position, src, dst)`` of its live edges, in order."""
    edges = arch.space.edges
    return tuple((i, edges[i].src, edges[i].dst) for i in arch.live_edges)


class CellBody(nn.Module):
    """One instance of the template DAG; ``edges`` holds a module (or a ModuleDict of candidates) per edge."""

    def __init__(self, space, cell: Cell, edges: nn.ModuleDict) -> None:
        super().__init__()
        self.edges = edges
        self._shapes = [space.node_shape(n.id, cell) for n in space.nodes]
        self._out = space.output_node

    def run(self, x: Tensor, plan: Plan, module: Callable[[nn.Module, int], nn.Module]) -> Tensor:
        """Run the edges of ``plan``; ``module(self.edges, i)`` gives edge ``i``'s module.

        A node that no edge reached reads as zeros (only with ``prune_dead=False`` or at the output).
        """
        values = {0: x}
        for i, src, dst in plan:
            inp = values.get(src)
            if inp is None:
                inp = values[src] = self._zeros(x, src)
            y = module(self.edges, i)(inp)
            values[dst] = values[dst] + y if dst in values else y
        out = values.get(self._out)
        return out if out is not None else self._zeros(x, self._out)

    def _zeros(self, x: Tensor, node: int) -> Tensor:
        c, r = self._shapes[node]
        return torch.zeros(x.shape[0], c, r, r, dtype=x.dtype, device=x.device)


class DAGModel(nn.Module):
    """Stem + body + head; ``make_edges(cell) -> nn.ModuleDict`` fills each cell instance."""

    def __init__(self, space, make_edges: Callable[[Cell], nn.ModuleDict]) -> None:
        super().__init__()
        self.space = space
        c, _, _ = space.input_shape
        first = space.body[0]
        c_first = space.node_shape(0, first)[0] if isinstance(first, Cell) else space.stem.channels
        self.stem = StemBlock(c, space.stem.channels, c_first, space.stem.stride, space.stem.pool)
        body = []
        for item, (c_in, red_in), (c_out, red_out) in space.blocks:
            if isinstance(item, Cell):
                body.append(CellBody(space, item, make_edges(item)))
            else:
                body.append(_instantiate(item.op, c_in, c_out, red_out // red_in))
        self.body = nn.ModuleList(body)
        c_last, _ = space.out_shape
        self.head = HeadBlock(c_last, space.head.channels, space.num_classes, space.head.dropout, space.head.bn)

    def run_dag(self, x: Tensor, plan: Plan, module: Callable[[nn.Module, int], nn.Module]) -> Tensor:
        """Run stem, body (every cell with ``plan``) and head.

        Shapes:
            ``x``: ``(N, C, H, W)`` as the space's ``input_shape``; returns ``(N, num_classes)``.
        """
        x = self.stem(x)
        for block in self.body:
            x = block.run(x, plan, module) if isinstance(block, CellBody) else block(x)
        return self.head(x)


class Network(DAGModel):
    """A standalone network for one architecture (retraining, export).

    Only live edges are built; ``self.arch`` keeps the architecture. Topological order is computed
    once here.

    Shapes:
        input ``(N, *space.input_shape)``, output ``(N, space.num_classes)``.
    """

    def __init__(self, arch: Architecture) -> None:
        plan = plan_of(arch)
        super().__init__(arch.space, lambda cell: nn.ModuleDict(
            {edge_key(i): build_op(arch.space, i, arch.ops[i], cell) for i, _, _ in plan}))
        self.arch = arch
        self.plan = plan

    def forward(self, x: Tensor) -> Tensor:
        return self.run_dag(x, self.plan, lambda edges, i: edges[edge_key(i)])

    def extra_repr(self) -> str:
        return f"arch={self.arch.hash}, space={self.space.name!r}"


def compile(arch: Architecture) -> Network:  # noqa: A001 - the name the docs promise
    """Build the standalone :class:`Network` of ``arch`` (freshly initialised weights)."""
    return Network(arch)
