"""PC-NAS small space: a chain of 21 blocks, MBConv kernel 3/5/7 x expansion 1/3/6 plus ``identity``.

PC-NAS (Li et al., "Improving One-shot NAS by Suppressing the Posterior Fading", CVPR 2020) searches
the ProxylessNAS backbone with 10 choices per block: 9 linear bottlenecks (no squeeze-excitation) and
``identity``. As in :mod:`spaces.proxyless`, ``identity`` is left out where a block changes the
resolution or the width (the first block of each stage), where a skip cannot stand in for it.

Stages (224 px, width 1.0):

    stage  blocks  channels  stride  resolution (reduction)  candidates per block
    stem   -       32 -> 16  2       112 (x2)   conv3x3 s2 + separable 3x3 (MobileNetV2's first block) -> node 0
    1      1-4     24        2        56 (x4)   first 9, others 10
    2      5-8     40        2        28 (x8)   first 9, others 10
    3      9-12    80        2        14 (x16)  first 9, others 10
    4      13-16   96        1        14 (x16)  first 9 (80 -> 96 ch), others 10
    5      17-20   192       2         7 (x32)  first 9, others 10
    6      21      320       1         7 (x32)  9 (192 -> 320 ch)
    head   -       1280      -         1x1 conv, global pool, linear

Size: 9^6 * 10^15 = 531,441,000,000,000,000,000 (about 5.3e20), :data:`SIZE`; the paper's nominal
count is 10^21 (:data:`NOMINAL_SIZE`).

Scale arguments: see :mod:`spaces._mobilenet` (the layout defaults to the table above).
"""

from __future__ import annotations


from ._mobilenet import PROXYLESS_LAYOUT, chain_factory, mbconv_ops

#: The 9 linear bottlenecks (``identity`` is added per block where it fits).
OPS = mbconv_ops((3, 5, 7), (1, 3, 6))
SIZE = 9 ** 6 * 10 ** 15
NOMINAL_SIZE = 10 ** 21


#: The paper the space comes from (for tables and reports).
PAPER = "PC-NAS (Li et al., CVPR 2020), small space"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None)
#: The operators ``graphnas run`` keeps at CPU scale. With all ten per block, a supernet trained with uniform
#: single paths stayed at chance on Fashion-MNIST (20,000 images, 12 epochs at lr 0.05: 11.8% on its training
#: batches, while one of its paths trained alone reached 81% in 3 epochs of 4,000 images); with these three it
#: reached 78% in 8 epochs (BENCHMARKS.md, PC-NAS).
CPU_OPS = ("mbconv_k3_e3", "mbconv_k5_e6", "identity")


make_space = chain_factory("pcnas_small", OPS, identity=True, layout=PROXYLESS_LAYOUT,
                           title="The PC-NAS small space")
