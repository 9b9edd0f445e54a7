"""Architecture -> standalone ``nn.Module``: stem, the body (instances of the chosen DAG), head.

The DAG is executed from a *plan*, a tuple of ``(edge position, src, dst)`` in topological order
(computed once from :attr:`Architecture.live_edges`). Each node's value is the sum of the outputs of
its incoming edges, or the channel concatenation of the nodes it lists in ``concat``. The body is
the space's sequence of blocks: :class:`~graphnas.space.searchspace.Cell` instances of a template (one for a
plain space) and :class:`~graphnas.space.searchspace.Fixed` operators. A cell runs the plan's edges of its
template; its input nodes read the outputs of the blocks before it, through the template's
preprocessing modules when it has them (built and run only for inputs that are read).

:class:`Network` (one architecture) and :class:`~graphnas.nets.supernet.Supernet` (all of them, shared
weights) run the same executor and name their modules the same way (``stem``,
``body.<k>.edges.e<i>``, ``body.<k>.pre.<j>``, ``body.<k>.op``, ``head``), which is what makes
:meth:`Supernet.extract` exact.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from ..space.architecture import Architecture
from ..errors import OpError
from ..ops.registry import check_op_fits, get_op
from ..ops.stemhead import HeadBlock, StemBlock
from ..space.searchspace import Cell

__all__ = ["Network", "compile", "build_op", "build_preprocess", "edge_key", "plan_of", "split_plan", "CellBody",
           "DAGModel"]

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


def build_preprocess(space, k: int, j: int) -> nn.Module:
    """Instantiate the preprocessing of input ``j`` of body block ``k`` (a Cell whose template has one)."""
    return _instantiate(space.templates[space.body[k].template].preprocess, *space.input_edge_shape(k, j)[:3])


def plan_of(arch: Architecture) -> tuple[tuple[int, int, int], ...]:
    """The execution plan of ``arch``: ``(edge position, src, dst)`` of its live edges, in order."""
    edges = arch.space.edges
    return tuple((i, edges[i].src, edges[i].dst) for i in arch.live_edges)


def split_plan(space, plan: Plan) -> tuple[Plan, ...]:
    """``plan`` split by template (the plan itself, for a one-template space)."""
    if len(space.templates) == 1:
        return (plan,)
    parts = [[] for _ in space.templates]
    for step in plan:
        parts[space.edge_template[step[0]]].append(step)
    return tuple(tuple(p) for p in parts)


class CellBody(nn.Module):
    """One instance of a template DAG; ``edges`` holds a module (or a ModuleDict of candidates) per edge,
    ``pre`` (when the template preprocesses its inputs) a module per input position that is used."""

    def __init__(self, space, cell: Cell, edges: nn.ModuleDict, pre: nn.ModuleDict | None = None,
                 sources: tuple[int, ...] = (-1,)) -> None:
        super().__init__()
        self.edges = edges
        self.pre = pre
        self.template = cell.template
        self.sources = sources
        tmpl = space.templates[cell.template]
        self._inputs = {node: j for j, node in enumerate(tmpl.nodes[:tmpl.inputs])}
        self._shapes = {n: space.node_shape(n, cell) for n in tmpl.nodes}
        self._out = tmpl.nodes[-1]
        self._concat = space.nodes[self._out].concat

    def run(self, inputs: Sequence[Tensor], plan: Plan, module: Callable[[nn.Module, int], nn.Module]) -> Tensor:
        """Run the edges of ``plan`` (this template's); ``module(self.edges, i)`` gives edge ``i``'s module.

        ``inputs[j]`` is the output of the block that feeds input node ``j``; it is preprocessed when first
        read. A node that no edge reached reads as zeros (only with ``prune_dead=False`` or at the output).

        Shapes:
            ``inputs[j]``: ``(N, C_j, H_j, W_j)`` of the feeding block; returns ``(N, C_out, H_out, W_out)``
            of the template's output node.
        """
        values: dict[int, Tensor] = {}

        def value(node: int) -> Tensor:
            v = values.get(node)
            if v is None:
                j = self._inputs.get(node)
                if j is None:
                    v = self._zeros(inputs[0], node)
                else:
                    v = inputs[j] if self.pre is None else self.pre[str(j)](inputs[j])
                values[node] = v
            return v

        for i, src, dst in plan:
            y = module(self.edges, i)(value(src))
            values[dst] = values[dst] + y if dst in values else y
        if self._concat:
            return torch.cat([value(m) for m in self._concat], dim=1)
        return value(self._out)

    def path_modules(self, plan: Plan, live_inputs: Sequence[int],
                     module: Callable[[nn.Module, int], nn.Module]) -> dict[str, nn.Module]:
        """The modules a run of ``plan`` uses, by name relative to this cell (``edges.e<i>``, ``pre.<j>``)."""
        out = {f"edges.{edge_key(i)}": module(self.edges, i) for i, _, _ in plan}
        if self.pre is not None:
            out.update({f"pre.{j}": self.pre[str(j)] for j in live_inputs})
        return out

    def _zeros(self, x: Tensor, node: int) -> Tensor:
        c, r = self._shapes[node]
        return torch.zeros(x.shape[0], c, r, r, dtype=x.dtype, device=x.device)


class DAGModel(nn.Module):
    """Stem + body + head; ``make_edges(cell) -> nn.ModuleDict`` fills each cell instance.

    ``inputs_used(k, cell)`` lists the input positions whose preprocessing block ``k`` builds (default:
    all of them).
    """

    def __init__(self, space, make_edges: Callable[[Cell], nn.ModuleDict],
                 inputs_used: Callable[[int, Cell], Sequence[int]] | None = None) -> None:
        super().__init__()
        self.space = space
        c, _, _ = space.input_shape
        self.stem = StemBlock(c, space.stem.channels, space.stem_out_channels, space.stem.stride, space.stem.pool,
                              act=space.stem.act, kernel=space.stem.kernel)
        body = []
        for k, (item, (c_in, red_in), (c_out, red_out)) in enumerate(space.blocks):
            if isinstance(item, Cell):
                tmpl = space.templates[item.template]
                pre = None
                if tmpl.preprocess is not None:
                    used = range(tmpl.inputs) if inputs_used is None else inputs_used(k, item)
                    pre = nn.ModuleDict({str(j): build_preprocess(space, k, j) for j in used})
                sources = tuple(src for src, _, _ in space.cell_inputs[k])
                body.append(CellBody(space, item, make_edges(item), pre, sources))
            else:
                body.append(_instantiate(item.op, c_in, c_out, red_out // red_in))
        self.body = nn.ModuleList(body)
        c_last, _ = space.out_shape
        self.head = HeadBlock(c_last, space.head.channels, space.num_classes, space.head.dropout, space.head.bn)

    def run_dag(self, x: Tensor, plan: Plan, module: Callable[[nn.Module, int], nn.Module]) -> Tensor:
        """Run stem, body (every cell with its template's part of ``plan``) and head.

        Shapes:
            ``x``: ``(N, C, H, W)`` as the space's ``input_shape``; returns ``(N, num_classes)``.
        """
        x = self.stem(x)
        plans = split_plan(self.space, plan)
        outs: list[Tensor] = []
        for block in self.body:
            if isinstance(block, CellBody):
                y = block.run([outs[s] if s >= 0 else x for s in block.sources], plans[block.template], module)
            else:
                y = block(outs[-1] if outs else x)
            outs.append(y)
        return self.head(outs[-1])


class Network(DAGModel):
    """A standalone network for one architecture (retraining, export).

    Only live edges (and the preprocessing of inputs they read) are built; ``self.arch`` keeps the
    architecture. Topological order is computed once here.

    Shapes:
        input ``(N, *space.input_shape)``, output ``(N, space.num_classes)``.
    """

    def __init__(self, arch: Architecture) -> None:
        plan = plan_of(arch)
        plans = split_plan(arch.space, plan)
        super().__init__(arch.space, lambda cell: nn.ModuleDict(
            {edge_key(i): build_op(arch.space, i, arch.ops[i], cell) for i, _, _ in plans[cell.template]}),
            lambda k, cell: arch.live_inputs[cell.template])
        self.arch = arch
        self.plan = plan

    def forward(self, x: Tensor) -> Tensor:
        return self.run_dag(x, self.plan, lambda edges, i: edges[edge_key(i)])

    def extra_repr(self) -> str:
        return f"arch={self.arch.hash}, space={self.space.name!r}"


def compile(arch: Architecture) -> Network:  # noqa: A001 - the name the docs promise
    """Build the standalone :class:`Network` of ``arch`` (freshly initialised weights)."""
    return Network(arch)
