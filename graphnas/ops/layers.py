"""Building blocks shared by operators: conv-BN-activation and squeeze-excitation.

Each block has a ``cost(...)`` static method in closed form next to its constructor, so the
module and its analytic cost are written in one place.
"""

from __future__ import annotations

from torch import Tensor, nn

from .primitives import Cost, bn_cost, conv_cost
from ..utils import make_divisible

__all__ = ["ConvBNAct", "SqueezeExcite"]


class ConvBNAct(nn.Module):
    """Conv2d ('same' padding, no bias) -> BatchNorm2d -> optional ReLU6.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, *, groups: int = 1,
                 act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU6(inplace=True) if act else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x

    @staticmethod
    def cost(c_in: int, c_out: int, kernel: int, stride: int, res: int, *, groups: int = 1) -> Cost:
        return conv_cost(c_in, c_out, kernel, stride, res, groups=groups) + bn_cost(c_out)


class SqueezeExcite(nn.Module):
    """Squeeze-excitation: global pool -> 1x1 reduce (ReLU) -> 1x1 expand (sigmoid) -> rescale.

    The squeezed width is ``make_divisible(channels * ratio)``.

    Shapes:
        input and output ``(N, C, H, W)``.
    """

    def __init__(self, channels: int, ratio: float = 0.25) -> None:
        super().__init__()
        hidden = self.hidden(channels, ratio)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    @staticmethod
    def hidden(channels: int, ratio: float = 0.25) -> int:
        return make_divisible(channels * ratio, 8)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))

    @staticmethod
    def cost(channels: int, ratio: float = 0.25) -> Cost:
        hidden = SqueezeExcite.hidden(channels, ratio)
        return (conv_cost(channels, hidden, 1, 1, 1, bias=True)
                + conv_cost(hidden, channels, 1, 1, 1, bias=True))
