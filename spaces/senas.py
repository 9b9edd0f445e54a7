"""SE-NAS space: a chain of 21 MobileNetV2-style blocks on a widened ProxylessNAS skeleton.

SE-NAS (Li et al., "Improving One-Shot NAS with Shrinking-and-Expanding Supernet", Pattern Recognition
2021) searches the ProxylessNAS layout (4/4/4/4/4/1 blocks, the same strides) with wider stages, stem and
head. Each block chooses a linear bottleneck (MBConv, no squeeze-excitation) with depthwise kernel 3/5/7
and expansion 3/6 (6 operators), or ``identity`` (skip the block) where the block keeps the shape. As in
:mod:`spaces.proxyless`, ``identity`` is left out where a block changes the resolution or the width (the
first block of each stage), where a skip cannot stand in for it.

Stages (224 px, width 1.0):

    stage  blocks  channels  stride  resolution (reduction)  candidates per block
    stem   -       40 -> 24  2       112 (x2)   conv3x3 s2 + separable 3x3 (MobileNetV2's first block) -> node 0
    1      1-4     32        2        56 (x4)   first 6, others 7
    2      5-8     56        2        28 (x8)   first 6, others 7
    3      9-12    112       2        14 (x16)  first 6, others 7
    4      13-16   128       1        14 (x16)  first 6 (112 -> 128 ch), others 7
    5      17-20   256       2         7 (x32)  first 6, others 7
    6      21      432       1         7 (x32)  6 (256 -> 432 ch)
    head   -       1728      -         1x1 conv, global pool, linear

Size: 6^6 * 7^15 = 221,502,229,807,900,608 (about 2.2e17), :data:`SIZE` (the same count as
:mod:`spaces.proxyless`: the same operators on the same layout).

CPU scale (:data:`CPU_SCALE`) is narrower (width 0.25, 16 px), with the same 21 blocks, so its architectures
load into the paper-scale space. A shallower skeleton for quick experiments is a scale argument away
(``--scale stage_blocks=1,2,2,2,2,1``: another layout, so another fingerprint).

Scale arguments: see :mod:`spaces._mobilenet` (the layout defaults to the table above).
"""

from __future__ import annotations


from ._mobilenet import chain_factory, mbconv_ops

OPS = mbconv_ops((3, 5, 7), (3, 6))
#: Exact size with the default layout: 6 first-of-stage blocks without identity, 15 blocks with it.
SIZE = 6 ** 6 * 7 ** 15

#: SE-NAS's stages after the 24-channel stem output: the ProxylessNAS blocks and strides, wider: 21 blocks.
SENAS_LAYOUT = dict(stage_channels=(32, 56, 112, 128, 256, 432), stage_blocks=(4, 4, 4, 4, 4, 1),
                    stage_strides=(2, 2, 2, 1, 2, 1))
#: Widths of the stem conv, of node 0 (the stem's separable projection) and of the head's 1x1 conv.
STEM_CHANNELS, FIRST_CHANNELS, HEAD_CHANNELS = 40, 24, 1728


#: The paper the space comes from (for tables and reports).
PAPER = "SE-NAS: shrinking-and-expanding supernet (Li et al., Pattern Recognition 2021)"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md): 10 blocks
#: (1/2/2/2/2/1) instead of 21, so a CPU-scale architecture belongs to that layout, not to the paper's.
CPU_SCALE = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None)
#: The operators ``graphnas run`` keeps at CPU scale: four per block (the three MBConvs where ``identity`` does
#: not fit, the first block of each stage). The reason is :mod:`spaces.pcnas_small`'s: with all ten operators per
#: block its uniformly trained supernet stayed at chance on Fashion-MNIST, with three it learned (fewer paths per
#: block, each trained more often); ``proxyless``, these seven operators on the narrower skeleton, stalled the
#: same way at its CPU scale in a 4-epoch probe (README, PC-NAS). Not measured on this space: the 3x3
#: bottleneck at both expansions, the 5x5 at expansion 3 and the skip are a choice, not a result.
CPU_OPS = ("mbconv_k3_e3", "mbconv_k3_e6", "mbconv_k5_e3", "identity")


make_space = chain_factory("senas", OPS, identity=True, layout=SENAS_LAYOUT, title="The SE-NAS space",
                           stem_channels=STEM_CHANNELS, first_channels=FIRST_CHANNELS, head_channels=HEAD_CHANNELS)
