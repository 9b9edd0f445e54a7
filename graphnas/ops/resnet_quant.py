"""Quantised ResNet basic blocks with searched bit widths and bottleneck width (SPOS's mixed-precision search).

Registered names: ``resq_w{W}a{A}_c{r}``, e.g. ``resq_w2a4_c0.5``: a ResNet basic block (He et al. 2016)
whose convolutions run on ``W``-bit weights and ``A``-bit input activations (:mod:`graphnas.ops.quant`)
and whose first convolution has ``r`` times ``c_out`` output channels (the "bottleneck";
:func:`~graphnas.ops.slim.scaled_width` rounding), for ``(W, A)`` in SPOS's
``(1, 2), (2, 2), (1, 4), (2, 4), (3, 4), (4, 4)`` plus ``(32, 32)`` (full precision) and ``r`` in 0.5, 1.0, 1.5::

    main:      qconv3x3 (c_in -> mid, stride) BN ReLU, qconv3x3 (mid -> c_out) BN
    shortcut:  the input, or qconv1x1 (c_in -> c_out, stride) BN when the stride or the width changes
    output:    ReLU(main + shortcut)

Every convolution of the block, the shortcut's included, is quantised at the block's bits (SPOS keeps
only the network's first convolution and its classifier at full precision). Any ``c_in``, ``c_out`` and
stride fit. ``resq_w32a32_c1.0`` is torchvision's ``BasicBlock``.

All 21 form one weight-sharing family, ``resq_block``: the supernet allocates one block per edge at the
widest bottleneck (and with activation quantisers if any candidate quantises), and a candidate runs
the leading ``mid`` channels of the first convolution and BN and of the second convolution's input,
quantised to its own bits.

Cost: MAdds and parameters as everywhere (convolutions; BN affine weights and each quantiser's
``alpha`` are parameters), BitOps = MAdds x W x A of the block's convolutions.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from torch import Tensor, nn

from .primitives import Cost, bn_cost, conv_cost, out_resolution
from ..errors import OpError
from .quant import FULL_PRECISION, QConv2d
from .registry import register_family, register_op
from .slim import SlicedBatchNorm2d, ratio_text, scaled_width

__all__ = ["QuantConfig", "QuantBasicBlock", "BIT_CHOICES", "FULL_BITS", "ALL_BITS", "WIDTH_TENTHS", "quant_op_name",
           "QUANT_FAMILY"]

#: SPOS's (weight bits, activation bits) choices.
BIT_CHOICES = ((1, 2), (2, 2), (1, 4), (2, 4), (3, 4), (4, 4))
#: Full precision, offered when a space asks for it.
FULL_BITS = (FULL_PRECISION, FULL_PRECISION)
ALL_BITS = BIT_CHOICES + (FULL_BITS,)
#: Bottleneck widths, in tenths of ``c_out``.
WIDTH_TENTHS = (5, 10, 15)
QUANT_FAMILY = "resq_block"


class QuantConfig(NamedTuple):
    """A member of the ``resq_block`` family: bit widths and the bottleneck ratio in tenths of ``c_out``."""

    w_bits: int
    a_bits: int
    tenths: int


def quant_op_name(w_bits: int, a_bits: int, tenths: int) -> str:
    """``quant_op_name(2, 4, 5) == 'resq_w2a4_c0.5'``."""
    return f"resq_w{w_bits}a{a_bits}_c{ratio_text(tenths)}"


class QuantBasicBlock(nn.Module):
    """A ResNet basic block on fake-quantised weights and activations, with a sliceable bottleneck.

    Args:
        c_in (int): input channels.
        c_out (int): output channels.
        stride (int): stride of the first convolution and of the shortcut.
        mid (int): output channels of the first convolution (the largest, in a shared block).
        w_bits (int): weight bits (32: full precision).
        a_bits (int): activation bits (32: full precision; no quantisers are built).

    ``forward(x, config=None)`` runs at ``(mid, w_bits, a_bits)`` or at a :class:`QuantConfig`'s.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, mid: int, w_bits: int, a_bits: int) -> None:
        super().__init__()
        q = dict(w_bits=w_bits, a_bits=a_bits)
        self.c_out, self.mid, self.bits = c_out, mid, (w_bits, a_bits)
        self.conv1 = QConv2d(c_in, mid, 3, stride, **q)
        self.bn1 = SlicedBatchNorm2d(mid)
        self.conv2 = QConv2d(mid, c_out, 3, 1, **q)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut = QConv2d(c_in, c_out, 1, stride, **q)
            self.shortcut_bn = nn.BatchNorm2d(c_out)
        else:
            self.shortcut = self.shortcut_bn = None
        self.relu = nn.ReLU(inplace=True)

    def settings(self, config: QuantConfig | None) -> tuple[int, tuple[int, int]]:
        """``(mid, (w_bits, a_bits))`` of a call (``None``: the block's own)."""
        if config is None:
            return self.mid, self.bits
        mid = scaled_width(self.c_out, config.tenths)
        if mid > self.mid:
            raise OpError(f"quantised block holds {self.mid} bottleneck channels; ratio {ratio_text(config.tenths)} "
                          f"needs {mid}; build the family at its widest ratio")
        return mid, (config.w_bits, config.a_bits)

    def forward(self, x: Tensor, config: QuantConfig | None = None) -> Tensor:
        mid, bits = self.settings(config)
        y = self.relu(self.bn1(self.conv1(x, c_out=mid, bits=bits)))
        y = self.bn2(self.conv2(y, bits=bits))
        s = x if self.shortcut is None else self.shortcut_bn(self.shortcut(x, bits=bits))
        return self.relu(y + s)

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, mid: int, w_bits: int, a_bits: int) -> Cost:
        convs = conv_cost(c_in, mid, 3, stride, res) + conv_cost(mid, c_out, 3, 1, out_resolution(res, stride))
        norms = bn_cost(mid) + bn_cost(c_out)
        n_convs = 2
        if stride != 1 or c_in != c_out:
            convs += conv_cost(c_in, c_out, 1, stride, res)
            norms += bn_cost(c_out)
            n_convs = 3
        alphas = n_convs if a_bits < FULL_PRECISION else 0
        return Cost(convs.madds, convs.params + norms.params + alphas, convs.madds * w_bits * a_bits)


def _build(c_in: int, c_out: int, stride: int, configs: Sequence[QuantConfig]) -> QuantBasicBlock:
    """One block for every config: the widest bottleneck, quantisers if any config quantises activations."""
    mid = max(scaled_width(c_out, c.tenths) for c in configs)
    return QuantBasicBlock(c_in, c_out, stride, mid=mid, w_bits=min(c.w_bits for c in configs),
                           a_bits=min(c.a_bits for c in configs))


def _register() -> None:
    register_family(QUANT_FAMILY, description="quantised ResNet basic block at every bit width and bottleneck "
                                              "(shared, sliced weights)")(_build)
    for w_bits, a_bits in ALL_BITS:
        for tenths in WIDTH_TENTHS:
            config = QuantConfig(w_bits, a_bits, tenths)

            def factory(c_in, c_out, stride, _c=config):
                return QuantBasicBlock(c_in, c_out, stride, mid=scaled_width(c_out, _c.tenths), w_bits=_c.w_bits,
                                       a_bits=_c.a_bits)

            def cost(c_in, c_out, stride, res, _c=config):
                return QuantBasicBlock.cost(c_in, c_out, stride, res, mid=scaled_width(c_out, _c.tenths),
                                            w_bits=_c.w_bits, a_bits=_c.a_bits)

            full = (w_bits, a_bits) == FULL_BITS
            bits = "full precision" if full else f"{w_bits}-bit weights, {a_bits}-bit activations"
            register_op(quant_op_name(w_bits, a_bits, tenths), cost=cost, family=QUANT_FAMILY, config=config,
                        description=f"ResNet basic block, {bits}, bottleneck {ratio_text(tenths)}x")(factory)


_register()
