"""FairNAS space (also GCN-NAS's): a chain of 19 MobileNetV2-style blocks, 6 choices each, 6^19 architectures.

Each block chooses a linear bottleneck (MBConv, no squeeze-excitation) with depthwise kernel 3/5/7 and
expansion 3/6. There is no ``identity``: every block runs, so the depth is fixed at 19.

Stages (FairNAS's supernet, the ProxylessNAS widths with 2 blocks in the first stage; 224 px, width 1.0):

    stage  blocks  channels  stride  resolution (reduction)
    stem   -       32 -> 16  2       112 (x2)   conv3x3 s2 + separable 3x3 (MobileNetV2's first block) -> node 0
    1      1-2     24        2        56 (x4)
    2      3-6     40        2        28 (x8)
    3      7-10    80        2        14 (x16)
    4      11-14   96        1        14 (x16)
    5      15-18   192       2         7 (x32)
    6      19      320       1         7 (x32)
    head   -       1280      -         1x1 conv, global pool, linear

Size: 6^19 = 609,359,740,010,496 (about 6.1e14), :data:`SIZE`.

Scale arguments: see :mod:`spaces._mobilenet` (the layout defaults to the table above).
"""

from __future__ import annotations


from ._mobilenet import FAIRNAS_LAYOUT, chain_factory, mbconv_ops

OPS = mbconv_ops((3, 5, 7), (3, 6))
SIZE = 6 ** 19


#: The paper the space comes from (for tables and reports).
PAPER = "FairNAS (Chu et al., ICCV 2021); GCN-NAS space"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None)


make_space = chain_factory("fairnas", OPS, identity=False, layout=FAIRNAS_LAYOUT,
                           title="The FairNAS space")
