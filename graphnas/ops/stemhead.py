"""The fixed layers around the searched DAG: the stem (image -> node 0) and the head (last node -> logits)."""

from __future__ import annotations

from torch import Tensor, nn

from .primitives import Cost, bn_cost, linear_cost, out_resolution
from .layers import ConvBNAct

__all__ = ["StemBlock", "HeadBlock"]


class StemBlock(nn.Module):
    """conv ``kernel`` x ``kernel`` (3 by default; ``c_in`` -> ``channels``, ``stride``) -> BN -> ReLU6 (left
    out when ``act=False``) [-> 3x3 max pool, stride 2], then, if ``c_out != channels``, a depthwise 3x3 -> BN
    -> ReLU6 -> 1x1 to ``c_out`` -> BN (MobileNetV2's first block).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/r), ceil(W/r))`` with ``r = stride * (2 if pool)``.
    """

    def __init__(self, c_in: int, channels: int, c_out: int, stride: int, pool: bool = False,
                 act: bool = True, kernel: int = 3) -> None:
        super().__init__()
        self.conv = ConvBNAct(c_in, channels, kernel, stride, act=act)
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else None
        if c_out != channels:
            self.depthwise = ConvBNAct(channels, channels, 3, groups=channels)
            self.project = ConvBNAct(channels, c_out, 1, act=False)
        else:
            self.depthwise = self.project = None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.pool is not None:
            x = self.pool(x)
        if self.depthwise is not None:
            x = self.project(self.depthwise(x))
        return x

    @staticmethod
    def cost(c_in: int, channels: int, c_out: int, stride: int, res: int, pool: bool = False,
             kernel: int = 3) -> Cost:
        total = ConvBNAct.cost(c_in, channels, kernel, stride, res)
        if c_out != channels:
            r = out_resolution(out_resolution(res, stride), 2 if pool else 1)
            total += ConvBNAct.cost(channels, channels, 3, 1, r, groups=channels) + ConvBNAct.cost(channels, c_out, 1, 1, r)
        return total


class HeadBlock(nn.Module):
    """[1x1 conv to ``channels`` -> BN -> ReLU6] [-> BN -> ReLU] -> global average pool -> dropout -> linear.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, num_classes)``.
    """

    def __init__(self, c_in: int, channels: int | None, num_classes: int, dropout: float = 0.0,
                 bn: bool = False) -> None:
        super().__init__()
        self.conv = ConvBNAct(c_in, channels, 1) if channels else None
        self.bn = nn.Sequential(nn.BatchNorm2d(channels or c_in), nn.ReLU(inplace=True)) if bn else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.classifier = nn.Linear(channels or c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.conv is not None:
            x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        x = x.mean((2, 3))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.classifier(x)

    @staticmethod
    def cost(c_in: int, channels: int | None, num_classes: int, res: int, bn: bool = False) -> Cost:
        total = ConvBNAct.cost(c_in, channels, 1, 1, res) if channels else Cost()
        if bn:
            total += bn_cost(channels or c_in)
        return total + linear_cost(channels or c_in, num_classes)
