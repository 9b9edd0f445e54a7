"""PC-NAS large space: the small space's 10 choices per block plus 10 NConv/DConv/RConv operators (20).

The extra operators live in :mod:`graphnas.ops.pcnas` (imported, hence registered, here). They are the
paper's ten (appendix, Table 4), named as graphnas names MBConv (``k{kernel}_e{expand}``):

    paper                  graphnas              layers
    NConv_1_3, NConv_2_3   nconv_k3_e{1,2}       1x1 -> 3x3 -> 1x1
    DConv_1_3, DConv_2_3   dconv_k3_e{1,2}       1x1 -> 3x3 -> 3x3 -> 1x1
    RConv_{1,2,4}_5        rconv_k5_e{1,2,4}     1x1 -> 1x5 -> 5x1 -> 1x1
    RConv_{1,2,4}_7        rconv_k7_e{1,2,4}     1x1 -> 1x7 -> 7x1 -> 1x1

The layer sequences and (expansion, kernel) pairs are the paper's; that the spatial convs are depthwise,
where BN/ReLU6 go and the residual (stride 1, ``c_in == c_out``) are graphnas's MBConv-consistent choices
(see that module).

Stages (the ProxylessNAS backbone, as :mod:`spaces.pcnas_small`; 224 px, width 1.0):

    stage  blocks  channels  stride  resolution (reduction)  candidates per block
    stem   -       32 -> 16  2       112 (x2)   conv3x3 s2 + separable 3x3 (MobileNetV2's first block) -> node 0
    1      1-4     24        2        56 (x4)   first 19, others 20
    2      5-8     40        2        28 (x8)   first 19, others 20
    3      9-12    80        2        14 (x16)  first 19, others 20
    4      13-16   96        1        14 (x16)  first 19 (80 -> 96 ch), others 20
    5      17-20   192       2         7 (x32)  first 19, others 20
    6      21      320       1         7 (x32)  19 (192 -> 320 ch)
    head   -       1280      -         1x1 conv, global pool, linear

``identity`` is left out where a block changes the resolution or the width. Size: 19^6 * 20^15 =
1,541,599,428,608,000,000,000,000,000 (about 1.5e27), :data:`SIZE`; the paper's nominal count is 20^21
(:data:`NOMINAL_SIZE`).

Scale arguments: see :mod:`spaces._mobilenet` (the layout defaults to the table above).
"""

from __future__ import annotations

from graphnas.ops import pcnas

from ._mobilenet import PROXYLESS_LAYOUT, chain_factory
from .pcnas_small import OPS as SMALL_OPS

#: 19 operators (``identity`` is added per block where it fits): 9 MBConv + 10 NConv/DConv/RConv (paper order).
OPS = SMALL_OPS + pcnas.PCNAS_EXTRA_OPS
SIZE = 19 ** 6 * 20 ** 15
NOMINAL_SIZE = 20 ** 21


#: The paper the space comes from (for tables and reports).
PAPER = "PC-NAS (Li et al., CVPR 2020), large space"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None)


make_space = chain_factory("pcnas_large", OPS, identity=True, layout=PROXYLESS_LAYOUT,
                           title="The PC-NAS large space", before=pcnas.register)
