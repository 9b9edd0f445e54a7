"""SPOS's mixed-precision search on ResNet-18/34 (Guo et al., "Single Path One-Shot NAS", ECCV 2020).

A chain of ResNet basic blocks (He et al. 2016); every block chooses its (weight bits, activation bits)
among SPOS's ``(1, 2), (2, 2), (1, 4), (2, 4), (3, 4), (4, 4)`` and its bottleneck (the first conv's
output) width among 0.5x, 1.0x and 1.5x of the block's output width: 18 candidates per block, named
``resq_w{W}a{A}_c{r}`` (:mod:`graphnas.ops.resnet_quant`, quantisers in :mod:`graphnas.ops.quant`).
The stem conv and the classifier stay full precision, as in SPOS. In the supernet the 18 candidates
of a block share one block: one set of weights, quantised to the candidate's bits and sliced to
its width (family ``resq_block``).

    stage  blocks (18 / 34)  channels  resolution at 224 px (reduction)
    stem   -                 64        56 (x4)   conv7x7 s2 -> BN -> ReLU6 -> maxpool 3x3 s2   (224 px)
                                       32 (x1)   conv3x3 s1 -> BN -> ReLU6                      (small images)
    1      2 / 3             64        56 (x4)   all blocks stride 1
    2      2 / 4             128       28 (x8)   first block stride 2 (1x1 conv shortcut)
    3      2 / 6             256       14 (x16)
    4      2 / 3             512        7 (x32)
    head   -                 512       global pool, linear (full precision)

| figure | exact value |
|---|---|
| architectures, ResNet-18 / ResNet-34 | 18^8 = 11,019,960,576 / 18^16 = 121,439,531,096,594,251,776 |
| ResNet-18 / -34, 32/32 bits, 1.0x, 224 px, 1000 classes: MAdds | 1,814,073,344 / 3,663,761,408 (1.82G / 3.6G) |
| the same: parameters | 11,689,512 / 21,797,672 (torchvision's, exactly) |
| ResNet-18 at 4/4 bits, 1.0x: BitOps | 27,128,758,272 (body MAdds 1,695,547,392 x 16; stem and classifier excluded) |
| ResNet-18 at 1/2 bits, 0.5x (the cheapest): MAdds / BitOps | 975,933,440 / 1,714,814,976 |

BitOps follow :mod:`graphnas.ops.primitives`: MAdds x W x A of every convolution inside a block, none
for the full-precision stem and classifier (the same in every architecture).

The stem: ``stem="imagenet"`` is ResNet's conv7x7 stride 2 and 3x3 max pool (x4); ``stem="small"`` a
conv3x3 stride 1 without pool, for CIFAR-sized inputs; ``stem=None`` (default) picks ``imagenet`` from 128 px
up. graphnas's stem activation is ReLU6 where ResNet's is ReLU (the same cost; block inputs are then
within PACT's initial clipping level of 6 anyway).

Scale arguments: ``depth`` (18 or 34), ``resolution``, ``width`` (stage widths x ``width``, multiples of
8 when not 1.0), ``num_classes``, ``in_channels``, ``stem``; the search: ``bits`` (a sequence of
``(W, A)`` pairs or text such as ``"1/2,4/4"``; default SPOS's six), ``ratios`` (bottleneck ratios, a
subset of 0.5, 1.0, 1.5, or text ``"0.5,1.5"``), ``full_precision=True`` adds ``(32, 32)``.
"""

from __future__ import annotations

import math
from numbers import Real

import graphnas.ops.resnet_quant  # noqa: F401  (registers resq_w{W}a{A}_c{r})
from graphnas.space.architecture import Architecture
from graphnas.errors import SpaceError
from graphnas.ops.resnet_quant import ALL_BITS, BIT_CHOICES, FULL_BITS, WIDTH_TENTHS, quant_op_name
from graphnas.ops.slim import ratio_text
from graphnas.space.searchspace import STEM, ChoiceEdge, Head, Node, SearchSpace, Stem
from graphnas.utils import make_divisible

#: The paper the space comes from (for tables and reports).
PAPER = "SPOS (Guo et al., ECCV 2020), mixed-precision search (bit widths and channels) on ResNet-18/34"
#: A scale that trains in minutes on a laptop CPU.
CPU_SCALE = dict(resolution=32, width=0.25)
#: ResNet's stage widths and the blocks per stage of each depth.
STAGE_CHANNELS = (64, 128, 256, 512)
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
STEMS = ("imagenet", "small")


def _parse_bits(bits) -> tuple[tuple[int, int], ...]:
    if isinstance(bits, str):
        try:
            bits = [tuple(int(b) for b in pair.split("/")) for pair in bits.replace(" ", "").split(",") if pair]
        except ValueError:
            raise SpaceError(f"spos_quant: bits={bits!r} is not a list of W/A pairs such as '1/2,4/4'") from None
    try:
        pairs = tuple(tuple(p) for p in bits)
    except TypeError:
        raise SpaceError(f"spos_quant: bits must be a sequence of (weight, activation) pairs, got {bits!r}") from None
    offered = ", ".join(f"{w}/{a}" for w, a in ALL_BITS)
    for pair in pairs:
        if pair not in ALL_BITS:
            raise SpaceError(f"spos_quant: bits {'/'.join(map(str, pair))} is not offered; choose (weight, activation) "
                             f"bits from {offered}")
    if not pairs or len(set(pairs)) != len(pairs):
        raise SpaceError(f"spos_quant: bits must list distinct pairs from {offered}, got {bits!r}")
    return pairs


def _parse_ratios(ratios) -> tuple[int, ...]:
    if isinstance(ratios, str):
        try:
            ratios = [float(r) for r in ratios.replace(" ", "").split(",") if r]
        except ValueError:
            raise SpaceError(f"spos_quant: ratios={ratios!r} is not a list of numbers such as '0.5,1.0'") from None
    if isinstance(ratios, Real):
        ratios = [ratios]
    offered = ", ".join(ratio_text(t) for t in WIDTH_TENTHS)
    tenths = []
    for r in ratios:
        t = round(float(r) * 10) if isinstance(r, Real) and not isinstance(r, bool) and math.isfinite(r) else None
        if t is None or t not in WIDTH_TENTHS or abs(float(r) * 10 - t) > 1e-6:
            raise SpaceError(f"spos_quant: bottleneck ratio {r!r} is not offered; choose ratios from {offered}")
        tenths.append(t)
    if not tenths or len(set(tenths)) != len(tenths):
        raise SpaceError(f"spos_quant: ratios must list distinct values from {offered}, got {ratios!r}")
    return tuple(tenths)


def quant_ops(bits=BIT_CHOICES, ratios=(0.5, 1.0, 1.5), full_precision: bool = False) -> tuple[str, ...]:
    """The candidates of every block: bits-major, e.g. ``resq_w1a2_c0.5, resq_w1a2_c1.0, ...``."""
    pairs = _parse_bits(bits)
    if full_precision and FULL_BITS not in pairs:
        pairs += (FULL_BITS,)
    return tuple(quant_op_name(w, a, t) for w, a in pairs for t in _parse_ratios(ratios))


def make_space(depth: int = 18, resolution: int = 224, width: float = 1.0, num_classes: int = 1000,
               in_channels: int = 3, bits=BIT_CHOICES, ratios=(0.5, 1.0, 1.5), full_precision: bool = False,
               stem: str | None = None) -> SearchSpace:
    """The mixed-precision ResNet space at a given scale (see the module docstring for the arguments)."""
    if depth not in DEPTHS:
        raise SpaceError(f"spos_quant: depth={depth!r} is not offered; use 18 (ResNet-18) or 34 (ResNet-34)")
    if isinstance(width, bool) or not isinstance(width, Real) or not math.isfinite(width) or width <= 0:
        raise SpaceError(f"spos_quant: width must be a number > 0, got {width!r}")
    if num_classes < 2 or in_channels < 1:
        raise SpaceError(f"spos_quant: need num_classes >= 2 and in_channels >= 1, got num_classes={num_classes}, "
                         f"in_channels={in_channels}")
    if stem is None:
        stem = "imagenet" if resolution >= 128 else "small"
    if stem not in STEMS:
        raise SpaceError(f"spos_quant: stem={stem!r} is not offered; use 'imagenet' (conv7x7/2 + max pool) or "
                         f"'small' (conv3x3/1), or None to pick by resolution")
    ops = quant_ops(bits, ratios, full_precision)
    reduction = 4 if stem == "imagenet" else 1
    if resolution < reduction * 8:
        raise SpaceError(f"spos_quant: resolution {resolution} is too small for the {stem} stem (x{reduction}) and "
                         f"three stride-2 stages; use resolution >= {reduction * 8}")

    widths = [c if width == 1.0 else make_divisible(c * width) for c in STAGE_CHANNELS]
    nodes = [Node(0, 0, widths[0], reduction)]
    for stage, (c, blocks) in enumerate(zip(widths, DEPTHS[depth]), start=1):
        for b in range(blocks):
            reduction *= 2 if stage > 1 and b == 0 else 1
            nodes.append(Node(len(nodes), stage, c, reduction))
    edges = [ChoiceEdge(i, i + 1, STEM, ops) for i in range(len(nodes) - 1)]
    stem_block = Stem(widths[0], 2, pool=True, kernel=7) if stem == "imagenet" else Stem(widths[0], 1)
    return SearchSpace(
        "spos_quant", nodes, edges, input_shape=(in_channels, resolution, resolution), num_classes=num_classes,
        stem=stem_block, head=Head(None),
        scale=dict(depth=depth, resolution=resolution, width=width, num_classes=num_classes, in_channels=in_channels,
                   bits=[list(p) for p in _parse_bits(bits)], ratios=[t / 10 for t in _parse_ratios(ratios)],
                   full_precision=full_precision, stem=stem),
    )


def resnet(depth: int = 18, **scale) -> Architecture:
    """Plain ResNet-``depth`` (32/32 bits, bottleneck 1.0x), an architecture of ``make_space(full_precision=True)``."""
    space = make_space(depth=depth, full_precision=True, **scale)
    return space.from_ops([quant_op_name(*FULL_BITS, 10)] * space.num_edges)


#: Published models that are architectures of this space: label -> (builder, published MAdds).
REFERENCES = {"ResNet-18": (lambda: resnet(18), 1.82e9), "ResNet-34": (lambda: resnet(34), 3.6e9)}
