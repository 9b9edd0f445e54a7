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

Subspaces. ``supernet(x, arch)`` also runs an architecture of a subspace of its space
(:meth:`SearchSpace.subspace`, e.g. SE-NAS's shrunk space, a lookup table's), as the parent-space architecture
with the same operators.

Private weights (SE-NAS's expansion, :meth:`Supernet.expand`). A *group* is a run of two or more choice edges;
once expanded, every *partial model* of the group (one operator per edge of the group, as the space given to
``expand`` offers them) owns a copy of those edges' modules, ``private.g<edges>.c<choices>.e<i>``, initialised from
the weights that partial model ran on at the moment of expansion (the shared modules, or an earlier group's copy),
so expanding changes no architecture's output. A path runs its group's private copy where it has one and the
shared modules elsewhere; one path still runs per step, while parameter memory grows with the number of partial
models (:meth:`Supernet.parameter_counts`). Groups only grow: a later expansion keeps every earlier group whole,
alone or inside a larger one. Spaces whose cell template is instantiated more than once (NAS-Bench-201, DARTS)
are not expanded: an edge there is several layers.
"""

from __future__ import annotations

import itertools
from typing import Hashable, Sequence

from torch import Tensor, nn

from ..space.architecture import Architecture
from .compile import CellBody, DAGModel, Network, build_op, edge_key, plan_of, split_plan
from ..errors import ArchitectureError, OpError, SpaceError
from ..ops.registry import NONE, check_op_fits, get_family, get_op
from ..ops.slim import slice_state

__all__ = ["Supernet", "SharedOp", "group_key", "combo_key"]


def group_key(group: Sequence[int]) -> str:
    """Module name of a group of edges (``'g3_4_5'``)."""
    return "g" + "_".join(str(int(i)) for i in group)


def combo_key(choices: Sequence[int]) -> str:
    """Module name of a group's partial model by its candidate positions in the supernet's space (``'c0_2_1'``)."""
    return "c" + "_".join(str(int(c)) for c in choices)


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
        self.private = nn.ModuleDict()  # SE-NAS's private weights (empty: no state-dict entries)
        self.groups: list[tuple[int, ...]] = []

    def own(self, arch: Architecture) -> Architecture:
        """``arch`` as an architecture of this supernet's space: one of a subspace of it (at any depth) becomes
        the parent-space architecture with the same operators; one of another space raises."""
        if arch.space is self.space:
            return arch
        if not self._covers(arch.space):
            self.space.check(arch)  # raises, naming both spaces
        return self.space.from_ops(arch.ops)

    def _covers(self, space) -> bool:
        """Whether ``space`` is this supernet's space or a subspace of it (at any depth)."""
        while space is not None:
            if space is self.space or space.fingerprint == self.space.fingerprint:
                return True
            space = getattr(space, "parent", None)
        return False

    def plan(self, arch: Architecture):
        """Execution plan of ``arch`` (an architecture of the space, cached per choice vector)."""
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

    def _modules_of(self, arch: Architecture):
        """``module(edges, i)`` for ``arch`` (of this space): its group's private copy where it has one, else the
        shared candidate."""
        ops = arch.ops
        if not self.groups:
            return lambda edges, i: self.candidate(edges, i, ops[i])
        slots: dict[int, nn.Module] = {}
        for group in self.groups:
            key = combo_key([arch.choices[i] for i in group])
            copies = self.private[group_key(group)]
            if key not in copies:
                raise ArchitectureError(
                    f"architecture {arch.hash} runs {'/'.join(ops[i] for i in group)} on edges "
                    f"{', '.join(map(str, group))}, a partial model outside the space this supernet was expanded "
                    f"over (SE-NAS removed one of them); score architectures of that space")
            slot = copies[key]
            slots.update({i: slot[edge_key(i)] for i in group if ops[i] != NONE})
        return lambda edges, i: slots[i] if i in slots else self.candidate(edges, i, ops[i])

    def forward(self, x: Tensor, arch: Architecture) -> Tensor:
        arch = self.own(arch)
        return self.run_dag(x, self.plan(arch), self._modules_of(arch))

    def path_modules(self, arch: Architecture) -> dict[str, nn.Module]:
        """The modules ``arch`` uses, by their standalone name (``stem``, ``head``, ``body.<k>...``).

        A family candidate appears as its :class:`SharedOp` view (whose ``modules()`` are the shared layers), an
        edge of an expanded group as the partial model's private copy.
        """
        arch = self.own(arch)
        out = {"stem": self.stem, "head": self.head}
        plans = split_plan(self.space, self.plan(arch))
        module = self._modules_of(arch)
        for k, block in enumerate(self.body):
            if isinstance(block, CellBody):
                used = block.path_modules(plans[block.template], arch.live_inputs[block.template], module)
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
        arch = self.own(arch)
        net = Network(arch).to(next(self.parameters()).device)
        for name, module in self.path_modules(arch).items():
            target = net.get_submodule(name)
            target.load_state_dict(module.state_for(target) if isinstance(module, SharedOp) else module.state_dict())
        net.train(self.training)
        return net

    # ------------------------------------------------------------------ SE-NAS's expansion
    def _cell(self) -> tuple[CellBody, object]:
        """The one body instance and its :class:`Cell` (spaces that repeat their cell are refused)."""
        cells = [(b, item) for b, (item, _, _) in zip(self.body, self.space.blocks) if isinstance(b, CellBody)]
        if len(cells) != 1:
            raise SpaceError(f"space '{self.space.name}' repeats its cell {len(cells)} times, so an edge is several "
                             f"layers; SE-NAS's private weights need a chain space (one cell)")
        return cells[0]

    def expand(self, groups: Sequence[Sequence[int]], space=None) -> None:
        """Give every partial model of each group its own copy of the group's modules (module docstring).

        Args:
            groups (sequence of sequences of int): runs of two or more distinct choice edges, disjoint; every
                group expanded before must lie whole inside one of them.
            space (SearchSpace, optional): this supernet's space or a subspace of it (SE-NAS's shrunk space); its
                candidates on a group's edges are the group's partial models (default: the whole space).

        The copies start as the weights each partial model ran on (its earlier group's copy, else the shared
        modules) and sit on the supernet's device; copies of partial models outside ``space`` are dropped.
        """
        space = self.space if space is None else space
        if not self._covers(space):
            raise SpaceError(f"space '{space.name}' is not '{self.space.name}' or a subspace of it; expand over "
                             f"the supernet's space or a subspace of it")
        body, cell = self._cell()
        groups = [tuple(int(i) for i in g) for g in groups]
        flat = [i for g in groups for i in g]
        if len(set(flat)) != len(flat):
            raise ArchitectureError(f"SE-NAS groups {groups} share an edge; each edge belongs to one group at most")
        for g in groups:
            if len(g) < 2:
                raise ArchitectureError(f"SE-NAS group {list(g)} has {len(g)} edge; a group merges two or more")
            for i in g:
                if not 0 <= i < self.space.num_edges or len(self.space.edges[i].candidates) < 2:
                    raise ArchitectureError(f"SE-NAS group {list(g)}: {i} is not a choice edge of "
                                            f"'{self.space.name}' (0..{self.space.num_edges - 1} with a choice)")
        for old in self.groups:
            if not any(set(old) <= set(g) for g in groups):
                raise ArchitectureError(f"SE-NAS group {list(old)} was expanded before and is not kept whole in "
                                        f"{groups}; groups only grow")
        ops = [space.edges[i].candidates for i in range(self.space.num_edges)]
        device = next(self.parameters()).device
        private = nn.ModuleDict()
        for g in groups:
            copies = nn.ModuleDict()
            for combo in itertools.product(*(ops[i] for i in g)):
                choices = [self.space.op_index(i, op) for i, op in zip(g, combo)]
                slot = nn.ModuleDict()
                for i, op in zip(g, combo):
                    if op == NONE:
                        continue
                    target = build_op(self.space, i, op, cell)
                    source = self._source(body, i, op, dict(zip(g, choices)))
                    target.load_state_dict(source.state_for(target) if isinstance(source, SharedOp)
                                           else source.state_dict())
                    slot[edge_key(i)] = target.to(device).train(self.training)
                copies[combo_key(choices)] = slot
            private[group_key(g)] = copies
        self.private = private
        self.groups = groups

    def _source(self, body: CellBody, i: int, op: str, choices: dict) -> nn.Module:
        """The module partial model ``choices`` (edge -> candidate position) runs ``op`` on edge ``i`` with now."""
        for old in self.groups:
            if i in old:
                key = combo_key([choices[j] for j in old])
                copies = self.private[group_key(old)]
                if key not in copies:
                    raise ArchitectureError(f"SE-NAS: edges {list(old)} have no weights for the partial model "
                                            f"{key}: the new space offers an operator the last one had removed")
                return copies[key][edge_key(i)]
        return self.candidate(body.edges, i, op)

    def parameter_counts(self) -> dict:
        """``{"shared": n, "private": m, "total": n + m}``: parameters outside and inside SE-NAS's private copies."""
        private = sum(p.numel() for p in self.private.parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"shared": total - private, "private": private, "total": total}
