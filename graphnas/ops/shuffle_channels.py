"""ShuffleNetV2 units with a searched bottleneck width: SPOS's channel search (Guo et al., ECCV 2020).

Registered names: ``shuffle_{3,5,7,x}_c{r}`` for ``r`` in 0.2, 0.4, ..., 1.6, e.g. ``shuffle_5_c0.6``:
the unit of :mod:`graphnas.ops.shufflenet` (same branches, kernels and shapes rules) whose "mid" width
is ``r`` times the base ``c_out // 2``, rounded by :func:`~graphnas.ops.slim.scaled_width` (the nearest
integer, at least 1). ``shuffle_k_c1.0`` is exactly ``shuffle_k``. The block's input and output widths do
not change, so every ratio fits wherever the block does.

The ratios of one block type form a weight-sharing family, ``shuffle_{k}_channels``: the supernet
allocates the unit once per edge at the widest ratio the edge offers and runs a narrower one on the
leading ``mid`` channels of every layer of the main branch (:class:`SlimShuffleUnit`). Its projection
branch and the main branch's output layer keep their widths and are shared in full.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from .primitives import Cost
from ..errors import OpError
from .registry import register_family, register_op
from .shufflenet import SHUFFLE_OPS, LayerSpec, _specs_cost, channel_shuffle, check_shuffle_shape, unit_layers
from .slim import SlicedBatchNorm2d, SlicedConv2d, ratio_text, scaled_width

__all__ = ["ChannelConfig", "SlimConvBN", "SlimShuffleUnit", "CHANNEL_TENTHS", "channel_op_name", "channel_family"]

#: The searched ratios of the base mid width, in tenths: 0.2x to 1.6x in steps of 0.2 (SPOS).
CHANNEL_TENTHS = (2, 4, 6, 8, 10, 12, 14, 16)


class ChannelConfig(NamedTuple):
    """A member of a channel family: the mid width is ``tenths / 10`` of ``c_out // 2``."""

    tenths: int


def channel_op_name(block: str, tenths: int) -> str:
    """``channel_op_name('shuffle_3', 6) == 'shuffle_3_c0.6'``."""
    return f"{block}_c{ratio_text(tenths)}"


def channel_family(block: str) -> str:
    """The family key of a block type's channel choices: ``'shuffle_3_channels'``."""
    return f"{block}_channels"


class SlimConvBN(nn.Module):
    """:class:`SlicedConv2d` -> :class:`SlicedBatchNorm2d` -> optional ReLU, from a :class:`LayerSpec`.

    Shapes:
        input ``(N, c, H, W)``, ``c <= spec.c_in``; output ``(N, c_out or spec.c_out, ceil(H/s), ceil(W/s))``.
    """

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        depthwise = spec.groups > 1
        if depthwise and not spec.groups == spec.c_in == spec.c_out:
            raise OpError(f"SlimConvBN supports plain or depthwise convolutions, got groups={spec.groups}")
        self.conv = SlicedConv2d(spec.c_in, spec.c_out, spec.kernel, spec.stride, depthwise=depthwise)
        self.bn = SlicedBatchNorm2d(spec.c_out)
        self.act = nn.ReLU(inplace=True) if spec.relu else None

    def forward(self, x: Tensor, c_out: int | None = None) -> Tensor:
        x = self.bn(self.conv(x, c_out))
        return self.act(x) if self.act is not None else x


class SlimShuffleUnit(nn.Module):
    """A ShuffleNetV2 / SPOS Xception-like unit whose main branch can run at any mid width up to ``mid``.

    Args:
        c_in (int): input channels.
        c_out (int): output channels (``== c_in`` at stride 1, ``> c_in`` at stride 2; even).
        stride (int): 1 or 2.
        mid (int): the (largest) mid width allocated.
        kernel (int, optional): depthwise kernel size (default: 3).
        xception (bool, optional): three depthwise 3x3 + pointwise pairs in the main branch.
        name (str, optional): the operator name used in error messages.

    ``forward(x, config=None)`` runs at ``mid`` or, given a :class:`ChannelConfig`, at its width (which must
    not exceed ``mid``).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, mid: int, kernel: int = 3, xception: bool = False,
                 name: str = "shuffle unit") -> None:
        super().__init__()
        check_shuffle_shape(name, c_in, c_out, stride)
        proj, main = unit_layers(c_in, c_out, stride, kernel, xception, mid=mid)
        self.shape = (c_in, c_out, stride, kernel, xception)
        self.mid, self.name = mid, name
        self.proj = nn.ModuleList(SlimConvBN(s) for s in proj) if proj else None
        self.main = nn.ModuleList(SlimConvBN(s) for s in main)

    def width(self, config: ChannelConfig | None) -> int:
        """The mid width of ``config`` (``None``: the allocated one)."""
        if config is None:
            return self.mid
        mid = scaled_width(self.shape[1] // 2, config.tenths)
        if mid > self.mid:
            raise OpError(f"{self.name}: ratio {ratio_text(config.tenths)} needs {mid} mid channels but the unit holds "
                          f"{self.mid}; build the family at its widest ratio")
        return mid

    def forward(self, x: Tensor, config: ChannelConfig | None = None) -> Tensor:
        widths = _main_widths(*self.shape, self.width(config))
        if self.proj is None:
            keep, x = x.chunk(2, dim=1)
        else:
            keep = x
            for layer in self.proj:
                keep = layer(keep)
        for layer, c in zip(self.main, widths):
            x = layer(x, c)
        return channel_shuffle(torch.cat((keep, x), dim=1), 2)

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, mid: int, kernel: int = 3, xception: bool = False,
             name: str = "shuffle unit") -> Cost:
        check_shuffle_shape(name, c_in, c_out, stride)
        proj, main = unit_layers(c_in, c_out, stride, kernel, xception, mid=mid)
        return _specs_cost(proj, res) + _specs_cost(main, res)


@lru_cache(maxsize=4096)
def _main_widths(c_in: int, c_out: int, stride: int, kernel: int, xception: bool, mid: int) -> tuple[int, ...]:
    return tuple(s.c_out for s in unit_layers(c_in, c_out, stride, kernel, xception, mid=mid)[1])


def _register() -> None:
    for block, kernel in SHUFFLE_OPS.items():
        xception = block == "shuffle_x"
        family = channel_family(block)

        def build(c_in: int, c_out: int, stride: int, configs: Sequence[ChannelConfig], _block=block, _k=kernel,
                  _x=xception) -> SlimShuffleUnit:
            mid = max(scaled_width(c_out // 2, c.tenths) for c in configs)
            return SlimShuffleUnit(c_in, c_out, stride, mid=mid, kernel=_k, xception=_x, name=_block)

        register_family(family, description=f"{block} at every mid width (shared, sliced weights)")(build)
        for tenths in CHANNEL_TENTHS:
            name = channel_op_name(block, tenths)
            kw = dict(kernel=kernel, xception=xception, name=name)

            def factory(c_in, c_out, stride, _kw=kw, _t=tenths):
                return SlimShuffleUnit(c_in, c_out, stride, mid=scaled_width(c_out // 2, _t), **_kw)

            def cost(c_in, c_out, stride, res, _kw=kw, _t=tenths):
                return SlimShuffleUnit.cost(c_in, c_out, stride, res, mid=scaled_width(c_out // 2, _t), **_kw)

            def check(c_in, c_out, stride, _name=name):
                check_shuffle_shape(_name, c_in, c_out, stride)

            kind = ("SPOS Xception-like ShuffleNetV2 unit" if xception
                    else f"ShuffleNetV2 unit, {kernel}x{kernel} depthwise")
            register_op(name, cost=cost, check=check, family=family, config=ChannelConfig(tenths),
                        description=f"{kind}, mid width {ratio_text(tenths)}x")(factory)


_register()
