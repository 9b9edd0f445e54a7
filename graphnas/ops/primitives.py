"""Closed-form cost of the primitive layers operators are built from.

Convention (the one the papers use for "MAdds"/"FLOPs"): one multiply-add per weight per output
position of a convolution or linear layer. Batch norm, activations, pooling, additions and the
element-wise products of squeeze-excitation are not counted. Parameters count every learnable
tensor, batch-norm affine weights included; running statistics are buffers and are not counted.
:func:`graphnas.cost.count.count_module` counts a built module under the same convention.

BitOps (mixed-precision search): ``MAdds x weight bits x activation bits`` of every *quantised*
layer (:class:`graphnas.ops.quant.QConv2d`), including one that a candidate runs at 32/32 bits.
Layers that are full precision by construction (plain ``Conv2d``/``Linear``: the stem, the classifier,
every operator outside a quantised space) count 0 BitOps: they are the same in every architecture of a
space, and counting them at 32 x 32 would add a constant that swamps the differences being searched
(ResNet-18's 7x7 stem alone would be 118M x 1024 = 121G BitOps, 4.5x the whole body at 4/4 bits).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cost", "out_resolution", "conv_cost", "bn_cost", "linear_cost"]


@dataclass(frozen=True)
class Cost:
    """Multiply-adds, parameters and BitOps of a module, per input sample (Python ints, exact).

    ``bitops`` is 0 unless the module has quantised layers (see the module docstring); the ``repr``
    leaves it out when it is 0.

    >>> Cost(10, 2) + Cost(5, 1, bitops=80)
    Cost(madds=15, params=3, bitops=80)
    """

    madds: int = 0
    params: int = 0
    bitops: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.madds + other.madds, self.params + other.params, self.bitops + other.bitops)

    def __repr__(self) -> str:
        extra = f", bitops={self.bitops}" if self.bitops else ""
        return f"Cost(madds={self.madds}, params={self.params}{extra})"

    def __radd__(self, other):  # lets sum() start from 0
        if other == 0:
            return self
        return NotImplemented


def out_resolution(res: int, stride: int) -> int:
    """Spatial size after a 'same'-padded window of any odd kernel with ``stride``: ceil(res/stride)."""
    return -(-res // stride)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value[0], value[1]) if isinstance(value, (tuple, list)) else (value, value)


def conv_cost(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int | tuple[int, int],
              res: int | tuple[int, int], *, groups: int = 1, bias: bool = False) -> Cost:
    """Cost of a Conv2d with 'same' padding (``kernel // 2`` per side, odd kernels).

    ``kernel``, ``stride`` and ``res`` are an int (square) or a ``(height, width)`` pair, as ``nn.Conv2d``
    takes them: ``conv_cost(c, c, (1, 5), (1, 2), 8, groups=c)`` is a 1x5 depthwise conv striding only
    along the width of an 8 x 8 input (output 8 x 4).
    """
    (kh, kw), (sh, sw), (h, w) = _pair(kernel), _pair(stride), _pair(res)
    weights = kh * kw * (c_in // groups) * c_out
    return Cost(madds=weights * out_resolution(h, sh) * out_resolution(w, sw), params=weights + (c_out if bias else 0))


def bn_cost(channels: int) -> Cost:
    """BatchNorm2d: affine weight and bias; no multiply-adds counted."""
    return Cost(0, 2 * channels)


def linear_cost(f_in: int, f_out: int, *, bias: bool = True) -> Cost:
    """nn.Linear on one feature vector."""
    return Cost(madds=f_in * f_out, params=f_in * f_out + (f_out if bias else 0))
