"""ProxylessNAS (mobile) space, also the backbone of the SPOS/SE-NAS mobile spaces: a chain of 21 blocks.

Each block chooses a linear bottleneck (MBConv, no squeeze-excitation) with depthwise kernel 3/5/7 and
expansion 3/6 (6 operators), or ``identity`` (skip the block) where the block keeps the shape.

Stages (ProxylessNAS mobile; at 224 px, width 1.0):

    stage  blocks  channels  stride  resolution (reduction)  candidates per block
    stem   -       32 -> 16  2       112 (x2)   conv3x3 s2 + separable 3x3 (MobileNetV2's first block) -> node 0
    1      1-4     24        2        56 (x4)   first 6, others 7
    2      5-8     40        2        28 (x8)   first 6, others 7
    3      9-12    80        2        14 (x16)  first 6, others 7
    4      13-16   96        1        14 (x16)  first 6 (80 -> 96 ch), others 7
    5      17-20   192       2         7 (x32)  first 6, others 7
    6      21      320       1         7 (x32)  6 (192 -> 320 ch)
    head   -       1280      -         1x1 conv, global pool, linear

Size. The papers count 7^21 (about 5.6e17) choices, as if ``identity`` could replace every block.
It cannot replace a block that changes the resolution or the width (the first block of each stage:
there is nothing the skip could add to), so graphnas offers 6 choices there and 7 elsewhere:
6^6 * 7^15 = 221,502,229,807,900,608 = :data:`SIZE` (about 2.2e17; ``NOMINAL_SIZE``
keeps the papers' 7^21). ProxylessNAS itself leaves the zero operation out of each stage's first block.

MobileNetV2-1.0 is one architecture of this space with ``stage_channels=(24, 32, 64, 96, 160, 320)`` and
the default 4/4/4/4/4/1 blocks: :func:`mobilenet_v2` returns it (``mbconv_k3_e6`` on 2, 3, 4, 3, 3, 1
blocks of the stages, ``identity`` on the rest). Its analytic cost at 224 px is 300,774,272 MAdds and
3,504,872 parameters (MobileNetV2's "300M" and "3.4M": the paper rounds; the count covers every conv
and the classifier, batch-norm affine parameters included).

Scale arguments: see :mod:`spaces._mobilenet` (``stage_channels``/``stage_blocks``/``stage_strides``
default to the table above).
"""

from __future__ import annotations

from graphnas.space.architecture import Architecture

from ._mobilenet import PROXYLESS_LAYOUT, chain_factory, mbconv_ops, stage_prefix_arch

OPS = mbconv_ops((3, 5, 7), (3, 6))
#: Exact size with the default layout: 6 first-of-stage blocks without identity, 15 blocks with it.
SIZE = 6 ** 6 * 7 ** 15
#: The papers' nominal count (identity on all 21 blocks).
NOMINAL_SIZE = 7 ** 21

#: MobileNetV2's stage widths; with the default 4/4/4/4/4/1 blocks and strides it holds MobileNetV2.
MOBILENET_V2_CHANNELS = (24, 32, 64, 96, 160, 320)
#: Blocks MobileNetV2 runs per stage (``mbconv_k3_e6``); the other blocks of the stage are ``identity``.
MOBILENET_V2_BLOCKS = (2, 3, 4, 3, 3, 1)


#: The paper the space comes from (for tables and reports).
PAPER = "ProxylessNAS (Cai et al., ICLR 2019); SPOS / SE-NAS mobile space"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None)


make_space = chain_factory("proxyless", OPS, identity=True, layout=PROXYLESS_LAYOUT,
                           title="The ProxylessNAS mobile space")


def mobilenet_v2(**scale) -> Architecture:
    """MobileNetV2 (width ``scale['width']``, default 1.0) as an architecture of ``proxyless`` built with
    MobileNetV2's stage widths; other scale arguments pass through to :func:`make_space`."""
    space = make_space(**{"stage_channels": MOBILENET_V2_CHANNELS, **scale})
    return stage_prefix_arch(space, MOBILENET_V2_BLOCKS, "mbconv_k3_e6")


#: Published models that are architectures of this space: label -> (builder, published MAdds).
REFERENCES = {"MobileNetV2 1.0x": (mobilenet_v2, 300e6)}
