"""SPOS's channel search on its ShuffleNetV2 supernet (Guo et al., "Single Path One-Shot NAS", ECCV 2020).

The layout of :mod:`spaces.spos_shufflenet` (the same 20 blocks, stages, widths, stem and head; built
by its ``make_space``), where every block also chooses its bottleneck ("mid") width: 0.2x to 1.6x of the
base ``c_out // 2`` in steps of 0.2, 8 choices (:mod:`graphnas.ops.shuffle_channels`). Operators are
named ``<block>_c<ratio>``, e.g. ``shuffle_5_c0.6``. Block outputs stay at the stage width, so every
choice fits every block.

* ``block=None`` (default): block type and width jointly, as SPOS searches them: 4 x 8 = 32 candidates
  per block, 32^20 = 1,267,650,600,228,229,401,496,703,205,376 architectures.
* ``block="shuffle_3"`` (or ``_5``, ``_7``, ``_x``): channels only, with that block type everywhere:
  8^20 = 1,152,921,504,606,846,976 architectures.

Mid widths are rounded to the nearest integer (halves up), at least 1
(:func:`graphnas.ops.slim.scaled_width`): ``c1.0`` is exactly the fixed-width block of
``spos_shufflenet`` (so "every block ``shuffle_k_c1.0``" costs what "every block ``shuffle_k``" costs
there), and the 8 widths stay distinct down to a base of 5 channels. At paper scale the bases are
32, 80, 160 and 320 channels, so the 0.2x block of the first stage has 6 (32 x 0.2 = 6.4). Multiples of 8
(MobileNet's rule) would merge 0.4x and 0.6x there (12.8 and 19.2 both become 16).

In the supernet, the eight widths of one block type on one block share one unit allocated at 1.6x
(family ``<block>_channels``); a narrower choice runs on the leading channels of its main branch.

| figure at 224 px, width 1.0, 1000 classes | MAdds (exact) |
|---|---|
| every block ``shuffle_3`` / ``_5`` / ``_7`` / ``_x`` at c1.0 | 295,842,496 / 313,654,976 / 340,373,696 / 358,825,920 |
| every block ``shuffle_3`` / ``_5`` / ``_7`` / ``_x`` at c1.6 | 440,775,872 / 467,820,736 / 508,388,032 / 625,824,960 |
| every block ``shuffle_3`` / ``_5`` / ``_7`` / ``_x`` at c0.2 | 101,887,168 / 107,256,000 / 115,309,248 / 106,039,232 |
| extremes (joint search) | 94,962,880 to 669,217,792 (parameters 2,107,026 to 5,391,436) |
"""

from __future__ import annotations

from dataclasses import replace

import graphnas.ops.shuffle_channels  # noqa: F401  (registers shuffle_{3,5,7,x}_c{0.2..1.6})
from graphnas.space.architecture import Architecture
from graphnas.errors import SpaceError
from graphnas.ops.shuffle_channels import CHANNEL_TENTHS, channel_op_name
from graphnas.space.searchspace import SearchSpace
from spaces import spos_shufflenet

#: The paper the space comes from (for tables and reports).
PAPER = "SPOS (Guo et al., ECCV 2020), channel search (jointly with the block type)"
#: A scale that trains in minutes on a laptop CPU.
CPU_SCALE = dict(resolution=32, width=0.25, head_channels=None)
#: The block types, in SPOS's order.
BLOCKS = spos_shufflenet.OPS


def channel_ops(block: str | None = None) -> tuple[str, ...]:
    """The candidates of every block: all block types x 8 widths (``block=None``), or one type's 8 widths."""
    blocks = BLOCKS if block is None else (block,)
    return tuple(channel_op_name(b, t) for b in blocks for t in CHANNEL_TENTHS)


def make_space(resolution: int = 224, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
               block: str | None = None, stage_channels: tuple[int, ...] = (64, 160, 320, 640),
               stage_blocks: tuple[int, ...] = (4, 4, 8, 4), stem_channels: int = 16,
               head_channels: int | None = 1024, stem_pool: bool | None = None) -> SearchSpace:
    """SPOS's channel-search space at a given scale.

    Args:
        block (str, optional): ``None`` (default) searches block type and width jointly (32 candidates per
            block); one of ``shuffle_3``, ``shuffle_5``, ``shuffle_7``, ``shuffle_x`` fixes the type (8).
        resolution, width, num_classes, in_channels, stage_channels, stage_blocks, stem_channels,
            head_channels, stem_pool: as :func:`spaces.spos_shufflenet.make_space`.
    """
    if block is not None and block not in BLOCKS:
        raise SpaceError(f"spos_channels: block={block!r} is not a block type; use one of {', '.join(BLOCKS)}, "
                         f"or None to search the type jointly with the width")
    try:
        base = spos_shufflenet.make_space(resolution, width, num_classes, in_channels, stage_channels, stage_blocks,
                                          stem_channels, head_channels, stem_pool)
    except SpaceError as err:
        raise SpaceError(str(err).replace("spos_shufflenet:", "spos_channels:", 1)) from None
    ops = channel_ops(block)
    return replace(base, name="spos_channels", edges=[replace(e, candidates=ops) for e in base.edges],
                   scale={**base.scale, "block": block})


def shufflenet_v2(**scale) -> Architecture:
    """ShuffleNetV2 1.0x (Ma et al. 2018): its three-stage layout, every block ``shuffle_3_c1.0``."""
    layout = dict(stage_channels=(116, 232, 464), stage_blocks=(4, 8, 4), stem_channels=24)
    space = make_space(**{**layout, **scale})
    return space.from_ops([channel_op_name("shuffle_3", 10)] * space.num_edges)


#: Published models that are architectures of this space: label -> (builder, published MAdds).
REFERENCES = {"ShuffleNetV2 1.0x": (shufflenet_v2, 146e6)}
