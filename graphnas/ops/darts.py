"""DARTS's operators (Liu et al., ICLR 2019): separable and dilated convolutions, its skip and preprocessing.

Layer for layer as the paper's evaluation network builds them, with affine batch norm:

* ``sep_conv_kxk`` (k = 3, 5): twice [ReLU -> depthwise kxk -> pointwise 1x1 -> BN]; the first depthwise
  has the stride and the first pointwise keeps ``c_in`` channels, the second maps to ``c_out``;
* ``dil_conv_kxk`` (k = 3, 5): ReLU -> depthwise kxk with dilation 2 (receptive field 5 or 9) and the
  stride -> pointwise 1x1 to ``c_out`` -> BN;
* ``darts_skip``: identity at stride 1, a factorized reduce at stride 2 (DARTS's ``skip_connect``; the
  name ``skip_connect`` is NAS-Bench-201's identity-only operator);
* ``darts_preprocess``: what turns a previous cell's output into a cell input: ReLU -> conv 1x1 -> BN at
  stride 1, a factorized reduce at stride 2 (the previous-but-one cell is at twice the resolution).

A factorized reduce halves the resolution without dropping pixels: ReLU, then two 1x1 convolutions with
stride 2, one on the input and one on the input shifted by one pixel (down and right), whose outputs
(``c_out // 2`` and the rest) are concatenated and batch-normalised. The shifted copy is zero-padded at
the far edge, which at even sizes is DARTS's ``x[:, :, 1:, 1:]`` exactly and at odd sizes keeps the
output at ``ceil(res / 2)`` like every graphnas operator.

The pooling candidates are graphnas's ``max_pool_3x3`` and ``avg_pool_3x3`` (padding excluded from the
average), the modules of DARTS's evaluation network; DARTS's search network adds a batch norm after each
pool only to balance the weighted sum of its continuous relaxation, which a single-path supernet does not
form, so graphnas adds none. Costs are closed-form with graphnas's convention
(:mod:`graphnas.ops.primitives`): convolution multiply-adds, every learnable tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .primitives import Cost, bn_cost, conv_cost, out_resolution
from ..errors import OpError
from .nb201 import ReLUConvBN
from .registry import register_op

__all__ = ["SepConv", "DilConv", "FactorizedReduce"]


def _dw_pw_layers(c_in: int, c_out: int, kernel: int, stride: int, dilation: int) -> list[nn.Module]:
    """ReLU -> depthwise kxk (dilated, 'same' padding) -> pointwise 1x1 -> BN: the block both DARTS convolutions
    are made of."""
    return [nn.ReLU(inplace=False),  # the input may be read by other edges too
            nn.Conv2d(c_in, c_in, kernel, stride, dilation * (kernel // 2), dilation=dilation, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out)]


def _dw_pw_cost(c_in: int, c_out: int, kernel: int, stride: int, res: int) -> Cost:
    """Cost of :func:`_dw_pw_layers` (the output is ``ceil(res / stride)`` at any dilation, as conv_cost assumes)."""
    r = out_resolution(res, stride)
    return conv_cost(c_in, c_in, kernel, stride, res, groups=c_in) + conv_cost(c_in, c_out, 1, 1, r) + bn_cost(c_out)


class SepConv(nn.Module):
    """DARTS's separable convolution: two [ReLU -> depthwise kxk -> pointwise 1x1 -> BN] blocks.

    Args:
        c_in (int): input channels (and the middle width).
        c_out (int): output channels.
        kernel (int): depthwise kernel size (odd).
        stride (int): stride of the first depthwise convolution.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.op = nn.Sequential(*_dw_pw_layers(c_in, c_in, kernel, stride, 1), *_dw_pw_layers(c_in, c_out, kernel, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)

    @staticmethod
    def cost(c_in: int, c_out: int, kernel: int, stride: int, res: int) -> Cost:
        return _dw_pw_cost(c_in, c_in, kernel, stride, res) + _dw_pw_cost(c_in, c_out, kernel, 1,
                                                                         out_resolution(res, stride))


class DilConv(nn.Module):
    """DARTS's dilated convolution: ReLU -> depthwise kxk, dilation 2 -> pointwise 1x1 -> BN.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 2) -> None:
        super().__init__()
        self.op = nn.Sequential(*_dw_pw_layers(c_in, c_out, kernel, stride, dilation))

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)

    @staticmethod
    def cost(c_in: int, c_out: int, kernel: int, stride: int, res: int) -> Cost:
        return _dw_pw_cost(c_in, c_out, kernel, stride, res)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convolutions (see the module docstring).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/2), ceil(W/2))``; ``c_out >= 2``.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out < 2:
            raise OpError(f"a factorized reduce needs at least 2 output channels (two halves), got {c_out}")
        self.act = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))

    @staticmethod
    def cost(c_in: int, c_out: int, res: int) -> Cost:
        r = out_resolution(res, 2)
        return Cost(madds=c_in * c_out * r * r, params=c_in * c_out) + bn_cost(c_out)


def _check_stride_1_or_2(name: str):
    def check(c_in: int, c_out: int, stride: int) -> None:
        if stride not in (1, 2):
            raise OpError(f"operator '{name}' works at stride 1 or 2 (a factorized reduce), not {stride}; "
                          f"offer it only on edges that keep or halve the resolution")

    return check


def _sep(kernel: int):
    def factory(c_in: int, c_out: int, stride: int) -> nn.Module:
        return SepConv(c_in, c_out, kernel, stride)

    factory.__doc__ = f"DARTS separable conv {kernel}x{kernel}: 2 x (ReLU -> depthwise -> pointwise -> BN)"
    return factory


def _dil(kernel: int):
    def factory(c_in: int, c_out: int, stride: int) -> nn.Module:
        return DilConv(c_in, c_out, kernel, stride)

    factory.__doc__ = f"DARTS dilated conv {kernel}x{kernel} (dilation 2): ReLU -> depthwise -> pointwise -> BN"
    return factory


for _k in (3, 5):
    register_op(f"sep_conv_{_k}x{_k}",
                cost=lambda c_in, c_out, stride, res, k=_k: SepConv.cost(c_in, c_out, k, stride, res))(_sep(_k))
    register_op(f"dil_conv_{_k}x{_k}",
                cost=lambda c_in, c_out, stride, res, k=_k: DilConv.cost(c_in, c_out, k, stride, res))(_dil(_k))


def _skip_cost(c_in: int, c_out: int, stride: int, res: int) -> Cost:
    return FactorizedReduce.cost(c_in, c_out, res) if stride == 2 else Cost()


@register_op("darts_skip", cost=_skip_cost, same_channels=True, check=_check_stride_1_or_2("darts_skip"))
def darts_skip(c_in: int, c_out: int, stride: int) -> nn.Module:
    """DARTS skip_connect: identity at stride 1, factorized reduce at stride 2"""
    return FactorizedReduce(c_in, c_out) if stride == 2 else nn.Identity()


def _preprocess_cost(c_in: int, c_out: int, stride: int, res: int) -> Cost:
    return FactorizedReduce.cost(c_in, c_out, res) if stride == 2 else ReLUConvBN.cost(c_in, c_out, 1, 1, res)


@register_op("darts_preprocess", cost=_preprocess_cost, check=_check_stride_1_or_2("darts_preprocess"))
def darts_preprocess(c_in: int, c_out: int, stride: int) -> nn.Module:
    """DARTS cell-input preprocessing: ReLU -> conv 1x1 -> BN, or a factorized reduce at stride 2"""
    return FactorizedReduce(c_in, c_out) if stride == 2 else ReLUConvBN(c_in, c_out, 1, 1)
