"""ST-NAS topology-augmented space (stochastic topology NAS; Table 1 of the paper sets its shape).

20 nodes in 5 stages of 2, 2, 4, 8, 4 nodes. Stem edges join consecutive nodes (|i-j| = 1) and are
always present; branch edges join every pair of nodes 2 or 3 apart, across stage boundaries too,
and may be ``none``: 19 stem edges, 35 branch edges, 2^35 ~ 3.4e10 topologies.

Operators (the paper does not list them; graphnas's choice): nine linear bottlenecks with
squeeze-excitation, depthwise kernel 3/5/7 x expansion 3/4/6, plus ``identity`` where both ends
have the same resolution and width. An edge that crosses a reduction gets stride 2 (one stage
boundary) or 4 (two boundaries), and the target node's width.

Widths and resolutions follow MobileNetV2/ProxylessNAS (graphnas's choice, at 224 px, width 1.0):

    stage  nodes   channels  resolution (reduction)
    stem   -       32        112 (x2)   conv3x3 s2 + separable 3x3 -> node 0
    0      0-1     16        112 (x2)
    1      2-3     24         56 (x4)
    2      4-7     40         28 (x8)
    3      8-15    80         14 (x16)
    4      16-19   160         7 (x32)
    head   -       1280       1x1 conv, global pool, linear
"""

from __future__ import annotations

from graphnas.errors import SpaceError
from graphnas.ops import NONE, mbconv_name
from graphnas.space.searchspace import BRANCH, STEM, Head, Node, SearchSpace, Stem, edges_between
from graphnas.utils import make_divisible

#            nodes  channels  reduction (relative to the stem's)
STAGES = [(2, 16, 1),
          (2, 24, 2),
          (4, 40, 4),
          (8, 80, 8),
          (4, 160, 16)]
OPS = tuple(mbconv_name(k, e, se=True) for k in (3, 5, 7) for e in (3, 4, 6))


#: The paper the space comes from (for tables and reports).
PAPER = "ST-NAS: stochastic topology NAS (Table 1 space)"
#: A scale that trains in minutes on a laptop CPU (``graphnas run``, the tests, docs/spaces.md).
CPU_SCALE = dict(resolution=16, width=0.25, stem_stride=1, head_channels=None)
#: The operators the CPU-scale demo keeps (plus ``none``): a subspace whose supernet trains in a
#: minute on two cores (the whole space needs the ST-NAS samplers to train well; see README).
CPU_OPS = ("mbconv_k3_e3_se", "mbconv_k5_e6_se", "identity")
#: The paper's supernet training that ``graphnas run``/``train`` use unless told otherwise: ST-NAS sampling
#: (branch edges dropped with p_drop, calibrated to the job's MAdds limit). The paper's SGD without momentum
#: is not the default: on the end-to-end benchmark (digits, 30 epochs) it reached test accuracy 0.914 at
#: lr 0.5 (0.30 at the job's 0.05) against 0.95 with the job's Nesterov momentum 0.9; ``--momentum 0
#: --no-nesterov --lr 0.5`` gives it.
TRAINING = dict(sampler="stnas")


def make_space(resolution: int = 224, width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
               stem_stride: int = 2, head_channels: int | None = 1280, dropout: float = 0.0) -> SearchSpace:
    """The ST-NAS space at a given scale.

    Args:
        resolution (int): input image size (default: 224). Must be at least the total reduction
            (``16 * stem_stride``).
        width (float): width multiplier applied to every node, the stem and (when above 1) the head.
        num_classes (int): classifier outputs (default: 1000).
        in_channels (int): image channels (default: 3).
        stem_stride (int): stride of the stem conv, 2 for ImageNet, 1 for tiny images (default: 2).
        head_channels (int, optional): width of the head's 1x1 conv; ``None`` for none (default: 1280).
        dropout (float): dropout before the classifier.
    """
    if width <= 0 or num_classes < 2 or in_channels < 1 or stem_stride < 1:
        raise SpaceError(f"st_nas: need width > 0, num_classes >= 2, in_channels >= 1, stem_stride >= 1; got "
                         f"width={width}, num_classes={num_classes}, in_channels={in_channels}, stem_stride={stem_stride}")
    nodes = []
    for stage, (count, channels, reduction) in enumerate(STAGES):
        for _ in range(count):
            nodes.append(Node(len(nodes), stage, make_divisible(channels * width), reduction * stem_stride))
    n = len(nodes)
    if resolution < nodes[-1].reduction:
        raise SpaceError(f"st_nas: resolution {resolution} is too small for {len(STAGES)} stages reducing "
                         f"x{nodes[-1].reduction}; use resolution >= {nodes[-1].reduction} or a smaller stem_stride")
    edges = (edges_between([(i, i + 1) for i in range(n - 1)], STEM, OPS + ("identity",))
             + edges_between([(i, i + d) for d in (2, 3) for i in range(n - d)], BRANCH, (NONE,) + OPS + ("identity",)))
    head = Head(make_divisible(head_channels * max(1.0, width)) if head_channels else None, dropout)
    return SearchSpace(
        "st_nas", nodes, edges, input_shape=(in_channels, resolution, resolution), num_classes=num_classes,
        stem=Stem(make_divisible(32 * width), stem_stride), head=head, drop_unfit=True,
        scale=dict(resolution=resolution, width=width, num_classes=num_classes, in_channels=in_channels,
                   stem_stride=stem_stride, head_channels=head_channels),
    )
