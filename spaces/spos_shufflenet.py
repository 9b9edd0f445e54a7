"""SPOS's ShuffleNetV2 block space (Guo et al., "Single Path One-Shot NAS with Uniform Sampling", ECCV 2020).

A chain: node 0 is the stem's output and every one of the 20 choice blocks is one ``stem`` edge from
node ``i`` to node ``i + 1``, choosing among four ShuffleNetV2-style units (:mod:`graphnas.ops.shufflenet`):
``shuffle_3``, ``shuffle_5``, ``shuffle_7`` (depthwise kernel 3/5/7) and ``shuffle_x`` (Xception-like,
three depthwise 3x3 + pointwise pairs). The first block of each stage has stride 2 and widens the
feature map; the others keep its shape. 4^20 = 1,099,511,627,776 architectures.

Table 1 of the paper (224 px, width 1.0), graphnas's nodes:

    stage  nodes   channels  blocks  resolution (reduction)
    stem   0       16        -       112 (x2)   conv3x3 s2 -> BN -> ReLU6
    1      1-4     64        4        56 (x4)   first block stride 2
    2      5-8     160       4        28 (x8)
    3      9-16    320       8        14 (x16)
    4      17-20   640       4         7 (x32)
    head   -       1024      -       1x1 conv -> BN -> ReLU6, global pool, linear

| figure | exact value |
|---|---|
| architectures | 4^20 = 1,099,511,627,776 |
| choice edges | 20 (all stem edges, 4 candidates each) |
| MAdds at 224 px, width 1.0, 1000 classes | 270,359,360 to 398,609,216 (exact extremes; 200 random architectures: median 328M); every block ``shuffle_3`` / ``_5`` / ``_7`` / ``_x``: 295,842,496 / 313,654,976 / 340,373,696 / 358,825,920 |
| parameters, 1000 classes | 3,155,880 (every block ``shuffle_3``) to 3,872,120 |

At stride 2 ``shuffle_x`` is the cheapest block (its first layer is the strided depthwise, so its
pointwise layers run at the reduced resolution), at stride 1 the most expensive; hence the extremes
mix it with ``shuffle_3`` and ``shuffle_7``. The paper's searched model has 319M FLOPs, inside the range.

The stem's 3x3 max pool: SPOS's supernet has none (conv3x3 stride 2, then four stages: x32);
ShuffleNetV2 has one (conv3x3 stride 2, max pool, then three stages: also x32). ``stem_pool=None``
(the default) picks the pool for fewer than four stages, so both reduce x32 at their defaults, and
ShuffleNetV2 1.0x (Ma et al. 2018) is the architecture "every block ``shuffle_3``" of

    make_space(stage_channels=(116, 232, 464), stage_blocks=(4, 8, 4), stem_channels=24)

(its mid channels are ``c_out // 2`` in every unit, as in SPOS): 145,814,296 MAdds against the paper's
146M FLOPs (0.13% below: the paper rounds to millions; both count the multiply-adds of convolutions
and the classifier), and 2,279,760 parameters (the paper's 2.3M).
graphnas's stem and head use ReLU6 where ShuffleNet uses ReLU (costs are the same); the units use ReLU.

Widths scale with ``width`` by :func:`graphnas.utils.make_divisible` (multiples of 8) for the stem and
the stages; at width 1.0 they are taken as written (ShuffleNetV2's 116 is not a multiple of 8). The
head's width does not scale. Stride-1 units split the width in halves and stride-2 units must widen,
so every width must be even and every stage wider than the one before (checked here, with
:class:`~graphnas.errors.SpaceError`).
"""

from __future__ import annotations

import graphnas.ops.shufflenet  # noqa: F401  (registers shuffle_3, shuffle_5, shuffle_7, shuffle_x)
from graphnas.space.architecture import Architecture
from graphnas.errors import SpaceError
from graphnas.space.searchspace import STEM, ChoiceEdge, Head, Node, SearchSpace, Stem
from graphnas.utils import make_divisible

#: The four choice blocks, in SPOS's order (choice_3, choice_5, choice_7, choice_x).
OPS = ("shuffle_3", "shuffle_5", "shuffle_7", "shuffle_x")


#: The paper the space comes from (for tables and reports).
PAPER = "SPOS (Guo et al., ECCV 2020), block search"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=32, width=0.25, head_channels=None)


def make_space(resolution: int = 224, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
               stage_channels: tuple[int, ...] = (64, 160, 320, 640), stage_blocks: tuple[int, ...] = (4, 4, 8, 4),
               stem_channels: int = 16, head_channels: int | None = 1024,
               stem_pool: bool | None = None) -> SearchSpace:
    """The SPOS ShuffleNetV2 block space at a given scale.

    Args:
        resolution (int): input image size (default: 224); at least the total reduction (x32 by default).
        width (float): width multiplier of the stem and the stages (not the head).
        num_classes (int): classifier outputs (default: 1000).
        in_channels (int): image channels (default: 3).
        stage_channels (tuple of int): output width of each stage (default: SPOS's 64, 160, 320, 640).
        stage_blocks (tuple of int): choice blocks per stage (default: SPOS's 4, 4, 8, 4).
        stem_channels (int): width of the stem's 3x3 stride-2 conv (default: 16).
        head_channels (int, optional): width of the head's 1x1 conv; ``None`` for none (default: 1024).
        stem_pool (bool, optional): a 3x3 stride-2 max pool after the stem conv; ``None`` (default): only
            with fewer than four stages (ShuffleNetV2's layout), none with four (SPOS's).
    """
    stage_channels, stage_blocks = tuple(stage_channels), tuple(stage_blocks)
    if not width > 0:
        raise SpaceError(f"spos_shufflenet: width must be > 0, got {width}")
    if num_classes < 2 or in_channels < 1:
        raise SpaceError(f"spos_shufflenet: need num_classes >= 2 and in_channels >= 1, got "
                         f"num_classes={num_classes}, in_channels={in_channels}")
    if not stage_channels or len(stage_channels) != len(stage_blocks):
        raise SpaceError(f"spos_shufflenet: stage_channels {stage_channels} and stage_blocks {stage_blocks} must "
                         f"have one entry per stage (the same length, at least one)")
    if any(not isinstance(b, int) or b < 1 for b in stage_blocks):
        raise SpaceError(f"spos_shufflenet: every stage needs at least one block, got stage_blocks={stage_blocks}")
    if head_channels is not None and head_channels < 1:
        raise SpaceError(f"spos_shufflenet: head_channels must be positive or None, got {head_channels}")

    def scaled(c: int) -> int:
        return c if width == 1.0 else make_divisible(c * width)

    stem = scaled(stem_channels)
    widths = [scaled(c) for c in stage_channels]
    for k, (before, c) in enumerate(zip([stem] + widths, widths)):
        if c <= before or c % 2:
            raise SpaceError(f"spos_shufflenet: stage {k + 1} has {c} channels after {before} (width {width}); "
                             f"each stage's first block has stride 2 and must widen to an even width, so make "
                             f"every stage wider than the one before (and than the stem), with even widths")
    pool = len(widths) < 4 if stem_pool is None else bool(stem_pool)
    stem_reduction = 2 * (2 if pool else 1)
    total = stem_reduction * 2 ** len(widths)
    if resolution < total:
        raise SpaceError(f"spos_shufflenet: resolution {resolution} is too small for a stem and {len(widths)} "
                         f"stages reducing x{total}; use resolution >= {total}")

    nodes = [Node(0, 0, stem, stem_reduction)]
    for stage, (c, blocks) in enumerate(zip(widths, stage_blocks), start=1):
        for _ in range(blocks):
            nodes.append(Node(len(nodes), stage, c, stem_reduction * 2 ** stage))
    edges = [ChoiceEdge(i, i + 1, STEM, OPS) for i in range(len(nodes) - 1)]
    return SearchSpace(
        "spos_shufflenet", nodes, edges, input_shape=(in_channels, resolution, resolution),
        num_classes=num_classes, stem=Stem(stem, 2, pool=pool), head=Head(head_channels),
        scale=dict(resolution=resolution, width=width, num_classes=num_classes, in_channels=in_channels,
                   stage_channels=list(stage_channels), stage_blocks=list(stage_blocks),
                   stem_channels=stem_channels, head_channels=head_channels, stem_pool=stem_pool),
    )


#: ShuffleNetV2 1.0x's layout (three stages, 24-channel stem with max pool), as scale arguments.
SHUFFLENET_V2 = dict(stage_channels=(116, 232, 464), stage_blocks=(4, 8, 4), stem_channels=24)


def shufflenet_v2(**scale) -> Architecture:
    """ShuffleNetV2 1.0x (Ma et al. 2018) as an architecture of this space built with its layout:
    every block ``shuffle_3``; other scale arguments pass through to :func:`make_space`."""
    space = make_space(**{**SHUFFLENET_V2, **scale})
    return space.from_ops(["shuffle_3"] * space.num_edges)


#: Published models that are architectures of this space: label -> (builder, published MAdds).
REFERENCES = {"ShuffleNetV2 1.0x": (shufflenet_v2, 146e6)}
