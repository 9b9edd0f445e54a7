"""Parameter-free operators: ``identity`` and 3x3 pooling.

``identity`` joins two feature maps of the same shape; ``avg_pool_3x3`` and ``max_pool_3x3`` keep
the channel count but may reduce resolution (stride). The absent operator ``none`` is not a module:
a branch edge that chooses it is left out of the network.
"""

from __future__ import annotations

from torch import nn

from .primitives import Cost
from .registry import register_op

__all__ = []


def _free(c_in, c_out, stride, res) -> Cost:
    return Cost()


@register_op("identity", cost=_free, same_channels=True, stride_one=True)
def identity(c_in: int, c_out: int, stride: int) -> nn.Module:
    """identity (skip connection)"""
    return nn.Identity()


@register_op("avg_pool_3x3", cost=_free, same_channels=True)
def avg_pool_3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """3x3 average pooling (padding excluded from the average)"""
    return nn.AvgPool2d(3, stride, 1, count_include_pad=False)


@register_op("max_pool_3x3", cost=_free, same_channels=True)
def max_pool_3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """3x3 max pooling"""
    return nn.MaxPool2d(3, stride, 1)
