"""Supernet: every candidate operator of every edge allocated once, weights shared by all architectures.

``supernet(x, arch)`` runs exactly the chosen path (the live edges of ``arch``), so a training step
costs what the standalone network's step costs. Modules are named ``body.<k>.edges.e<i>.<op>``;
the standalone :class:`~graphnas.compile.Network` names the same module ``body.<k>.edges.e<i>``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .arch import Architecture
from .compile import CellBody, DAGModel, Network, build_op, edge_key, plan_of
from .ops.registry import NONE

__all__ = ["Supernet"]


class Supernet(DAGModel):
    """All candidate operators of ``space`` with shared weights.

    Args:
        space (SearchSpace): the space; every non-``none`` candidate of every edge gets one module
            (per body instance, for cell spaces).

    Shapes:
        ``forward(x, arch)``: ``x`` is ``(N, *space.input_shape)``, returns ``(N, space.num_classes)``.
    """

    def __init__(self, space) -> None:
        super().__init__(space, lambda cell: nn.ModuleDict({
            edge_key(i): nn.ModuleDict({op: build_op(space, i, op, cell) for op in e.candidates if op != NONE})
            for i, e in enumerate(space.edges)
        }))
        self._plans: dict[tuple[int, ...], tuple] = {}

    def plan(self, arch: Architecture):
        """Execution plan of ``arch`` (cached per choice vector; the space is checked every call)."""
        self.space.check(arch)
        plan = self._plans.get(arch.choices)
        if plan is None:
            plan = self._plans[arch.choices] = plan_of(arch)
            if len(self._plans) > 4096:
                self._plans.pop(next(iter(self._plans)))
        return plan

    def forward(self, x: Tensor, arch: Architecture) -> Tensor:
        ops = arch.ops
        return self.run_dag(x, self.plan(arch), lambda edges, i: edges[edge_key(i)][ops[i]])

    def path_modules(self, arch: Architecture) -> dict[str, nn.Module]:
        """The modules ``arch`` uses, by their standalone name (``stem``, ``head``, ``body.<k>...``)."""
        out = {"stem": self.stem, "head": self.head}
        plan = self.plan(arch)
        for k, block in enumerate(self.body):
            if isinstance(block, CellBody):
                for i, _, _ in plan:
                    out[f"body.{k}.edges.{edge_key(i)}"] = block.edges[edge_key(i)][arch.ops[i]]
            else:
                out[f"body.{k}"] = block
        return out

    def path_parameters(self, arch: Architecture) -> list[nn.Parameter]:
        """Parameters on ``arch``'s path (those a step on ``arch`` gives gradients to)."""
        return [p for m in self.path_modules(arch).values() for p in m.parameters()]

    def extract(self, arch: Architecture) -> Network:
        """A standalone :class:`Network` of ``arch`` initialised from the shared weights (a copy).

        Its outputs equal the supernet's on the same input, in train and eval mode.
        """
        net = Network(arch).to(next(self.parameters()).device)
        for name, module in self.path_modules(arch).items():
            net.get_submodule(name).load_state_dict(module.state_dict())
        net.train(self.training)
        return net
