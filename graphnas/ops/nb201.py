"""NAS-Bench-201's operators: ``nor_conv_1x1``, ``nor_conv_3x3``, ``skip_connect`` and ``nb201_resblock``.

They follow the benchmark's own modules (Dong & Yang, ICLR 2020, ``cell_operations.py`` and
``ResNetBasicblock``) layer for layer, so parameter counts equal the benchmark's:

* ``nor_conv_kxk``: ReLU -> Conv2d kxk (no bias, 'same' padding, stride) -> BatchNorm2d (``ReLUConvBN``);
* ``skip_connect``: identity (same shape only; the benchmark's cells never reduce);
* ``nb201_resblock``: the residual block between stages: ReLUConvBN 3x3 with ``stride``
  (``c_in -> c_out``), ReLUConvBN 3x3 (``c_out -> c_out``), plus a shortcut: AvgPool2d(2, stride 2)
  then Conv2d 1x1 (``c_in -> c_out``, no bias) when ``stride > 1``; ReLUConvBN 1x1 when only the
  width changes; the input itself otherwise. Output = main + shortcut.

``avg_pool_3x3`` (padding excluded from the average) is the built-in one of :mod:`graphnas.ops.basic`,
and ``none`` is graphnas's absent edge. Costs are closed-form, with graphnas's convention
(:mod:`graphnas.ops.primitives`): multiply-adds of convolutions only, every learnable tensor.

One deliberate difference from the benchmark's ``ResNetBasicblock``: the shortcut's pooling uses
``ceil_mode=True``, so odd resolutions give ``ceil(res / stride)`` like every graphnas operator
(the benchmark only runs even sizes, where the two are identical).
"""

from __future__ import annotations

from torch import Tensor, nn

from .primitives import Cost, bn_cost, conv_cost, out_resolution
from .registry import register_op

__all__ = ["ReLUConvBN", "ResBlock"]


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (``kernel`` x ``kernel``, 'same' padding, no bias) -> BatchNorm2d.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.act = nn.ReLU(inplace=False)  # the input may be another edge's input too
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(self.act(x)))

    @staticmethod
    def cost(c_in: int, c_out: int, kernel: int, stride: int, res: int) -> Cost:
        return conv_cost(c_in, c_out, kernel, stride, res) + bn_cost(c_out)


class ResBlock(nn.Module):
    """NAS-Bench-201's ``ResNetBasicblock``: two ReLUConvBN 3x3 plus a shortcut, summed.

    Args:
        c_in (int): input channels.
        c_out (int): output channels.
        stride (int): stride of the first conv and of the shortcut's pooling (default: 2).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        if stride > 1:
            self.shortcut = nn.Sequential(nn.AvgPool2d(stride, stride, 0, ceil_mode=True),
                                          nn.Conv2d(c_in, c_out, 1, bias=False))
        elif c_in != c_out:
            self.shortcut = ReLUConvBN(c_in, c_out, 1, 1)
        else:
            self.shortcut = None

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv_b(self.conv_a(x))
        return y + (self.shortcut(x) if self.shortcut is not None else x)

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int) -> Cost:
        r = out_resolution(res, stride)
        total = ReLUConvBN.cost(c_in, c_out, 3, stride, res) + ReLUConvBN.cost(c_out, c_out, 3, 1, r)
        if stride > 1:
            total += conv_cost(c_in, c_out, 1, 1, r)
        elif c_in != c_out:
            total += ReLUConvBN.cost(c_in, c_out, 1, 1, r)
        return total


def _relu_conv_bn(kernel: int):
    def cost(c_in: int, c_out: int, stride: int, res: int) -> Cost:
        return ReLUConvBN.cost(c_in, c_out, kernel, stride, res)

    return cost


@register_op("nor_conv_1x1", cost=_relu_conv_bn(1))
def nor_conv_1x1(c_in: int, c_out: int, stride: int) -> nn.Module:
    """ReLU -> conv 1x1 -> BN (NAS-Bench-201's nor_conv_1x1)"""
    return ReLUConvBN(c_in, c_out, 1, stride)


@register_op("nor_conv_3x3", cost=_relu_conv_bn(3))
def nor_conv_3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """ReLU -> conv 3x3 -> BN (NAS-Bench-201's nor_conv_3x3)"""
    return ReLUConvBN(c_in, c_out, 3, stride)


@register_op("skip_connect", cost=lambda c_in, c_out, stride, res: Cost(), same_channels=True, stride_one=True)
def skip_connect(c_in: int, c_out: int, stride: int) -> nn.Module:
    """identity (NAS-Bench-201's skip_connect)"""
    return nn.Identity()


@register_op("nb201_resblock", cost=ResBlock.cost)
def nb201_resblock(c_in: int, c_out: int, stride: int) -> nn.Module:
    """NAS-Bench-201's residual block between stages (two ReLUConvBN 3x3 + pooled 1x1 shortcut)"""
    return ResBlock(c_in, c_out, stride)
