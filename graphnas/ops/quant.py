"""Fake quantisation for mixed-precision search: quantised weights and activations with straight-through gradients.

SPOS's mixed-precision search (Guo et al., ECCV 2020) chooses the bit widths of every block's weights
and activations; the weights of one block are shared across bit widths, so quantisation is applied on
the fly to the full-precision weights (and to the slice of them a narrower candidate uses).

* Weights (:func:`quantize_weights`), per output channel: ``b >= 2`` bits map ``w / max|w|`` in
  ``[-1, 1]`` to ``2^b`` evenly spaced levels from -1 to 1 (DoReFa's symmetric grid, which has no zero:
  2 bits are ``{-1, -1/3, 1/3, 1} * max|w|``); 1 bit is ``sign(w) * mean|w|`` (XNOR-Net's scale,
  sign(0) = +1).
* Activations (:class:`PACT`): the input is clipped to ``[0, alpha]`` with a learnable ``alpha`` (PACT,
  Choi et al. 2018; initialised to 6, ReLU6's bound) and rounded to ``2^b`` levels from 0 to ``alpha``;
  unsigned, since every quantised layer reads the output of a ReLU.
* Rounding uses the straight-through estimator: the forward pass sees the quantised value, the
  backward pass the identity (``q.detach() + (x - x.detach())``, exactly ``q`` forward); ``alpha`` gets
  PACT's gradient where the input is clipped.
* 32 bits means full precision: no quantiser runs.

:class:`QConv2d` is a :class:`~graphnas.ops.slim.SlicedConv2d` that quantises its input activations and
its (sliced) weights; it counts BitOps = MAdds x weight bits x activation bits
(:mod:`graphnas.ops.primitives`). The scale of a channel is computed from the weights the call uses,
so a standalone layer built at a narrow width gives exactly what the shared layer gives on its slice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .primitives import Cost
from ..errors import OpError
from .slim import SlicedConv2d

__all__ = ["FULL_PRECISION", "quantize_weights", "quantize_activations", "PACT", "QConv2d"]

#: The bit width that means "not quantised".
FULL_PRECISION = 32


def _check_bits(bits: int, what: str) -> None:
    if not isinstance(bits, int) or not (1 <= bits <= 16 or bits == FULL_PRECISION):
        raise OpError(f"{what} bit width must be an int from 1 to 16, or {FULL_PRECISION} for full precision; "
                      f"got {bits!r}")


def quantize_weights(w: Tensor, bits: int) -> Tensor:
    """Fake-quantise conv weights per output channel to ``bits`` bits, straight-through (see the module docstring).

    Shapes:
        ``w``: ``(C_out, ...)``; returns the same shape.
    """
    _check_bits(bits, "weight")
    if bits == FULL_PRECISION:
        return w
    dims = tuple(range(1, w.dim()))
    with torch.no_grad():
        if bits == 1:
            scale = w.abs().mean(dims, keepdim=True)
            q = torch.where(w >= 0, scale, -scale)
        else:
            scale = w.abs().amax(dims, keepdim=True).clamp_min(1e-12)
            levels = 2 ** bits - 1
            q = (torch.round((w / scale + 1) * (levels / 2)) * (2 / levels) - 1) * scale
    return q + (w - w.detach())  # exactly q forward, identity backward


def quantize_activations(x: Tensor, alpha: Tensor, bits: int) -> Tensor:
    """PACT: clip ``x`` to ``[0, alpha]`` and round to ``2^bits`` levels, straight-through (``bits < 32``).

    Shapes:
        ``x``: any; ``alpha``: a scalar tensor; returns the shape of ``x``.
    """
    _check_bits(bits, "activation")
    y = torch.minimum(F.relu(x), alpha)  # d/d alpha = 1 where x > alpha (PACT)
    if bits == FULL_PRECISION:
        return y
    step = alpha.detach() / (2 ** bits - 1)
    return (torch.round(y / step) * step).detach() + (y - y.detach())


class PACT(nn.Module):
    """An activation quantiser with a learnable clipping level ``alpha``: ``forward(x, bits)``.

    Args:
        alpha (float, optional): initial clipping level (default: 6.0).

    Shapes:
        input and output of any shape.
    """

    def __init__(self, alpha: float = 6.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def forward(self, x: Tensor, bits: int) -> Tensor:
        return quantize_activations(x, self.alpha, bits)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha.item():.3g}"


class QConv2d(SlicedConv2d):
    """A sliceable conv ('same' padding, no bias) on fake-quantised input activations and weights.

    Args:
        c_in (int): input channels (at full width).
        c_out (int): output channels (at full width).
        kernel (int): kernel size (odd).
        stride (int, optional): stride (default: 1).
        w_bits (int): weight bits when ``forward`` is not told otherwise (32: full precision).
        a_bits (int): activation bits likewise; a :class:`PACT` quantiser (``act_quant``) exists only if
            it is below 32, so build a shared layer at the smallest activation bits it will run.

    ``forward(x, c_out=None, bits=None)``: ``bits = (w_bits, a_bits)`` overrides the defaults for this call;
    ``c_out`` and the input's width select the leading slice of the weights.

    Shapes:
        input ``(N, c, H, W)``, ``c <= c_in``; output ``(N, c_out or self.out_channels, ceil(H/s), ceil(W/s))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, w_bits: int, a_bits: int) -> None:
        _check_bits(w_bits, "weight")
        _check_bits(a_bits, "activation")
        super().__init__(c_in, c_out, kernel, stride)
        self.bits = (w_bits, a_bits)
        self.act_quant = PACT() if a_bits < FULL_PRECISION else None

    def forward(self, x: Tensor, c_out: int | None = None, bits: tuple[int, int] | None = None) -> Tensor:
        w_bits, a_bits = self.bits if bits is None else bits
        if a_bits < FULL_PRECISION:
            if self.act_quant is None:
                raise OpError(f"QConv2d built for {self.bits[1]}-bit activations has no quantiser to run {a_bits} "
                              f"bits; build a shared layer at the smallest activation bits it runs")
            x = self.act_quant(x, a_bits)
        c_in, c_out, groups = self._widths(x.shape[1], c_out)
        weight = quantize_weights(self.sliced_weight(c_in, c_out), w_bits)
        return F.conv2d(x, weight, None, self.stride, self.padding, self.dilation, groups)

    def counted_cost(self, args, kwargs, output: Tensor) -> Cost:
        """MAdds and parameters of the slice used, and BitOps = MAdds x weight bits x activation bits."""
        cost = super().counted_cost(args, kwargs, output)
        bits = kwargs.get("bits", args[2] if len(args) > 2 else None) or self.bits
        return Cost(cost.madds, cost.params, cost.madds * bits[0] * bits[1])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", bits={self.bits}"
