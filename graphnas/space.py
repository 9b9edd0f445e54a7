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
enumeration and ranking all respect it (the counting lives in :mod:`graphnas.indegree`); a choice
vector that breaks it is not an architecture.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import indegree
from .arch import Architecture, gray_widths
from .errors import ArchitectureError, SpaceError
from .ops.registry import NONE, get_op
from .utils import as_rng

__all__ = ["Node", "ChoiceEdge", "Stem", "Head", "Cell", "Fixed", "Template", "FLAT", "SearchSpace", "STEM",
           "BRANCH", "edges_between"]

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
        concat (tuple of int, optional): when given, the node is the channel concatenation of these
            earlier nodes of its template (in this order) instead of the sum of incoming edges; only a
            template's output node may have it, and it takes no choice edges (default: ``()``).
    """

    id: int
    stage: int
    channels: int
    reduction: int
    resolution: int = 0
    concat: tuple[int, ...] = ()


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
    """The fixed input layers: conv3x3(in -> ``channels``, ``stride``) -> BN -> ReLU6 (no activation when
    ``act=False``, as DARTS), then an optional 3x3 max pool with stride 2 (``pool``, ShuffleNet), then,
    when the body's input is narrower or wider than ``channels`` and the first cell does not preprocess
    its inputs, a depthwise-separable 3x3 projecting to it (MobileNetV2's first block)."""

    channels: int
    stride: int = 1
    pool: bool = False
    act: bool = True
    kernel: int = 3  # the first conv's kernel (7: ResNet's ImageNet stem)

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
    """One instance of a template DAG in a cell space's body.

    Node ``n`` of the instance has ``channels * n.channels`` channels and reduction
    ``reduction * n.reduction``. Without preprocessing, the template's input nodes must match the
    outputs of the blocks that feed them; with it, they must be reachable by the preprocess operator.

    Args:
        channels (int): channel multiplier (default: 1).
        reduction (int): reduction multiplier (default: 1).
        template (int): index into the space's templates (default: 0, the only one of most spaces).
    """

    channels: int = 1
    reduction: int = 1
    template: int = 0


@dataclass(frozen=True)
class Fixed:
    """A block of a cell space's body that is not searched: registered operator ``op`` from the previous
    block's output to ``channels`` channels at cumulative ``reduction``."""

    op: str
    channels: int
    reduction: int


@dataclass(frozen=True)
class Template:
    """A cell type: a group of the space's nodes (and the choice edges among them) that :class:`Cell` blocks
    instantiate.

    Args:
        name (str): the cell type's name, for rendering and reports (``'normal'``, ``'reduce'``).
        nodes (tuple of int): the template's node ids, increasing. The first ``inputs`` are its inputs,
            the last its output.
        inputs (int, optional): number of input nodes; input ``j`` of the cell at body position ``k`` reads
            the output of block ``k - inputs + j`` (the stem's output when that is negative), so two inputs
            read the previous two blocks, DARTS's ``c_{k-2}`` and ``c_{k-1}`` (default: 1).
        preprocess (str, optional): registered operator that maps each feeding block's output to its input
            node (``stride`` = the ratio of reductions); ``None`` feeds them unchanged, so shapes must match
            (default: ``None``). Its modules are named ``body.<k>.pre.<j>`` and run only when a live edge
            (or the output) reads that input.
    """

    name: str
    nodes: tuple[int, ...]
    inputs: int = 1
    preprocess: str | None = None


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
        templates (sequence of Template, optional): the cell types, disjoint groups of nodes covering all
            of them (default: one template of every node, one input, no preprocessing).
        in_degree (dict, optional): node -> ``k``: the node must keep exactly ``k`` present (non-``none``)
            incoming choice edges (default: no constraint).

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

    def _check_templates(self) -> tuple[Template, ...]:
        """Validate the templates (default: one of every node); fills ``_node_template``."""
        n = len(self.nodes)
        name = self.name
        templates = (Template("cell", tuple(range(n))),) if self.templates is None else tuple(self.templates)
        if not templates:
            raise SpaceError(f"space '{name}': templates is empty; give at least one Template or leave it None")
        owner: dict[int, int] = {}
        for t, tmpl in enumerate(templates):
            if not isinstance(tmpl, Template):
                raise SpaceError(f"space '{name}': template {t} is {tmpl!r}; use graphnas.space.Template")
            ids = tuple(tmpl.nodes)
            if list(ids) != sorted(set(ids)) or any(not 0 <= i < n for i in ids):
                raise SpaceError(f"space '{name}': template '{tmpl.name}' must list distinct node ids of 0..{n - 1} "
                                 f"in increasing order, got {list(ids)}")
            if not 1 <= tmpl.inputs < len(ids):
                raise SpaceError(f"space '{name}': template '{tmpl.name}' has {len(ids)} nodes and {tmpl.inputs} "
                                 f"inputs; it needs 1..{len(ids) - 1} inputs and an output node after them")
            if tmpl.preprocess is not None:
                get_op(tmpl.preprocess)
            for i in ids:
                if i in owner:
                    raise SpaceError(f"space '{name}': node {i} is in templates '{templates[owner[i]].name}' and "
                                     f"'{tmpl.name}'; every node belongs to exactly one template")
                owner[i] = t
        missing = [i for i in range(n) if i not in owner]
        if missing:
            raise SpaceError(f"space '{name}': node(s) {', '.join(map(str, missing))} belong to no template; "
                             f"add them to one")
        self._node_template = owner
        for tmpl in templates:
            for i in tmpl.nodes:
                members = self.nodes[i].concat
                if not members:
                    continue
                if i != tmpl.nodes[-1]:
                    raise SpaceError(f"space '{name}': node {i} concatenates nodes but is not the output of "
                                     f"template '{tmpl.name}'; only a template's last node may concatenate")
                if any(m not in tmpl.nodes or m >= i for m in members) or len(set(members)) != len(members):
                    raise SpaceError(f"space '{name}': node {i} concatenates {list(members)}; list distinct earlier "
                                     f"nodes of template '{tmpl.name}'")
                width = sum(self.nodes[m].channels for m in members)
                reds = {self.nodes[m].reduction for m in members}
                if width != self.nodes[i].channels or reds != {self.nodes[i].reduction}:
                    raise SpaceError(f"space '{name}': node {i} concatenates nodes of {width} channels in total at "
                                     f"reductions {sorted(reds)}, but has {self.nodes[i].channels} channels at "
                                     f"x{self.nodes[i].reduction}; make it the sum of their channels at their "
                                     f"reduction")
        return templates

    def _check_body(self) -> tuple:
        """Validate the body; returns ``(item, (c_in, red_in), (c_out, red_out))`` per block.

        ``(c_in, red_in)`` is the previous block's output (the stem's for the first block). Also fills
        ``cell_inputs``: per block, ``((source block, c, reduction), ...)`` for each input node of a Cell
        (source ``-1`` is the stem), ``()`` for a Fixed block.
        """
        if not self.body:
            raise SpaceError(f"space '{self.name}': the body is empty; give at least one Cell")
        h = self.input_shape[1]
        shape, blocks, outs, cell_inputs = (self.stem.channels, self.stem.reduction), [], [], []
        stem_out = (self.stem_out_channels, self.stem.reduction)
        for k, item in enumerate(self.body):
            if isinstance(item, Cell):
                if not 0 <= item.template < len(self.templates):
                    raise SpaceError(f"space '{self.name}': body block {k} instantiates template {item.template}, "
                                     f"but the space has templates 0..{len(self.templates) - 1}")
                tmpl = self.templates[item.template]
                sources = []
                for j, node in enumerate(tmpl.nodes[:tmpl.inputs]):
                    src = k - tmpl.inputs + j
                    c_src, red_src = outs[src] if src >= 0 else stem_out
                    start = (item.channels * self.nodes[node].channels, item.reduction * self.nodes[node].reduction)
                    self._check_cell_input(k, tmpl, node, src, (c_src, red_src), start)
                    sources.append((src, c_src, red_src))
                cell_inputs.append(tuple(sources))
                last = self.nodes[tmpl.nodes[-1]]
                c_in = shape[0]
                out = (item.channels * last.channels, item.reduction * last.reduction)
                deepest = item.reduction * max(self.nodes[i].reduction for i in tmpl.nodes)
            elif isinstance(item, Fixed):
                get_op(item.op)
                c_in = shape[0]
                if item.reduction % shape[1]:
                    raise SpaceError(f"space '{self.name}': body block {k} ({item.op}) goes from reduction "
                                     f"x{shape[1]} to x{item.reduction}; reductions must grow by an integer factor")
                out = (item.channels, item.reduction)
                deepest = item.reduction
                cell_inputs.append(())
            else:
                raise SpaceError(f"space '{self.name}': body block {k} is {item!r}; use Cell or Fixed")
            if deepest > h:
                raise SpaceError(f"space '{self.name}': resolution {h} is too small for reduction x{deepest}; "
                                 f"use a resolution of at least {deepest}")
            blocks.append((item, (c_in, shape[1]), out))
            shape = out
            outs.append(out)
        self.cell_inputs = tuple(cell_inputs)
        return tuple(blocks)

    def _check_cell_input(self, k: int, tmpl: Template, node: int, src: int, have: tuple[int, int],
                          start: tuple[int, int]) -> None:
        """Check that the output of block ``src`` (``have`` = channels, reduction) can feed input ``node``."""
        if tmpl.preprocess is None:
            if src < 0 and start[1] != have[1]:
                raise SpaceError(f"space '{self.name}': the stem reduces x{have[1]} but node {node} is at reduction "
                                 f"x{start[1]}; make the stem's stride (and pool) match node {node}")
            if start != have:
                raise SpaceError(f"space '{self.name}': body block {k} starts at {start[0]} channels, "
                                 f"reduction x{start[1]}, but the block before ends at {have[0]} channels, "
                                 f"x{have[1]}; make them equal")
            return
        stride = start[1] // have[1]
        if start[1] % have[1] or not get_op(tmpl.preprocess).fits(have[0], start[0], stride):
            where = "the stem" if src < 0 else f"block {src}"
            raise SpaceError(f"space '{self.name}': body block {k}'s input node {node} ({start[0]} ch, x{start[1]}) "
                             f"cannot be fed from {where} ({have[0]} ch, x{have[1]}) by '{tmpl.preprocess}'; "
                             f"change the cells' channels or reductions")

    @property
    def stem_out_channels(self) -> int:
        """Channels the stem hands the body: the first cell's input width when that cell does not preprocess
        its inputs (the stem projects to it), else ``stem.channels``."""
        first = self.body[0]
        if isinstance(first, Cell) and 0 <= first.template < len(self.templates):
            tmpl = self.templates[first.template]
            if tmpl.preprocess is None:
                return first.channels * self.nodes[tmpl.nodes[0]].channels
        return self.stem.channels

    def _check_edge(self, e: ChoiceEdge) -> ChoiceEdge:
        n = len(self.nodes)
        if not (0 <= e.src < e.dst < n):
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} must go forward between nodes 0..{n - 1}")
        if e.kind not in (STEM, BRANCH):
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} has kind '{e.kind}'; use 'stem' or 'branch'")
        src, dst = self.nodes[e.src], self.nodes[e.dst]
        tmpl = self.templates[self._node_template[e.src]]
        if self._node_template[e.dst] != self._node_template[e.src]:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} joins templates '{tmpl.name}' and "
                             f"'{self.templates[self._node_template[e.dst]].name}'; edges stay inside one template")
        if e.dst in tmpl.nodes[:tmpl.inputs] or dst.concat:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} enters node {e.dst}, an input or "
                             f"concatenation node of template '{tmpl.name}', which takes no choice edges")
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

    def _check_in_degree(self) -> dict[int, int]:
        """Validate ``in_degree`` (node -> k); returns it as a dict sorted by node."""
        out = {}
        for node, k in sorted(dict(self.in_degree).items()):
            if isinstance(node, bool) or not isinstance(node, (int, np.integer)) or not 0 <= node < len(self.nodes):
                raise SpaceError(f"space '{self.name}': in_degree names node {node!r}; "
                                 f"nodes are 0..{len(self.nodes) - 1}")
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                raise SpaceError(f"space '{self.name}': in_degree of node {node} is {k!r}; give a count >= 0")
            out[int(node)] = int(k)
        return out

    def _make_groups(self) -> tuple[indegree.Group, ...]:
        """One group per constrained node (its incoming edges) and per other edge, by first position."""
        flags = [tuple(op == NONE for op in e.candidates) for e in self.edges]
        groups, taken = [], set()
        for node, k in self.in_degree.items():
            edges = [i for i, e in enumerate(self.edges) if e.dst == node]
            group = indegree.make_group(node, edges, k, [flags[i] for i in edges])
            if group.size == 0:
                forced = sum(1 for i in edges if not any(flags[i]))
                real = sum(1 for i in edges if not all(flags[i]))
                raise SpaceError(f"space '{self.name}': node {node} must keep exactly {k} present incoming edges, "
                                 f"but {real} of its {len(edges)} choice edges offer an operator and {forced} "
                                 f"cannot be 'none'; change in_degree or the edges' candidates")
            groups.append(group)
            taken.update(edges)
        groups += [indegree.make_group(None, [i], None, [flags[i]]) for i in range(len(self.edges)) if i not in taken]
        return tuple(sorted(groups, key=lambda g: g.edges[0]))

    # ------------------------------------------------------------------ structure
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
        the valid ones (see :mod:`graphnas.indegree`), placed at the node's first incoming edge.
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

    def crossover(self, a: Architecture, b: Architecture, rng=None) -> Architecture:
        """Uniform crossover: each choice taken from ``a`` or ``b`` with probability 1/2.

        The incoming edges of a node with an in-degree constraint travel together (all from the parent
        chosen for the node's first incoming edge), so the child is valid.
        """
        self.check(a)
        self.check(b)
        take_a = as_rng(rng).random(self.num_edges) < 0.5
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


def edges_between(pairs: Iterable[tuple[int, int]], kind: str, candidates: Sequence[str]) -> list[ChoiceEdge]:
    """Helper for space definitions: one :class:`ChoiceEdge` of ``kind`` per ``(src, dst)`` pair."""
    return [ChoiceEdge(s, d, kind, tuple(candidates)) for s, d in pairs]
