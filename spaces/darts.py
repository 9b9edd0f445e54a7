"""DARTS cell space (Liu et al., ICLR 2019): a normal and a reduction cell, stacked into a CIFAR network.

Each cell type is a DAG on 7 nodes: two inputs (the outputs of the previous two cells, ``c_{k-2}`` and
``c_{k-1}``, preprocessed to the cell's C channels), four intermediate nodes and an output that
concatenates the four (4C channels). Intermediate node j (j = 0..3) may read both inputs and the j
intermediate nodes before it: 2 + 3 + 4 + 5 = 14 choice edges per cell type, 28 in all (the normal
cell's first, in DARTS's own edge order: by target node, then source). Each edge offers the 8 DARTS
operators; an in-degree constraint keeps exactly 2 present (non-``none``) inputs per intermediate node,
as a DARTS genotype does. In the reduction cell the edges leaving the two inputs have stride 2.

Template nodes (ids; channels and reductions are multipliers of each Cell's C and reduction)::

    normal  0 c_{k-2}, 1 c_{k-1}: C x1 | 2..5 intermediates: C x1 | 6 concat(2..5): 4C x1
    reduce  7 c_{k-2}, 8 c_{k-1}: C x1 | 9..12 intermediates: C x2 | 13 concat(9..12): 4C x2

The network (default scale: 32 px CIFAR, C = 16, 8 cells; the paper's evaluation network is C = 36,
20 cells). Reduction cells sit at 1/3 and 2/3 of the depth and double C::

    block                  channels (out)   resolution
    stem                   3C               32          conv3x3 -> BN (no activation, as DARTS)
    cells 0-1   normal     4C  (C each)     32
    cell 2      reduce     8C  (2C)         16          edges from the inputs at stride 2
    cells 3-4   normal     8C  (2C)         16          c_{k-2} of cell 3 is factorized-reduced
    cell 5      reduce     16C (4C)          8
    cells 6-7   normal     16C (4C)          8
    head                   16C              global average pool -> linear

Cell inputs are preprocessed by ``darts_preprocess`` (ReLU -> conv 1x1 -> BN, or a factorized reduce when
``c_{k-2}`` is at twice ``c_{k-1}``'s resolution); the first cell reads the stem's output twice.

| figure | exact value |
|---|---|
| architectures per cell type | 1 * 3 * 6 * 10 * 7^8 = 180 * 7^8 = 1,037,664,180 |
| architectures (both cell types) | (180 * 7^8)^2 = 1,076,746,950,455,072,400 (~1.08e18) |
| choice edges | 28 (14 per cell type), 8 candidates each (``none`` first) |
| topologies (which edges are present) | 180^2 = 32,400 |
| DARTS-V2 at C = 36, 20 cells, 32 px, 10 classes | 3,349,342 parameters, 528,359,040 MAdds (no auxiliary head) |

The DARTS-V2 parameter count is exactly the 3.349342M that the paper's code logs for that network
(its count leaves out the auxiliary head; the paper's table rounds it to 3.3M).

``to_genotype`` / ``from_genotype`` convert to and from DARTS's genotype form
(``Genotype(normal=[(op, input), ...8 pairs], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=...)``,
two pairs per intermediate node, inputs 0 = ``c_{k-2}``, 1 = ``c_{k-1}``, 2 + m = intermediate m);
:data:`DARTS_V2` is the genotype the paper's code publishes for its second-order search.
"""

from __future__ import annotations

from collections import namedtuple

import graphnas.ops.darts  # noqa: F401  (registers sep_conv_*, dil_conv_*, darts_skip, darts_preprocess)
from graphnas.space.architecture import Architecture
from graphnas.errors import ArchitectureError, SpaceError
from graphnas.ops import NONE
from graphnas.space.searchspace import BRANCH, Cell, ChoiceEdge, Head, Node, SearchSpace, Stem, Template

#: DARTS's operator names, ``none`` first (its PRIMITIVES, in its order).
PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5")
#: DARTS name -> graphnas operator (only skip_connect differs: graphnas's skip_connect is identity-only).
TO_GRAPHNAS = {name: name for name in PRIMITIVES} | {"none": NONE, "skip_connect": "darts_skip"}
FROM_GRAPHNAS = {v: k for k, v in TO_GRAPHNAS.items()}
OPS = tuple(TO_GRAPHNAS[name] for name in PRIMITIVES)

NORMAL, REDUCE = 0, 1
NODES_PER_CELL = 7  # 2 inputs, 4 intermediate nodes, 1 concatenated output
STEPS = 4
CONCAT = (2, 3, 4, 5)  # in genotype numbering: the intermediate nodes

#: The paper the space comes from (for tables and reports).
PAPER = "DARTS: Differentiable Architecture Search (Liu et al., ICLR 2019), CIFAR cell space"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, channels=4, layers=5)

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

#: DARTS (second order), the genotype in the paper's released code (``genotypes.py``, DARTS_V2).
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)


def _edges_of(base: int) -> list[tuple[int, int]]:
    """``(src, dst)`` node ids of one cell type's 14 edges (template starting at node ``base``)."""
    return [(base + s, base + 2 + j) for j in range(STEPS) for s in range(2 + j)]


def make_space(resolution: int = 32, channels: int = 16, layers: int = 8, num_classes: int = 10,
               in_channels: int = 3, stem_multiplier: int = 3) -> SearchSpace:
    """The DARTS space at a given scale.

    Args:
        resolution (int): input image size (default: 32, CIFAR); at least 4 (two stride-2 cells).
        channels (int): C, the first cells' width (default: 16, the search network; 36 evaluates).
        layers (int): number of cells, at least 3; reduction cells at ``layers // 3`` and
            ``2 * layers // 3`` (default: 8, the search network; 20 evaluates).
        num_classes (int): classifier outputs (default: 10).
        in_channels (int): image channels (default: 3).
        stem_multiplier (int): the stem has ``stem_multiplier * C`` channels (default: 3).
    """
    limits = [(resolution >= 4, f"resolution={resolution} is too small for the 2 reduction cells (x4); "
                                f"use a resolution of at least 4"),
              (channels >= 2, f"channels={channels} must be at least 2 (a factorized reduce splits C in halves)"),
              (layers >= 3, f"layers={layers} must be at least 3 (normal cells around 2 reduction cells)"),
              (num_classes >= 2, f"num_classes={num_classes} must be at least 2"),
              (in_channels >= 1, f"in_channels={in_channels} must be at least 1"),
              (stem_multiplier >= 1, f"stem_multiplier={stem_multiplier} must be at least 1")]
    for ok, message in limits:
        if not ok:
            raise SpaceError(f"darts: {message}")
    base = {NORMAL: 0, REDUCE: NODES_PER_CELL}
    nodes = []
    for t, b in base.items():
        inner = 2 if t == REDUCE else 1
        nodes += [Node(b, t, 1, 1), Node(b + 1, t, 1, 1)]
        nodes += [Node(b + 2 + j, t, 1, inner) for j in range(STEPS)]
        nodes.append(Node(b + 6, t, STEPS, inner, concat=tuple(b + 2 + j for j in range(STEPS))))
    edges = [ChoiceEdge(s, d, BRANCH, OPS) for t in (NORMAL, REDUCE) for s, d in _edges_of(base[t])]
    templates = [Template(name, tuple(range(b, b + NODES_PER_CELL)), inputs=2, preprocess="darts_preprocess")
                 for name, b in (("normal", base[NORMAL]), ("reduce", base[REDUCE]))]
    in_degree = {b + 2 + j: 2 for b in base.values() for j in range(STEPS)}
    body, c, red = [], channels, 1
    for i in range(layers):
        if i in (layers // 3, 2 * layers // 3):
            c *= 2
            body.append(Cell(c, red, REDUCE))
            red *= 2
        else:
            body.append(Cell(c, red, NORMAL))
    return SearchSpace(
        "darts", nodes, edges, input_shape=(in_channels, resolution, resolution), num_classes=num_classes,
        stem=Stem(stem_multiplier * channels, 1, act=False), head=Head(None), body=body, templates=templates,
        in_degree=in_degree,
        scale=dict(resolution=resolution, channels=channels, layers=layers, num_classes=num_classes,
                   in_channels=in_channels, stem_multiplier=stem_multiplier),
    )


def _check_space(space: SearchSpace) -> None:
    keys = [e.key for e in space.edges]
    want = _edges_of(0) + _edges_of(NODES_PER_CELL)
    if keys != want or len(space.templates) != 2:
        raise ArchitectureError(f"space '{space.name}' is not a DARTS cell space: its edges are {keys[:4]}..., "
                                f"a DARTS space's are {want[:4]}... over two templates")


def to_genotype(arch: Architecture) -> Genotype:
    """DARTS's genotype of ``arch``: per cell type, the 2 ``(op, input)`` pairs of each intermediate node.

    Pairs of a node are listed by increasing input index.
    """
    _check_space(arch.space)
    cells = []
    for b in (0, NODES_PER_CELL):
        pairs = []
        for j in range(STEPS):
            for s in range(2 + j):
                op = arch.ops[arch.space.edge_index(b + s, b + 2 + j)]
                if op != NONE:
                    pairs.append((FROM_GRAPHNAS.get(op, op), s))
        cells.append(pairs)
    return Genotype(normal=cells[0], normal_concat=list(CONCAT), reduce=cells[1], reduce_concat=list(CONCAT))


def from_genotype(space: SearchSpace, genotype) -> Architecture:
    """The architecture of ``space`` (a DARTS space) that a DARTS genotype describes.

    Args:
        space (SearchSpace): a space made by :func:`make_space`.
        genotype: a :data:`Genotype`, or any object or dict with ``normal`` and ``reduce`` lists of 8
            ``(op, input)`` pairs; ``normal_concat``/``reduce_concat``, when given, must be ``[2, 3, 4, 5]``.

    Raises:
        ArchitectureError: a list that is not 8 pairs, an unknown operator or input, a node reading one
            input twice, or another concatenation (the message says which).
    """
    _check_space(space)
    get = genotype.get if isinstance(genotype, dict) else (lambda key, default=None: getattr(genotype, key, default))
    ops = [NONE] * space.num_edges
    for name, b in (("normal", 0), ("reduce", NODES_PER_CELL)):
        pairs, concat = get(name), get(f"{name}_concat")
        if concat is not None and list(concat) != list(CONCAT):
            raise ArchitectureError(f"DARTS genotype: {name}_concat is {list(concat)}; this space concatenates "
                                    f"the intermediate nodes {list(CONCAT)}")
        if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * STEPS:
            raise ArchitectureError(f"DARTS genotype: '{name}' must be a list of {2 * STEPS} (op, input) pairs, "
                                    f"two per intermediate node; got {pairs!r}")
        for n, pair in enumerate(pairs):
            j = n // 2
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ArchitectureError(f"DARTS genotype: {name} entry {n} is {pair!r}, not an (op, input) pair")
            op, src = pair
            if op not in TO_GRAPHNAS or op == "none":
                raise ArchitectureError(f"DARTS genotype: {name} entry {n} has operator {op!r}; use one of "
                                        f"{', '.join(PRIMITIVES[1:])}")
            if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < 2 + j:
                raise ArchitectureError(f"DARTS genotype: {name} entry {n} reads input {src!r}, but intermediate "
                                        f"node {j} reads inputs 0..{1 + j}")
            i = space.edge_index(b + src, b + 2 + j)
            if ops[i] != NONE:
                raise ArchitectureError(f"DARTS genotype: {name} node {j} reads input {src} twice; a node's two "
                                        f"pairs read different inputs")
            ops[i] = TO_GRAPHNAS[op]
    return space.from_ops(ops)


def darts_v2() -> Architecture:
    """DARTS-V2 in its evaluation network (C=36, 20 cells, 32 px CIFAR-10), the paper's Table 1 row."""
    return from_genotype(make_space(channels=36, layers=20), DARTS_V2)


#: Published models that are architectures of this space: label -> (builder, published figures).
#: DARTS publishes parameters (3.3M, without the auxiliary head), not multiply-adds.
REFERENCES = {"DARTS-V2 (C=36, 20 cells)": (darts_v2, {"params": 3.3e6})}
