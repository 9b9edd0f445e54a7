"""NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): one 4-node cell, repeated 15 times.

The cell is a DAG on 4 nodes, all at the width and resolution of the cell's input; each of its 6
edges (in the benchmark's order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) chooses one of ``none``,
``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``: 5^6 = 15,625 architectures,
the benchmark's. Node 3 is the cell's output. As in the benchmark's networks, every present edge
runs and is costed even when it cannot reach the output (``prune_dead=False``).

The network (at the default scale, 32 px CIFAR, C = 16):

    block                         channels  resolution (reduction)
    stem                          16        32 (x1)   conv3x3 -> BN (-> ReLU6, graphnas's stem)
    cells 0-4                     16        32 (x1)
    nb201_resblock                32        16 (x2)   ReLUConvBN 3x3 s2, ReLUConvBN 3x3, avgpool + 1x1 shortcut
    cells 5-9                     32        16 (x2)
    nb201_resblock                64         8 (x4)
    cells 10-14                   64         8 (x4)
    head                          64        BN -> ReLU -> global pool -> linear

| figure | exact value |
|---|---|
| architectures | 5^6 = 15,625 |
| choice edges | 6 branch edges (each offers ``none``) |
| MAdds at 32 px, 10 classes | 7,783,040 (no conv edge) to 220,119,680 (all ``nor_conv_3x3``) |
| parameters, 10 classes | 73,306 to 1,531,546 |
| one ``nor_conv_3x3`` / ``nor_conv_1x1`` edge, all 15 cells | 35,389,440 / 3,932,160 MAdds; 243,040 / 28,000 params |

Agreement with the benchmark's own figures (``metric_flops``, ``metric_params`` of the 15,625 rows of
``nasbench201_cifar10.csv``, checked in ``tests/test_nb201.py``):

* 15,475 rows agree exactly: parameters are equal, and FLOPs equal graphnas's MAdds + 10 (max
  relative difference 1.3e-6). The 10 is the classifier's bias: the benchmark's counter adds one
  FLOP per output of a Linear with bias (64 x 10 multiply-adds + 10), graphnas counts multiply-adds
  only. Neither counts batch norm, pooling (an all-``avg_pool_3x3`` cell costs what an all-``none``
  one does) or additions.
* 150 rows record the cost of another network: one ``nor_conv_3x3`` or ``nor_conv_1x1`` edge more
  or fewer than the row's operators (the numbers above, in FLOPs and params alike), always the cost
  of a cell that computes the same function up to ``skip_connect``. A known defect of the
  benchmark's 200-epoch cost records (NATS-Bench issue #36; for the issue's examples, all among
  the 150, the 12-epoch record gives graphnas's number), not of this space.

The one functional difference is the stem's activation: graphnas's stem is conv -> BN -> ReLU6, the
benchmark's conv -> BN (the same cost, but the first cell reads min(max(x, 0), 6) instead of x;
the benchmark's convolutions start with a ReLU anyway, its ``skip_connect`` and ``avg_pool_3x3`` do not).

``to_nb201_string`` / ``from_nb201_string`` convert to and from the benchmark's string form,
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (node 1's input, then node 2's, then node 3's).
"""

from __future__ import annotations

import graphnas.ops.nb201  # noqa: F401  (registers nor_conv_1x1, nor_conv_3x3, skip_connect, nb201_resblock)
from graphnas.space.architecture import Architecture
from graphnas.errors import ArchitectureError, SpaceError
from graphnas.ops import NONE
from graphnas.space.searchspace import BRANCH, Cell, ChoiceEdge, Fixed, Head, Node, SearchSpace, Stem

#: The benchmark's operators, ``none`` first (graphnas's branch-edge rule).
OPS = (NONE, "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The cell's edges ``(src, dst)`` in the benchmark's order (its string form and the CSV's hp_x0..hp_x5).
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4


#: The paper the space comes from (for tables and reports).
PAPER = "NAS-Bench-201 (Dong & Yang, ICLR 2020)"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, channels=8, cells_per_stage=1)


def make_space(resolution: int = 32, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
               in_channels: int = 3) -> SearchSpace:
    """The NAS-Bench-201 space at a given scale.

    Args:
        resolution (int): input image size (default: 32, CIFAR). At least 4 (two stride-2 blocks).
        channels (int): width C of the first stage; the later stages have 2C and 4C (default: 16).
        cells_per_stage (int): cells per stage, N in the paper (default: 5).
        num_classes (int): classifier outputs (default: 10).
        in_channels (int): image channels (default: 3).
    """
    if resolution < 4 or channels < 1 or cells_per_stage < 1 or num_classes < 2 or in_channels < 1:
        raise SpaceError(f"nb201: need resolution >= 4 (two stride-2 blocks), channels >= 1, cells_per_stage >= 1, "
                         f"num_classes >= 2, in_channels >= 1; got resolution={resolution}, channels={channels}, "
                         f"cells_per_stage={cells_per_stage}, num_classes={num_classes}, in_channels={in_channels}")
    c = channels
    nodes = [Node(i, 0, 1, 1) for i in range(NUM_NODES)]  # multipliers: each Cell sets width and reduction
    edges = [ChoiceEdge(src, dst, BRANCH, OPS) for src, dst in EDGES]
    body = ((Cell(c, 1),) * cells_per_stage
            + (Fixed("nb201_resblock", 2 * c, 2),) + (Cell(2 * c, 2),) * cells_per_stage
            + (Fixed("nb201_resblock", 4 * c, 4),) + (Cell(4 * c, 4),) * cells_per_stage)
    return SearchSpace(
        "nb201", nodes, edges, input_shape=(in_channels, resolution, resolution), num_classes=num_classes,
        stem=Stem(c, 1), head=Head(None, bn=True), body=body, prune_dead=False,
        scale=dict(resolution=resolution, channels=channels, cells_per_stage=cells_per_stage,
                   num_classes=num_classes, in_channels=in_channels),
    )


def _check_cell(space: SearchSpace) -> None:
    keys = tuple(e.key for e in space.edges)
    if keys != EDGES:
        raise ArchitectureError(f"space '{space.name}' is not a NAS-Bench-201 cell space: its edges are {keys}, "
                                f"the benchmark's are {EDGES}")


def to_nb201_string(arch: Architecture) -> str:
    """The benchmark's string form of ``arch``: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

    >>> # to_nb201_string(make_space().from_ops(['nor_conv_3x3'] * 6))
    >>> # '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|'
    """
    _check_cell(arch.space)
    ops = dict(zip(EDGES, arch.ops))
    return "+".join("|" + "".join(f"{ops[(src, dst)]}~{src}|" for src in range(dst)) for dst in range(1, NUM_NODES))


def from_nb201_string(space: SearchSpace, text: str) -> Architecture:
    """Parse the benchmark's string form into an architecture of ``space`` (a NAS-Bench-201 space).

    Each node's inputs may be listed in any order, but every input ``0..node-1`` exactly once.

    Raises:
        ArchitectureError: the text is not of the form ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, names an
            input twice or not at all, or an operator that the edge does not offer (the message says which).
    """
    _check_cell(space)
    form = "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
    if not isinstance(text, str):
        raise ArchitectureError(f"NAS-Bench-201 string must be a str like {form}, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != NUM_NODES - 1:
        raise ArchitectureError(f"malformed NAS-Bench-201 string {text!r}: {len(groups)} node group(s) separated by "
                                f"'+', expected {NUM_NODES - 1} as in {form}")
    ops: dict[tuple[int, int], str] = {}
    for dst, group in enumerate(groups, start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise ArchitectureError(f"malformed NAS-Bench-201 string {text!r}: node {dst}'s group {group!r} must "
                                    f"start and end with '|' as in {form}")
        for token in group[1:-1].split("|"):
            op, sep, src = token.rpartition("~")
            if not sep or not op or not src.isdigit():
                raise ArchitectureError(f"malformed NAS-Bench-201 string {text!r}: node {dst}'s entry {token!r} is "
                                        f"not 'op~input'")
            src = int(src)
            if src >= dst:
                raise ArchitectureError(f"malformed NAS-Bench-201 string {text!r}: node {dst} reads input {src}; "
                                        f"its inputs are 0..{dst - 1}")
            if (src, dst) in ops:
                raise ArchitectureError(f"malformed NAS-Bench-201 string {text!r}: node {dst} lists input {src} twice")
            i = space.edge_index(src, dst)
            if op not in space.edges[i].candidates:
                raise ArchitectureError(f"NAS-Bench-201 string {text!r}: unknown operator {op!r} on edge {dst}<-{src}; "
                                        f"this space offers {', '.join(space.edges[i].candidates)}")
            ops[(src, dst)] = op
        missing = [src for src in range(dst) if (src, dst) not in ops]
        if missing:
            raise ArchitectureError(f"malformed NAS-Bench-201 string {text!r}: node {dst} does not list input(s) "
                                    f"{', '.join(map(str, missing))}; every node lists all earlier nodes as in {form}")
    return space.from_ops([ops[key] for key in EDGES])
