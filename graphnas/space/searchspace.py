"""SearchSpace: a template DAG of choice edges, and the sets of architectures it spans.

Nodes are feature maps with a fixed stage, width (channels) and cumulative reduction (downsampling
from the input image); an edge carries one operator chosen from its candidate list. Two kinds of
edges exist:

* ``stem`` edges are always present and never offer ``none``;
* ``branch`` edges offer ``none`` (the edge is absent) besides real operators.

An edge may join nodes of different resolution or width: the operator is then built with
``stride = reduction[dst] // reduction[src]`` and ``c_out = channels[dst]``. When several edges
enter a node their outputs are summed. Node ids are integers in topological order: every edge
goes from a smaller id to a larger one; node 0 is the stem's output and the last node feeds the
head. Preconditions are checked once, here, when a space is built.

Cell spaces (NAS-Bench-201, DARTS) search one small DAG that the network repeats: their ``body``
lists :class:`Cell` instances (the template with channels and reductions multiplied) and
:class:`Fixed` blocks (a registered operator, e.g. a residual reduction block) in order. A space
without a body is one instance of its template with the channels and reductions as written.

Several cell types (DARTS's normal and reduction cells) are *templates*: disjoint groups of the
space's nodes, with the edges among them (see :class:`Template`). The choice vector spans every
template's edges, so one architecture fixes all cell types at once, and each :class:`Cell` names the
template it instantiates. A template's first ``inputs`` nodes are fed by the outputs of the
previous ``inputs`` blocks (the stem standing in for blocks before the first), optionally through
a registered ``preprocess`` operator; its last node is its output, and a node with ``concat``
is the channel concatenation of other nodes instead of a sum of edges. Why this shape: nodes and
edges stay the one representation every part of graphnas already walks (the choice vector, the
DAG view, liveness, cost, rendering), so cell types need no second kind of architecture, and a
one-template space is exactly the space it was before.

An *in-degree constraint* (``in_degree={node: k}``) requires a node to keep exactly ``k`` present
incoming choice edges (DARTS: 2 per intermediate node). Size, sampling, mutation, crossover,
enumeration and ranking all respect it (the counting lives in :mod:`graphnas.space.indegree`); a choice
vector that breaks it is not an architecture.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field, replace
from typing import Iterator, Mapping, Sequence

import numpy as np

from . import indegree
from .architecture import Architecture, gray_widths
from ..errors import ArchitectureError, SpaceError
from .networkx_input import space_arguments
from ..ops.registry import NONE
from .parts import BRANCH, FLAT, STEM, Cell, ChoiceEdge, Fixed, Head, Node, Stem, Template, edges_between
from .checks import StructureChecks
from ..utils import as_rng

__all__ = ["Node", "ChoiceEdge", "Stem", "Head", "Cell", "Fixed", "Template", "FLAT", "SearchSpace", "STEM",
           "BRANCH", "edges_between"]


@dataclass
class SearchSpace(StructureChecks):
    """A template DAG of choice edges; its architectures are choice vectors (one index per edge).

    Args:
        name (str): the space's name (as in ``spaces/<name>.py``).
        nodes (sequence of Node): feature maps, ids ``0..len(nodes)-1`` in topological order.
        edges (sequence of ChoiceEdge): the choice edges; their order is the choice-vector order.
        input_shape (tuple): ``(channels, height, width)`` of one input image (square).
        num_classes (int): classifier outputs.
        stem (Stem): input layers; ``stem.stride`` must equal node 0's reduction.
        head (Head, optional): output layers (default: pool + linear).
        scale (dict, optional): the scale arguments the space was made with, for reports.
        drop_unfit (bool, optional): silently drop candidates whose shape rules do not fit an edge
            (e.g. ``identity`` across a reduction) instead of raising (default: ``False``).
        body (sequence of Cell/Fixed, optional): for cell spaces, the network's blocks in order
            (default: one instance of the template as written).
        prune_dead (bool, optional): leave out edges that cannot affect the output (default:
            ``True``); ``False`` runs and costs every present edge, as NAS-Bench-201's networks do.
        templates (sequence of Template, optional): the cell types, disjoint groups of nodes covering all
            of them (default: one template of every node, one input, no preprocessing).
        in_degree (dict, optional): node -> ``k``: the node must keep exactly ``k`` present (non-``none``)
            incoming choice edges (default: no constraint).

    Example::

        >>> from graphnas.space.searchspace import SearchSpace, Node, ChoiceEdge, Stem
        >>> nodes = [Node(0, 0, 8, 1), Node(1, 0, 8, 1), Node(2, 1, 16, 2)]
        >>> edges = [ChoiceEdge(0, 1, "stem", ("mbconv_k3_e3", "identity")),
        ...          ChoiceEdge(1, 2, "stem", ("mbconv_k3_e3", "mbconv_k5_e3")),
        ...          ChoiceEdge(0, 2, "branch", ("none", "mbconv_k3_e3"))]
        >>> space = SearchSpace("tiny", nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))
        >>> space.size
        8
    """

    name: str
    nodes: Sequence[Node]
    edges: Sequence[ChoiceEdge]
    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    stem: Stem = field(default_factory=lambda: Stem(16))
    head: Head = field(default_factory=Head)
    scale: dict = field(default_factory=dict)
    drop_unfit: bool = False
    body: tuple = FLAT
    prune_dead: bool = True
    templates: Sequence[Template] | None = None
    in_degree: Mapping[int, int] = field(default_factory=dict)
    parent: "SearchSpace | None" = field(default=None, repr=False)

    def __post_init__(self) -> None:
        c, h, w = self.input_shape
        if h != w:
            raise SpaceError(f"space '{self.name}': input must be square, got {h}x{w}")
        self.nodes = tuple(replace(n, resolution=-(-h // n.reduction)) for n in self.nodes)
        for i, node in enumerate(self.nodes):
            if node.id != i:
                raise SpaceError(f"space '{self.name}': node ids must be 0..{len(self.nodes) - 1} in order, "
                                 f"found id {node.id} at position {i}")
        self.body = tuple(self.body)
        self.templates = self._check_templates()
        default = self.templates == (Template("cell", tuple(range(len(self.nodes)))),) and not any(
            n.concat for n in self.nodes)  # subspaces of a default space stay default
        self.blocks = self._check_body()
        self.edges = tuple(self._check_edge(e) for e in self.edges)
        keys = [e.key for e in self.edges]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise SpaceError(f"space '{self.name}': two choice edges join {dup[0]}->{dup[1]}; merge their candidates")
        self._edge_index = {k: i for i, k in enumerate(keys)}
        self._op_index = [{op: j for j, op in enumerate(e.candidates)} for e in self.edges]
        self.radices = np.array([len(e.candidates) for e in self.edges], dtype=np.int64)
        self.edge_template = tuple(self._node_template[e.src] for e in self.edges)
        self.template_edges = tuple(tuple(i for i, t in enumerate(self.edge_template) if t == k)
                                    for k in range(len(self.templates)))
        self.in_degree = self._check_in_degree()
        self.groups = self._make_groups()
        parts = [self.name, [[e.src, e.dst, e.kind, list(e.candidates)] for e in self.edges]]
        if self.in_degree:  # only when present, so spaces without one keep their fingerprint
            parts.append({"in_degree": [[n, k] for n, k in self.in_degree.items()]})
        if not default:
            parts.append({"templates": [[t.name, list(t.nodes), t.inputs, t.preprocess] for t in self.templates],
                          "concat": [[n.id, list(n.concat)] for n in self.nodes if n.concat]})
        self._fingerprint = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]
        self._derived: dict = {}

    def derived(self, key: str, build):
        """A table derived from this space (its cost table, its latency terms), built by ``build()`` on first
        use and kept with the space; a space made by ``dataclasses.replace`` or ``subspace`` starts empty."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    @classmethod
    def from_networkx(cls, graph, name: str | None = None, **options) -> "SearchSpace":
        """A space drawn as a networkx DiGraph (attribute conventions: :mod:`graphnas.space.networkx_input`).

        Nodes ``0..n-1`` (topological order) carry ``channels`` and ``reduction`` (optionally ``stage``,
        ``concat``, ``in_degree``); edges carry ``candidates`` (optionally ``kind``, default ``branch`` when
        they offer ``none``, and ``index``, the choice-vector position). The space is built and checked
        as any other.

        Args:
            graph (networkx.DiGraph): the template DAG.
            name (str, optional): the space's name (default: ``graph.graph['name']``).
            **options: the other arguments of :class:`SearchSpace` (``input_shape``, ``num_classes``,
                ``stem``, ``head``, ``body``, ``templates``, ``drop_unfit``, ...).

        Raises:
            SpaceError: not a DAG, node ids other than ``0..n-1``, a missing or malformed attribute, or
                any check of the space itself (one line naming the node or edge and the fix).

        Example::

            >>> import networkx as nx
            >>> g = nx.DiGraph()
            >>> g.add_nodes_from([(0, dict(channels=8, reduction=1)), (1, dict(channels=16, reduction=2))])
            >>> g.add_edge(0, 1, candidates=["mbconv_k3_e3", "mbconv_k5_e3"])
            >>> SearchSpace.from_networkx(g, "drawn", input_shape=(3, 16, 16), stem=Stem(8)).size
            2
        """
        return cls(**space_arguments(graph, {**options, "name": name}))

    # ------------------------------------------------------------------ structure
    @property
    def node_template(self) -> dict[int, int]:
        """The template (index into ``templates``) of every node id."""
        return self._node_template

    @property
    def num_edges(self) -> int:
        """Length of a choice vector."""
        return len(self.edges)

    @property
    def size(self) -> int:
        """Exact number of architectures (a Python int; no float overflow).

        Without constraints, the product of the edges' candidate counts; a node with an in-degree
        constraint contributes one factor: the sum over k-subsets of its incoming edges of the product
        of their real-operator counts.
        """
        if not self.in_degree:
            return math.prod(len(e.candidates) for e in self.edges)
        return math.prod(g.size for g in self.groups)

    @property
    def num_topologies(self) -> int:
        """Number of distinct sets of present edges: 2 per free branch edge that also offers an operator,
        times, per constrained node, the number of allowed sets of its present incoming edges."""
        total = 1
        for g in self.groups:
            if g.k is None:
                e = self.edges[g.edges[0]]
                total *= 2 if e.kind == BRANCH and len(e.candidates) > 1 else 1
            else:  # count subsets only: one "real operator" per edge that offers any
                shape = [(True, False) if any(f) and not all(f) else (f[0],) for f in g.is_none]
                total *= indegree.make_group(g.node, g.edges, g.k, shape).size
        return total

    @property
    def output_node(self) -> int:
        """The last node (the output of the last template; of the space, for one-template spaces)."""
        return len(self.nodes) - 1

    @property
    def input_nodes(self) -> tuple[int, ...]:
        """Every template's input nodes."""
        return tuple(i for t in self.templates for i in t.nodes[:t.inputs])

    @property
    def output_nodes(self) -> tuple[int, ...]:
        """Every template's output node, followed by the nodes the outputs concatenate."""
        outs = [t.nodes[-1] for t in self.templates]
        return tuple(outs) + tuple(m for i in outs for m in self.nodes[i].concat)

    def cell_edges(self, cell: Cell) -> tuple[int, ...]:
        """Choice-vector positions of the edges that body instance ``cell`` runs (its template's)."""
        return self.template_edges[cell.template]

    def input_edge_shape(self, k: int, j: int) -> tuple[int, int, int, int]:
        """``(c_in, c_out, stride, input resolution)`` of the preprocessing of input ``j`` of body block ``k``."""
        cell = self.body[k]
        node = self.templates[cell.template].nodes[j]
        _, c_src, red_src = self.cell_inputs[k][j]
        c_node, _ = self.node_shape(node, cell)
        return c_src, c_node, cell.reduction * self.nodes[node].reduction // red_src, -(-self.input_shape[1] // red_src)

    @property
    def out_shape(self) -> tuple[int, int]:
        """``(channels, resolution)`` of the body's output, which the head receives."""
        c, red = self.blocks[-1][2]
        return c, -(-self.input_shape[1] // red)

    def node_shape(self, node: int, cell: Cell) -> tuple[int, int]:
        """``(channels, resolution)`` of template node ``node`` in body instance ``cell``."""
        n = self.nodes[node]
        return cell.channels * n.channels, -(-self.input_shape[1] // (cell.reduction * n.reduction))

    def edge_shape(self, i: int, cell: Cell = FLAT[0]) -> tuple[int, int, int, int]:
        """``(c_in, c_out, stride, input resolution)`` of choice edge ``i`` in body instance ``cell``."""
        e = self.edges[i]
        c_in, res = self.node_shape(e.src, cell)
        return c_in, self.node_shape(e.dst, cell)[0], self.stride(i), res

    @property
    def fingerprint(self) -> str:
        """A hash of the space's structure (name, edges, candidates), independent of its scale.

        An architecture found at 32 px therefore loads into the same space at 224 px.
        """
        return self._fingerprint

    def edge_index(self, src: int, dst: int) -> int:
        """Choice-vector position of the edge ``src -> dst``."""
        try:
            return self._edge_index[(src, dst)]
        except KeyError:
            raise SpaceError(f"space '{self.name}' has no choice edge {src}->{dst}") from None

    def stride(self, i: int) -> int:
        """Stride of choice edge ``i``: the ratio of its target's reduction to its source's."""
        e = self.edges[i]
        return self.nodes[e.dst].reduction // self.nodes[e.src].reduction

    def op_index(self, i: int, op: str) -> int:
        """Index of operator ``op`` in edge ``i``'s candidates; the error lists the valid ones."""
        try:
            return self._op_index[i][op]
        except KeyError:
            e = self.edges[i]
            raise ArchitectureError(f"operator '{op}' is not a candidate of edge {i} ({e.src}->{e.dst}) in space "
                                    f"'{self.name}'; candidates: {', '.join(e.candidates)}") from None

    @property
    def gray_widths(self) -> np.ndarray:
        """Bits per edge of the Gray-code encoding: ``ceil(log2(candidates))``."""
        return gray_widths(self.radices)

    # ------------------------------------------------------------------ architectures
    def arch(self, choices: Sequence[int]) -> Architecture:
        """The architecture with this choice vector (validated)."""
        return Architecture(self, choices)

    def from_ops(self, ops: Sequence[str]) -> Architecture:
        """The architecture choosing operator ``ops[i]`` on edge ``i``."""
        if isinstance(ops, str) or len(ops) != self.num_edges:
            raise ArchitectureError(f"space '{self.name}' needs {self.num_edges} operators, one per choice edge; "
                                    f"got {len(ops) if not isinstance(ops, str) else 'a string'}")
        return Architecture(self, [self.op_index(i, op) for i, op in enumerate(ops)])

    def from_json(self, text: str) -> Architecture:
        """Parse an architecture written by :meth:`Architecture.to_json` (validated against this space)."""
        return Architecture.from_json(text, self)

    def check_in_degree(self, choices: Sequence[int]) -> None:
        """Raise :class:`ArchitectureError` unless the choice vector keeps every in-degree constraint."""
        for g in self.groups:
            if g.k is not None:
                present = indegree.present_count(g, [choices[i] for i in g.edges])
                if present != g.k:
                    joined = [f"{self.edges[i].src}->{g.node}" for i, f in zip(g.edges, g.is_none) if not f[choices[i]]]
                    raise ArchitectureError(
                        f"node {g.node} of space '{self.name}' has {present} present incoming edge(s) "
                        f"({', '.join(joined) or 'none'}) but needs exactly {g.k}; choose 'none' on "
                        f"{'the extra ones' if present > g.k else 'fewer of its edges'}")

    def index(self, arch: Architecture) -> int:
        """Mixed-radix rank of ``arch`` in ``0..size-1``.

        One digit per edge (edge 0 most significant); with an in-degree constraint, one digit per
        constrained node instead of its incoming edges: the lexicographic rank of their choices among
        the valid ones (see :mod:`graphnas.space.indegree`), placed at the node's first incoming edge.
        """
        self.check(arch)
        idx = 0
        if not self.in_degree:
            for c, r in zip(arch.choices, self.radices):
                idx = idx * int(r) + c
            return idx
        for g in self.groups:
            idx = idx * g.size + indegree.rank(g, [arch.choices[i] for i in g.edges])
        return idx

    def from_index(self, index: int) -> Architecture:
        """Inverse of :meth:`index`."""
        if not 0 <= index < self.size:
            raise ArchitectureError(f"index {index} is outside space '{self.name}' (0..{self.size - 1})")
        if not self.in_degree:
            digits = []
            for r in reversed(self.radices.tolist()):
                index, d = divmod(index, r)
                digits.append(d)
            return Architecture(self, digits[::-1])
        choices = [0] * self.num_edges
        for g in reversed(self.groups):
            index, d = divmod(index, g.size)
            for i, c in zip(g.edges, indegree.unrank(g, d)):
                choices[i] = c
        return Architecture(self, choices)

    def check(self, arch: Architecture) -> None:
        """Raise :class:`ArchitectureError` unless ``arch`` belongs to this space."""
        if arch.space is not self and arch.space.fingerprint != self.fingerprint:
            raise ArchitectureError(f"architecture belongs to space '{arch.space.name}' "
                                    f"({arch.space.fingerprint}), not to '{self.name}' ({self.fingerprint}); "
                                    f"convert it with to_parent()/from_parent() or load it into its own space")

    def _constrained(self) -> list[indegree.Group]:
        return [g for g in self.groups if g.k is not None]

    def sample(self, rng: int | np.random.Generator | None = None) -> Architecture:
        """A uniformly random architecture.

        Each free edge's choice is independent and uniform; each constrained node's incoming edges take
        a configuration drawn uniformly among its valid ones, so the architecture is uniform over the
        valid ones.
        """
        rng = as_rng(rng)
        choices = (rng.random(self.num_edges) * self.radices).astype(np.int64)
        for g in self._constrained():
            for i, c in zip(g.edges, indegree.unrank(g, indegree.uniform_int(rng, g.size))):
                choices[i] = c
        return Architecture(self, choices)

    def mutate(self, arch: Architecture, prob: float = 0.1, rng=None) -> Architecture:
        """Resample each choice with probability ``prob`` to a different candidate (edges with one candidate stay).

        An edge entering a node with an in-degree constraint moves so that the node keeps its count:
        a present edge that is hit changes its operator or (with probability 1/2, or when it has no
        other operator) hands its operator to an absent edge into the same node; an absent edge that
        is hit takes over from a random present one. The result is always valid.
        """
        self.check(arch)
        rng = as_rng(rng)
        choices = np.array(arch.choices)
        hit = (rng.random(self.num_edges) < prob) & (self.radices > 1)
        group_of = {i: g for g in self._constrained() for i in g.edges}
        touched: set[int] = set()  # edges a move already changed (a second hit must not undo the move)
        for i in np.flatnonzero(hit):
            g = group_of.get(int(i))
            if g is None:
                shift = 1 + rng.integers(self.radices[i] - 1)
                choices[i] = (choices[i] + shift) % self.radices[i]
            elif int(i) not in touched:
                touched.update(indegree.mutate_edge(g, choices, int(i), [self.edges[j].candidates for j in g.edges],
                                                    rng))
        return Architecture(self, choices)

    def crossover(self, a: Architecture, b: Architecture, rng=None, kind: str = "uniform") -> Architecture:
        """A child of ``a`` and ``b``.

        ``kind="uniform"`` (SPOS): each choice taken from ``a`` or ``b`` with probability 1/2.
        ``kind="one_point"`` (ST-NAS): the choices before a uniformly drawn cut from ``a``, the rest from ``b``
        (the cut falls between two edges, so at least one choice comes from each parent when there are two
        edges or more).

        The incoming edges of a node with an in-degree constraint travel together (all from the parent
        chosen for the node's first incoming edge), so the child is valid.
        """
        self.check(a)
        self.check(b)
        rng = as_rng(rng)
        if kind == "uniform":
            take_a = rng.random(self.num_edges) < 0.5
        elif kind == "one_point":
            cut = 1 + rng.integers(self.num_edges - 1) if self.num_edges > 1 else 1
            take_a = np.arange(self.num_edges) < cut
        else:
            raise SpaceError(f"unknown crossover kind '{kind}'; choose uniform or one_point")
        for g in self._constrained():
            take_a[list(g.edges)] = take_a[g.edges[0]]
        return Architecture(self, np.where(take_a, a.choices, b.choices))

    def enumerate(self, limit: int = 10_000_000) -> Iterator[Architecture]:
        """Every architecture in :meth:`index` order; refuses spaces larger than ``limit``."""
        if self.size > limit:
            raise SpaceError(f"space '{self.name}' has {self.size} architectures, more than limit={limit}; "
                             f"enumerate a subspace or raise the limit")
        if not self.in_degree:
            ranges = [range(int(r)) for r in self.radices]
            return (Architecture(self, choices) for choices in itertools.product(*ranges))
        options = [[indegree.unrank(g, d) for d in range(g.size)] for g in self.groups]
        return (self._assemble(parts) for parts in itertools.product(*options))

    def _assemble(self, parts: Sequence[Sequence[int]]) -> Architecture:
        choices = [0] * self.num_edges
        for g, sub in zip(self.groups, parts):
            for i, c in zip(g.edges, sub):
                choices[i] = c
        return Architecture(self, choices)

    # ------------------------------------------------------------------ subspaces
    def subspace(self, fixed: Mapping | None = None, allowed: Mapping | None = None,
                 name: str | None = None) -> "SearchSpace":
        """A SearchSpace whose edges keep fewer candidates.

        Args:
            fixed (dict, optional): edge -> operator name; the edge keeps only that operator.
            allowed (dict, optional): edge -> iterable of operator names to keep (in the parent's order).
            name (str, optional): the subspace's name (default: ``'<parent>/sub'``).

        Edges are given as choice-vector positions or ``(src, dst)`` pairs. The subspace has the
        same nodes and edges (so choice vectors have the same length; a fixed edge contributes no
        Gray bits and no Hamming neighbours). Convert with :meth:`to_parent` / :meth:`from_parent`.
        """
        keep = [list(e.candidates) for e in self.edges]
        for key, ops in list((allowed or {}).items()) + [(k, [v]) for k, v in (fixed or {}).items()]:
            i = self._resolve_edge(key)
            wanted = set(ops)
            for op in wanted:
                self.op_index(i, op)  # validates
            keep[i] = [op for op in keep[i] if op in wanted]
        edges = [replace(e, candidates=tuple(k)) for e, k in zip(self.edges, keep)]
        edges = [e if e.kind == STEM or NONE in e.candidates else replace(e, kind=STEM) for e in edges]
        return replace(self, name=name or f"{self.name}/sub", edges=edges, parent=self)

    def _resolve_edge(self, key) -> int:
        if isinstance(key, tuple):
            return self.edge_index(*key)
        if not 0 <= int(key) < self.num_edges:
            raise SpaceError(f"space '{self.name}' has edges 0..{self.num_edges - 1}, not {key}")
        return int(key)

    def to_parent(self, arch: Architecture) -> Architecture:
        """The same operators as an architecture of the parent space."""
        if self.parent is None:
            raise SpaceError(f"space '{self.name}' is not a subspace")
        self.check(arch)
        return self.parent.from_ops(arch.ops)

    def from_parent(self, arch: Architecture) -> Architecture:
        """A parent-space architecture as one of this subspace (error if it chooses a dropped operator)."""
        if self.parent is None:
            raise SpaceError(f"space '{self.name}' is not a subspace")
        self.parent.check(arch)
        return self.from_ops(arch.ops)

    # ------------------------------------------------------------------ reporting
    def describe(self) -> dict:
        """A JSON-friendly summary: name, scale, node and edge counts, exact size."""
        return {
            "name": self.name,
            "scale": dict(self.scale),
            "nodes": len(self.nodes),
            "choice_edges": self.num_edges,
            "stem_edges": sum(e.kind == STEM for e in self.edges),
            "branch_edges": sum(e.kind == BRANCH for e in self.edges),
            "topologies": self.num_topologies,
            "size": self.size,
        } | ({"in_degree": {str(n): k for n, k in self.in_degree.items()}} if self.in_degree else {})

    def __repr__(self) -> str:
        return (f"SearchSpace(name={self.name!r}, nodes={len(self.nodes)}, edges={self.num_edges}, "
                f"size={self.size}, input_shape={self.input_shape}, num_classes={self.num_classes})")

    def __eq__(self, other) -> bool:  # structural identity; scale is not part of it
        return isinstance(other, SearchSpace) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)
