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
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from .arch import Architecture, gray_widths
from .errors import ArchitectureError, SpaceError
from .ops.registry import NONE, get_op
from .utils import as_rng

__all__ = ["Node", "ChoiceEdge", "Stem", "Head", "Cell", "Fixed", "FLAT", "SearchSpace", "STEM", "BRANCH", "edges_between"]

STEM = "stem"
BRANCH = "branch"


@dataclass(frozen=True)
class Node:
    """A feature map of the template DAG.

    Args:
        id (int): position in topological order (0 = the stem's output).
        stage (int): stage index, used for rendering and reporting.
        channels (int): width of the feature map.
        reduction (int): cumulative downsampling from the input image (1, 2, 4, ...).
        resolution (int, optional): filled in by the space: ``ceil(input_resolution / reduction)``.
    """

    id: int
    stage: int
    channels: int
    reduction: int
    resolution: int = 0


@dataclass(frozen=True)
class ChoiceEdge:
    """An edge of the template DAG with its candidate operators (``none`` first on branch edges)."""

    src: int
    dst: int
    kind: str
    candidates: tuple[str, ...]

    @property
    def key(self) -> tuple[int, int]:
        return (self.src, self.dst)


@dataclass(frozen=True)
class Stem:
    """The fixed input layers: conv3x3(in -> ``channels``, ``stride``) -> BN -> ReLU6, then an optional
    3x3 max pool with stride 2 (``pool``, ShuffleNet), then, when the body's input is narrower or wider
    than ``channels``, a depthwise-separable 3x3 projecting to it (MobileNetV2's first block)."""

    channels: int
    stride: int = 1
    pool: bool = False

    @property
    def reduction(self) -> int:
        """Total downsampling of the stem."""
        return self.stride * (2 if self.pool else 1)


@dataclass(frozen=True)
class Head:
    """The fixed output layers: [1x1 conv to ``channels`` -> BN -> ReLU6] or, with ``bn``, BN -> ReLU
    (NAS-Bench-201's last activation) -> global average pool -> dropout -> linear classifier."""

    channels: int | None = None
    dropout: float = 0.0
    bn: bool = False


@dataclass(frozen=True)
class Cell:
    """One instance of the template DAG in a cell space's body.

    Node ``n`` of the instance has ``channels * n.channels`` channels and reduction
    ``reduction * n.reduction``; its node 0 must match the previous block's output.
    """

    channels: int = 1
    reduction: int = 1


@dataclass(frozen=True)
class Fixed:
    """A block of a cell space's body that is not searched: registered operator ``op`` from the previous
    block's output to ``channels`` channels at cumulative ``reduction``."""

    op: str
    channels: int
    reduction: int


#: The body of a space that is a single instance of its template.
FLAT = (Cell(1, 1),)


@dataclass
class SearchSpace:
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

    Example::

        >>> from graphnas.space import SearchSpace, Node, ChoiceEdge, Stem
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
        self.blocks = self._check_body()
        self.edges = tuple(self._check_edge(e) for e in self.edges)
        keys = [e.key for e in self.edges]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise SpaceError(f"space '{self.name}': two choice edges join {dup[0]}->{dup[1]}; merge their candidates")
        self._edge_index = {k: i for i, k in enumerate(keys)}
        self._op_index = [{op: j for j, op in enumerate(e.candidates)} for e in self.edges]
        self.radices = np.array([len(e.candidates) for e in self.edges], dtype=np.int64)
        blob = json.dumps([self.name, [[e.src, e.dst, e.kind, list(e.candidates)] for e in self.edges]])
        self._fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _check_body(self) -> tuple:
        """Validate the body; returns ``(item, (c_in, red_in), (c_out, red_out))`` per block."""
        if not self.body:
            raise SpaceError(f"space '{self.name}': the body is empty; give at least one Cell")
        h = self.input_shape[1]
        shape, blocks = (self.stem.channels, self.stem.reduction), []
        for k, item in enumerate(self.body):
            if isinstance(item, Cell):
                first, last = self.nodes[0], self.nodes[-1]
                start = (item.channels * first.channels, item.reduction * first.reduction)
                if k == 0 and start[1] != shape[1]:
                    raise SpaceError(f"space '{self.name}': the stem reduces x{shape[1]} but node 0 is at reduction "
                                     f"x{start[1]}; make the stem's stride (and pool) match node 0")
                if start[1] != shape[1] or (k > 0 and start[0] != shape[0]):
                    raise SpaceError(f"space '{self.name}': body block {k} starts at {start[0]} channels, "
                                     f"reduction x{start[1]}, but the block before ends at {shape[0]} channels, "
                                     f"x{shape[1]}; make them equal")
                # after the stem, a width change is bridged by the stem's separable projection
                c_in = shape[0]
                out = (item.channels * last.channels, item.reduction * last.reduction)
                deepest = item.reduction * max(n.reduction for n in self.nodes)
            elif isinstance(item, Fixed):
                get_op(item.op)
                c_in = shape[0]
                if item.reduction % shape[1]:
                    raise SpaceError(f"space '{self.name}': body block {k} ({item.op}) goes from reduction "
                                     f"x{shape[1]} to x{item.reduction}; reductions must grow by an integer factor")
                out = (item.channels, item.reduction)
                deepest = item.reduction
            else:
                raise SpaceError(f"space '{self.name}': body block {k} is {item!r}; use Cell or Fixed")
            if deepest > h:
                raise SpaceError(f"space '{self.name}': resolution {h} is too small for reduction x{deepest}; "
                                 f"use a resolution of at least {deepest}")
            blocks.append((item, (c_in, shape[1]), out))
            shape = out
        return tuple(blocks)

    def _check_edge(self, e: ChoiceEdge) -> ChoiceEdge:
        n = len(self.nodes)
        if not (0 <= e.src < e.dst < n):
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} must go forward between nodes 0..{n - 1}")
        if e.kind not in (STEM, BRANCH):
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} has kind '{e.kind}'; use 'stem' or 'branch'")
        src, dst = self.nodes[e.src], self.nodes[e.dst]
        stride = dst.reduction // src.reduction
        if dst.reduction % src.reduction or stride < 1:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} goes from reduction x{src.reduction} to "
                             f"x{dst.reduction}; reductions must grow by an integer factor along edges")
        cands = []
        for op in dict.fromkeys(e.candidates):
            if op == NONE:
                cands.append(op)
                continue
            spec = get_op(op)
            if spec.fits(src.channels, dst.channels, stride):
                cands.append(op)
            elif not self.drop_unfit:
                raise SpaceError(f"space '{self.name}': operator '{op}' cannot join node {e.src} ({src.channels} ch) "
                                 f"to node {e.dst} ({dst.channels} ch) at stride {stride}; remove it from that edge "
                                 f"or build the space with drop_unfit=True")
        if e.kind == STEM and NONE in cands:
            raise SpaceError(f"space '{self.name}': stem edge {e.src}->{e.dst} offers 'none'; make it a branch edge")
        if e.kind == BRANCH:
            if NONE not in cands:
                raise SpaceError(f"space '{self.name}': branch edge {e.src}->{e.dst} must offer 'none'")
            cands.remove(NONE)
            cands.insert(0, NONE)
        if not cands:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} has no candidate operator left")
        return replace(e, candidates=tuple(cands))

    # ------------------------------------------------------------------ structure
    @property
    def num_edges(self) -> int:
        """Length of a choice vector."""
        return len(self.edges)

    @property
    def size(self) -> int:
        """Exact number of architectures (a Python int; no float overflow)."""
        return math.prod(len(e.candidates) for e in self.edges)

    @property
    def num_topologies(self) -> int:
        """Number of distinct sets of present edges: 2 per branch edge that also offers an operator."""
        return 2 ** sum(1 for e in self.edges if e.kind == BRANCH and len(e.candidates) > 1)

    @property
    def output_node(self) -> int:
        return len(self.nodes) - 1

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

    def index(self, arch: Architecture) -> int:
        """Mixed-radix rank of ``arch`` in ``0..size-1`` (edge 0 is the most significant digit)."""
        self.check(arch)
        idx = 0
        for c, r in zip(arch.choices, self.radices):
            idx = idx * int(r) + c
        return idx

    def from_index(self, index: int) -> Architecture:
        """Inverse of :meth:`index`."""
        if not 0 <= index < self.size:
            raise ArchitectureError(f"index {index} is outside space '{self.name}' (0..{self.size - 1})")
        digits = []
        for r in reversed(self.radices.tolist()):
            index, d = divmod(index, r)
            digits.append(d)
        return Architecture(self, digits[::-1])

    def check(self, arch: Architecture) -> None:
        """Raise :class:`ArchitectureError` unless ``arch`` belongs to this space."""
        if arch.space is not self and arch.space.fingerprint != self.fingerprint:
            raise ArchitectureError(f"architecture belongs to space '{arch.space.name}' "
                                    f"({arch.space.fingerprint}), not to '{self.name}' ({self.fingerprint}); "
                                    f"convert it with to_parent()/from_parent() or load it into its own space")

    def sample(self, rng: int | np.random.Generator | None = None) -> Architecture:
        """A uniformly random architecture (each edge's choice independent and uniform)."""
        rng = as_rng(rng)
        return Architecture(self, (rng.random(self.num_edges) * self.radices).astype(np.int64))

    def mutate(self, arch: Architecture, prob: float = 0.1, rng=None) -> Architecture:
        """Resample each choice with probability ``prob`` to a different candidate (edges with one candidate stay)."""
        self.check(arch)
        rng = as_rng(rng)
        choices = np.array(arch.choices)
        hit = (rng.random(self.num_edges) < prob) & (self.radices > 1)
        for i in np.flatnonzero(hit):
            shift = 1 + rng.integers(self.radices[i] - 1)
            choices[i] = (choices[i] + shift) % self.radices[i]
        return Architecture(self, choices)

    def crossover(self, a: Architecture, b: Architecture, rng=None) -> Architecture:
        """Uniform crossover: each choice taken from ``a`` or ``b`` with probability 1/2."""
        self.check(a)
        self.check(b)
        take_a = as_rng(rng).random(self.num_edges) < 0.5
        return Architecture(self, np.where(take_a, a.choices, b.choices))

    def enumerate(self, limit: int = 10_000_000) -> Iterator[Architecture]:
        """Every architecture in :meth:`index` order; refuses spaces larger than ``limit``."""
        if self.size > limit:
            raise SpaceError(f"space '{self.name}' has {self.size} architectures, more than limit={limit}; "
                             f"enumerate a subspace or raise the limit")
        ranges = [range(int(r)) for r in self.radices]
        return (Architecture(self, choices) for choices in itertools.product(*ranges))

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
        }

    def __repr__(self) -> str:
        return (f"SearchSpace(name={self.name!r}, nodes={len(self.nodes)}, edges={self.num_edges}, "
                f"size={self.size}, input_shape={self.input_shape}, num_classes={self.num_classes})")

    def __eq__(self, other) -> bool:  # structural identity; scale is not part of it
        return isinstance(other, SearchSpace) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)


def edges_between(pairs: Iterable[tuple[int, int]], kind: str, candidates: Sequence[str]) -> list[ChoiceEdge]:
    """Helper for space definitions: one :class:`ChoiceEdge` of ``kind`` per ``(src, dst)`` pair."""
    return [ChoiceEdge(s, d, kind, tuple(candidates)) for s, d in pairs]
