"""Architecture -> standalone ``nn.Module``: stem, the chosen DAG, head.

The DAG is executed from a *plan*, a tuple of ``(edge position, src, dst)`` in topological order
(computed once from :attr:`Architecture.live_edges`). Each node's value is the sum of the outputs of
its incoming edges. :class:`Network` (one architecture) and :class:`~graphnas.supernet.Supernet`
(all of them, shared weights) run the same executor and name their modules the same way
(``stem``, ``edges.e<i>``, ``head``), which is what makes :meth:`Supernet.extract` exact.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from .arch import Architecture
from .errors import OpError
from .ops.registry import check_op_fits, get_op
from .ops.stemhead import HeadBlock, StemBlock

__all__ = ["Network", "compile", "build_op", "edge_key", "Plan"]

Plan = Sequence[tuple[int, int, int]]


def edge_key(i: int) -> str:
    """Module name of choice edge ``i`` (``'e7'``)."""
    return f"e{i}"


def build_op(space, i: int, op: str) -> nn.Module:
    """Instantiate operator ``op`` for choice edge ``i`` of ``space`` with stride/width adaptation."""
    e = space.edges[i]
    c_in, c_out, stride = space.nodes[e.src].channels, space.nodes[e.dst].channels, space.stride(i)
    check_op_fits(op, c_in, c_out, stride)
    module = get_op(op).factory(c_in, c_out, stride)
    if not isinstance(module, nn.Module):
        raise OpError(f"operator '{op}' factory returned {type(module).__name__}, not an nn.Module")
    return module


def plan_of(arch: Architecture) -> tuple[tuple[int, int, int], ...]:
    """The execution plan of ``arch``: ``(edge position, src, dst)`` of its live edges, in order."""
    edges = arch.space.edges
    return tuple((i, edges[i].src, edges[i].dst) for i in arch.live_edges)


class DAGModel(nn.Module):
    """Stem + DAG executor + head; subclasses say which module runs each edge."""

    def __init__(self, space) -> None:
        super().__init__()
        self.space = space
        c, _, _ = space.input_shape
        self.stem = StemBlock(c, space.stem.channels, space.nodes[0].channels, space.stem.stride)
        last = space.nodes[-1]
        self.head = HeadBlock(last.channels, space.head.channels, space.num_classes, space.head.dropout)
        self._out_shape = (last.channels, last.resolution, last.resolution)

    def run_dag(self, x: Tensor, plan: Plan, module: Callable[[int], nn.Module]) -> Tensor:
        """Run the stem, the edges of ``plan`` (``module(i)`` gives edge ``i``'s module) and the head.

        Shapes:
            ``x``: ``(N, C, H, W)`` as the space's ``input_shape``; returns ``(N, num_classes)``.
        """
        values = {0: self.stem(x)}
        for i, src, dst in plan:
            y = module(i)(values[src])
            values[dst] = values[dst] + y if dst in values else y
        out = values.get(self.space.output_node)
        if out is None:  # every path to the output is 'none': the body outputs zeros
            out = torch.zeros(x.shape[0], *self._out_shape, dtype=x.dtype, device=x.device)
        return self.head(out)


class Network(DAGModel):
    """A standalone network for one architecture (retraining, export).

    Only live edges are built; ``self.arch`` keeps the architecture. Topological order is computed
    once here.

    Shapes:
        input ``(N, *space.input_shape)``, output ``(N, space.num_classes)``.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch.space)
        self.arch = arch
        self.plan = plan_of(arch)
        self.edges = nn.ModuleDict({edge_key(i): build_op(arch.space, i, arch.ops[i]) for i, _, _ in self.plan})

    def forward(self, x: Tensor) -> Tensor:
        return self.run_dag(x, self.plan, lambda i: self.edges[edge_key(i)])

    def extra_repr(self) -> str:
        return f"arch={self.arch.hash}, space={self.space.name!r}"


def compile(arch: Architecture) -> Network:  # noqa: A001 - the name the docs promise
    """Build the standalone :class:`Network` of ``arch`` (freshly initialised weights)."""
    return Network(arch)
