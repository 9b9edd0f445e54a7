"""The ten extra operators of PC-NAS's large space: NConv, DConv and RConv.

PC-NAS (Li et al., "Improving One-shot NAS by Suppressing the Posterior Fading", CVPR 2020) grows its
10-choice small space (MBConv kernel 3/5/7 x expansion 1/3/6, plus identity) to 20 choices per block.
From the paper (appendix, Table 4) graphnas takes the three families' layer sequences and the ten
(expansion, kernel) pairs, ``<Family>_<expand>_<kernel>`` there:

    family  layers                         paper's operators          graphnas names
    NConv   1x1 -> KxK -> 1x1              NConv_1_3, NConv_2_3       nconv_k3_e1, nconv_k3_e2
    DConv   1x1 -> KxK -> KxK -> 1x1       DConv_1_3, DConv_2_3       dconv_k3_e1, dconv_k3_e2
    RConv   1x1 -> 1xK -> Kx1 -> 1x1       RConv_{1,2,4}_5,           rconv_k5_e{1,2,4},
                                           RConv_{1,2,4}_7            rconv_k7_e{1,2,4}

The rest is graphnas's choice, made to match its MBConv (:class:`~graphnas.ops.mbconv.LinearBottleneck`),
since the appendix's layer details could not be consulted when this module was written:

* the first 1x1 expands ``c_in`` to ``hidden = c_in * expand`` channels (as graphnas's MBConv does); it is
  kept at ``expand == 1`` (MBConv drops it), which is what tells ``nconv_k3_e1`` from ``mbconv_k3_e1``;
* the KxK / 1xK / Kx1 convolutions are depthwise on the ``hidden`` channels;
* BN follows every conv, ReLU6 every conv but the last 1x1, whose projection to ``c_out`` is linear;
* the input is added when the shape is kept (stride 1 and ``c_in == c_out``);
* the stride is taken by the first spatial conv (DConv's first KxK), except in RConv, whose 1xK strides
  along the width and Kx1 along the height, so that each subsamples only along its kernel and every
  input position still reaches the output (a 1xK striding both ways would drop whole rows).

Names follow :func:`~graphnas.ops.mbconv.mbconv_name` (``k{kernel}_e{expand}``); :data:`PCNAS_EXTRA_OPS`
lists them in the paper's order. Costs are closed-form under graphnas's convention (multiply-adds of
conv/linear layers; parameters of every learnable tensor, BN affine included).

Importing this module registers the operators; :func:`register` does it again (idempotently) if a
test swapped the registry in between.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from .primitives import Cost, bn_cost, conv_cost, out_resolution
from .layers import ConvBNAct
from . import registry as _registry
from .registry import register_op

__all__ = ["NConv", "DConv", "RConv", "PCNAS_OPS", "PCNAS_EXTRA_OPS", "pcnas_name", "register"]

#: ``(height, width)`` of a spatial conv's kernel or stride.
Pair = tuple[int, int]


class _DepthwiseBottleneck(nn.Module):
    """1x1 expand -> depthwise spatial convs (:meth:`spatial`) -> 1x1 linear project, plus the input when the
    shape is kept (stride 1 and ``c_in == c_out``). Subclasses define :meth:`spatial`.

    Args:
        c_in (int): input channels.
        c_out (int): output channels.
        stride (int): the operator's stride (any positive int).
        kernel (int): the spatial kernel size K (odd).
        expand (int): expansion ratio; the hidden width is ``c_in * expand``.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    @staticmethod
    def spatial(kernel: int, stride: int) -> Sequence[tuple[Pair, Pair]]:
        """The ``(kernel, stride)`` pairs of the depthwise convs, in order."""
        raise NotImplementedError

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = ConvBNAct(c_in, hidden, 1)
        self.depthwise = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(hidden, hidden, k, s, (k[0] // 2, k[1] // 2), groups=hidden, bias=False),
                          nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True))
            for k, s in self.spatial(kernel, stride)))
        self.project = ConvBNAct(hidden, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return y + x if self.residual else y

    @classmethod
    def cost(cls, c_in: int, c_out: int, stride: int, res: int, *, kernel: int, expand: int) -> Cost:
        """Closed-form cost on a ``res`` x ``res`` input (no module is built)."""
        hidden = c_in * expand
        total = ConvBNAct.cost(c_in, hidden, 1, 1, res)
        size = (res, res)
        for k, s in cls.spatial(kernel, stride):
            total += conv_cost(hidden, hidden, k, s, size, groups=hidden) + bn_cost(hidden)
            size = (out_resolution(size[0], s[0]), out_resolution(size[1], s[1]))
        return total + ConvBNAct.cost(hidden, c_out, 1, 1, out_resolution(res, stride))


class NConv(_DepthwiseBottleneck):
    """NConv: 1x1 expand -> KxK depthwise at ``stride`` -> 1x1 project (+ input when the shape is kept).

    Args and shapes: see :class:`_DepthwiseBottleneck`.
    """

    @staticmethod
    def spatial(kernel: int, stride: int) -> Sequence[tuple[Pair, Pair]]:
        return [((kernel, kernel), (stride, stride))]


class DConv(_DepthwiseBottleneck):
    """DConv: 1x1 expand -> KxK depthwise at ``stride`` -> KxK depthwise -> 1x1 project (+ input when the
    shape is kept).

    Args and shapes: see :class:`_DepthwiseBottleneck`.
    """

    @staticmethod
    def spatial(kernel: int, stride: int) -> Sequence[tuple[Pair, Pair]]:
        return [((kernel, kernel), (stride, stride)), ((kernel, kernel), (1, 1))]


class RConv(_DepthwiseBottleneck):
    """RConv: 1x1 expand -> 1xK depthwise striding the width -> Kx1 depthwise striding the height -> 1x1
    project (+ input when the shape is kept).

    Args and shapes: see :class:`_DepthwiseBottleneck`.
    """

    @staticmethod
    def spatial(kernel: int, stride: int) -> Sequence[tuple[Pair, Pair]]:
        return [((1, kernel), (1, stride)), ((kernel, 1), (stride, 1))]


#: The paper's ten operators, in its order: ``(family, kernel, expand)``.
PCNAS_OPS = (
    ("nconv", 3, 1), ("nconv", 3, 2), ("dconv", 3, 1), ("dconv", 3, 2),
    ("rconv", 5, 1), ("rconv", 5, 2), ("rconv", 5, 4), ("rconv", 7, 1), ("rconv", 7, 2), ("rconv", 7, 4),
)
_CLASSES = {"nconv": NConv, "dconv": DConv, "rconv": RConv}
_LAYERS = {"nconv": "1x1 -> {k}x{k}", "dconv": "1x1 -> {k}x{k} -> {k}x{k}", "rconv": "1x1 -> 1x{k} -> {k}x1"}


def pcnas_name(family: str, kernel: int, expand: int) -> str:
    """The registered name of a PC-NAS operator, e.g. ``pcnas_name('rconv', 7, 4) == 'rconv_k7_e4'``."""
    return f"{family}_k{kernel}_e{expand}"


#: The 10 operator names, in the paper's order.
PCNAS_EXTRA_OPS = tuple(pcnas_name(*spec) for spec in PCNAS_OPS)


def _make(cls, kernel, expand):
    def factory(c_in, c_out, stride):
        return cls(c_in, c_out, stride, kernel=kernel, expand=expand)

    def cost(c_in, c_out, stride, res):
        return cls.cost(c_in, c_out, stride, res, kernel=kernel, expand=expand)

    return factory, cost


_SPECS = {pcnas_name(family, k, e): (*_make(_CLASSES[family], k, e),
                                     f"PC-NAS {family[0].upper()}Conv: {_LAYERS[family].format(k=k)} (depthwise) "
                                     f"-> 1x1, expansion {e}")
          for family, k, e in PCNAS_OPS}


def register() -> None:
    """Register the 10 operators (those already registered by this module are left alone).

    A name taken by another module's operator raises :class:`~graphnas.errors.OpError`.
    """
    for name, (factory, cost, text) in _SPECS.items():
        current = _registry._REGISTRY.get(name)
        if current is not None and current.factory is factory:
            continue
        register_op(name, cost=cost, description=text)(factory)


register()
