"""Supernet: every candidate operator of every edge allocated once, weights shared by all architectures.

``supernet(x, arch)`` runs exactly the chosen path (the live edges of ``arch``), so a training step
costs what the standalone network's step costs. Modules are named ``body.<k>.edges.e<i>.<op>``;
the standalone :class:`~graphnas.nets.compile.Network` names the same module ``body.<k>.edges.e<i>``.

Weight sharing within an edge (SPOS's channel and mixed-precision search): the candidates of an edge
that belong to one operator *family* (:func:`graphnas.ops.register_family`) share one module,
``body.<k>.edges.e<i>.<family>``, built once at the largest configuration the edge offers. Candidate
``op`` runs as that module with ``op``'s config through a :class:`SharedOp` view; the view is what
:meth:`Supernet.path_modules` returns under the standalone name, so batch-norm recalibration and
path parameters see the shared layers, and :meth:`Supernet.extract` initialises the op's own
(smaller) standalone module with the leading slices of the shared tensors.

Why a family module and a view rather than one module per candidate with tied tensors: slicing is
the one rule that makes a narrow candidate's weights a part of a wide one's, it keeps a single
state-dict entry per shared tensor (so checkpoints, optimisers and weight decay see each weight
once), and the per-config behaviour (which channels, which bit widths) stays inside the operator
that knows it, while the supernet, the executor and the estimators stay generic.
"""

from __future__ import annotations

from typing import Hashable

from torch import Tensor, nn

from ..space.architecture import Architecture
from .compile import CellBody, DAGModel, Network, build_op, edge_key, plan_of, split_plan
from ..errors import OpError
from ..ops.registry import NONE, check_op_fits, get_family, get_op
from ..ops.slim import slice_state

__all__ = ["Supernet", "SharedOp"]


class SharedOp(nn.Module):
    """Candidate ``op`` run through its family's shared module: ``forward(x) = shared(x, config)``.

    Not a submodule of the supernet (the shared module is, once); it registers ``shared`` as its
    child so that ``modules()`` and ``parameters()`` reach the shared layers.

    Shapes:
        those of the standalone operator ``op`` on its edge.
    """

    def __init__(self, shared: nn.Module, op: str, config: Hashable) -> None:
        super().__init__()
        self.shared = shared
        self.op = op
        self.config = config

    def forward(self, x: Tensor) -> Tensor:
        return self.shared(x, self.config)

    def state_for(self, target: nn.Module) -> dict:
        """The state dict of ``target`` (``op``'s standalone module) sliced from the shared tensors."""
        return slice_state(self.shared.state_dict(), target, f"operator '{self.op}'")

    def extra_repr(self) -> str:
        return f"op={self.op!r}, config={self.config!r}"


def _edge_modules(space, i: int, cell) -> nn.ModuleDict:
    """One module per non-family candidate of edge ``i`` and one per family among its candidates."""
    members: dict[str, list[Hashable]] = {}
    order: list[tuple[str, str | None]] = []
    for op in space.edges[i].candidates:
        if op == NONE:
            continue
        family = get_op(op).family
        if family is None:
            order.append((op, None))
            continue
        if family not in members:
            members[family] = []
            order.append((family, family))
        members[family].append(get_op(op).config)
    c_in, c_out, stride, _ = space.edge_shape(i, cell)
    modules = {}
    for key, family in order:
        if family is None:
            modules[key] = build_op(space, i, key, cell)
            continue
        for op in space.edges[i].candidates:
            if op != NONE and get_op(op).family == family:
                check_op_fits(op, c_in, c_out, stride)
        module = get_family(family).build(c_in, c_out, stride, tuple(members[family]))
        if not isinstance(module, nn.Module):
            raise OpError(f"operator family '{family}' build returned {type(module).__name__}, not an nn.Module")
        modules[key] = module
    return nn.ModuleDict(modules)


class Supernet(DAGModel):
    """All candidate operators of ``space`` with shared weights.

    Args:
        space (SearchSpace): the space; every non-``none`` candidate of every edge gets one module
            (per body instance, for cell spaces), except that the candidates of one operator family
            share one module per edge.

    Shapes:
        ``forward(x, arch)``: ``x`` is ``(N, *space.input_shape)``, returns ``(N, space.num_classes)``.
    """

    def __init__(self, space) -> None:
        super().__init__(space, lambda cell: nn.ModuleDict({
            edge_key(i): _edge_modules(space, i, cell) for i in space.cell_edges(cell)
        }))
        self._plans: dict[tuple[int, ...], tuple] = {}
        self._views: dict[tuple[int, str], SharedOp] = {}

    def plan(self, arch: Architecture):
        """Execution plan of ``arch`` (cached per choice vector; the space is checked every call)."""
        self.space.check(arch)
        plan = self._plans.get(arch.choices)
        if plan is None:
            plan = self._plans[arch.choices] = plan_of(arch)
            if len(self._plans) > 4096:
                self._plans.pop(next(iter(self._plans)))
        return plan

    def candidate(self, edges: nn.ModuleDict, i: int, op: str) -> nn.Module:
        """The module that runs operator ``op`` on edge ``i`` of one body instance's ``edges``."""
        spec = get_op(op)
        if spec.family is None:
            return edges[edge_key(i)][op]
        shared = edges[edge_key(i)][spec.family]
        view = self._views.get((id(shared), op))
        if view is None or view.shared is not shared:
            view = self._views[(id(shared), op)] = SharedOp(shared, op, spec.config)
        return view

    def forward(self, x: Tensor, arch: Architecture) -> Tensor:
        ops = arch.ops
        return self.run_dag(x, self.plan(arch), lambda edges, i: self.candidate(edges, i, ops[i]))

    def path_modules(self, arch: Architecture) -> dict[str, nn.Module]:
        """The modules ``arch`` uses, by their standalone name (``stem``, ``head``, ``body.<k>...``).

        A family candidate appears as its :class:`SharedOp` view (whose ``modules()`` are the shared layers).
        """
        out = {"stem": self.stem, "head": self.head}
        plans = split_plan(self.space, self.plan(arch))
        for k, block in enumerate(self.body):
            if isinstance(block, CellBody):
                used = block.path_modules(plans[block.template], arch.live_inputs[block.template],
                                          lambda edges, i: self.candidate(edges, i, arch.ops[i]))
                out.update({f"body.{k}.{name}": m for name, m in used.items()})
            else:
                out[f"body.{k}"] = block
        return out

    def path_parameters(self, arch: Architecture) -> list[nn.Parameter]:
        """Parameters on ``arch``'s path (those a step on ``arch`` gives gradients to).

        A shared tensor is listed whole (a narrow candidate's gradient is zero outside its slice), once.
        """
        seen: dict[int, nn.Parameter] = {}
        for m in self.path_modules(arch).values():
            for p in m.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())

    def extract(self, arch: Architecture) -> Network:
        """A standalone :class:`Network` of ``arch`` initialised from the shared weights (a copy).

        Each operator is built by its own factory; a family candidate's tensors are the leading slices
        of the shared module's. Its outputs equal the supernet's on the same input, in train and eval mode.
        """
        net = Network(arch).to(next(self.parameters()).device)
        for name, module in self.path_modules(arch).items():
            target = net.get_submodule(name)
            target.load_state_dict(module.state_for(target) if isinstance(module, SharedOp) else module.state_dict())
        net.train(self.training)
        return net
