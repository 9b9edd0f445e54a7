"""The parts a search space is built from: nodes, choice edges, stem, head, cells and templates.

Plain frozen dataclasses with no behaviour beyond a derived property or two; :mod:`graphnas.space.searchspace`
assembles and validates them (its module docstring explains how they fit together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["Node", "ChoiceEdge", "Stem", "Head", "Cell", "Fixed", "Template", "FLAT", "STEM", "BRANCH",
           "edges_between"]

#: Kind of an edge that is always present (never offers ``none``).
STEM = "stem"
#: Kind of an edge that may be absent (offers ``none`` first).
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


def edges_between(pairs: Iterable[tuple[int, int]], kind: str, candidates: Sequence[str]) -> list[ChoiceEdge]:
    """Helper for space definitions: one :class:`ChoiceEdge` of ``kind`` per ``(src, dst)`` pair."""
    return [ChoiceEdge(s, d, kind, tuple(candidates)) for s, d in pairs]
