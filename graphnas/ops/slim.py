"""Layers that run on the leading slice of their weights: the building blocks of shared-weight families.

SPOS's channel search allocates each block at its widest and runs a narrower candidate on the first
``c`` channels (Guo et al., ECCV 2020). :class:`SlicedConv2d` and :class:`SlicedBatchNorm2d` are a
``Conv2d`` and a ``BatchNorm2d`` that do this: the input width is read from the input, the output width
is an argument of ``forward``. Built at a width and called without an output width they behave as
the plain layers, so one class serves as both the standalone operator (its own, smaller weights) and
the shared supernet module; the standalone's tensors are the leading slices of the shared ones
(:func:`slice_state`), which is what :meth:`graphnas.Supernet.extract` copies.

Batch norm on a slice updates the leading ``c`` entries of the running statistics in place, with the
layer's own momentum (``None``: the cumulative average over ``num_batches_tracked``, which the slices
share), so :func:`graphnas.estimate.score.recalibrate_bn` works on sliced paths unchanged. Its reset clears
the whole layer, as it does for a layer used at full width. Gradients reach only the slice used.

Widths are scaled by :func:`scaled_width`: the nearest integer (halves up), at least 1.
"""

from __future__ import annotations

from typing import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from .primitives import Cost
from ..errors import OpError

__all__ = ["SlicedConv2d", "SlicedBatchNorm2d", "scaled_width", "slice_state", "ratio_text"]


def scaled_width(base: int, tenths: int) -> int:
    """``base * tenths / 10`` rounded to the nearest integer (halves up), at least 1; exact integer arithmetic.

    Nearest-integer rounding keeps ``tenths == 10`` equal to ``base`` and keeps the choices of a search
    distinct down to small bases (rounding to multiples of 8, MobileNet's rule, would merge 0.4x and 0.6x
    of a 32-channel base).

    >>> scaled_width(32, 2), scaled_width(32, 6), scaled_width(80, 16), scaled_width(4, 2)
    (6, 19, 128, 1)
    """
    return max(1, (base * tenths + 5) // 10)


def ratio_text(tenths: int) -> str:
    """The ratio ``tenths / 10`` as operator names write it: ``ratio_text(6) == '0.6'``, ``ratio_text(10) == '1.0'``."""
    return f"{tenths // 10}.{tenths % 10}"


class SlicedConv2d(nn.Conv2d):
    """Square conv ('same' padding) that can run on its leading input and output channels.

    Args:
        c_in (int): input channels at full width.
        c_out (int): output channels at full width.
        kernel (int): kernel size (odd).
        stride (int, optional): stride (default: 1).
        depthwise (bool, optional): one filter per channel (``groups == c_in == c_out``); a slice keeps
            ``groups`` equal to its width (default: ``False``; otherwise ``groups`` is 1).
        bias (bool, optional): add a bias (default: ``False``).

    ``forward(x, c_out=None)`` uses ``weight[:c_out, :x.shape[1]]`` (a depthwise layer: ``weight[:x.shape[1]]``).

    Shapes:
        input ``(N, c, H, W)`` with ``c <= c_in``; output ``(N, c_out or self.out_channels, ceil(H/s), ceil(W/s))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, depthwise: bool = False,
                 bias: bool = False) -> None:
        if depthwise and c_in != c_out:
            raise OpError(f"a depthwise SlicedConv2d keeps the width; got {c_in} -> {c_out} channels")
        super().__init__(c_in, c_out, kernel, stride, kernel // 2, groups=c_in if depthwise else 1, bias=bias)
        self.depthwise = depthwise

    def _widths(self, c_in: int, c_out: int | None) -> tuple[int, int, int]:
        """``(c_in, c_out, groups)`` of a call, checked against the allocated weights."""
        if self.depthwise:
            c_out = c_in
        elif c_out is None:
            c_out = self.out_channels
        if not (0 < c_in <= self.in_channels and 0 < c_out <= self.out_channels):
            raise OpError(f"{type(self).__name__} holds {self.in_channels} -> {self.out_channels} channels and cannot "
                          f"run {c_in} -> {c_out}; build it at the widest width its family uses")
        return c_in, c_out, c_in if self.depthwise else 1

    def sliced_weight(self, c_in: int, c_out: int) -> Tensor:
        """The weights a ``c_in -> c_out`` call uses (a view; gradients flow into the full tensor's slice)."""
        return self.weight[:c_out] if self.depthwise else self.weight[:c_out, :c_in]

    def forward(self, x: Tensor, c_out: int | None = None) -> Tensor:
        c_in, c_out, groups = self._widths(x.shape[1], c_out)
        bias = self.bias[:c_out] if self.bias is not None else None
        return F.conv2d(x, self.sliced_weight(c_in, c_out), bias, self.stride, self.padding, self.dilation, groups)

    def counted_cost(self, args, kwargs, output: Tensor) -> Cost:
        """Cost of one call for :func:`graphnas.cost.count_module`: MAdds and parameters of the slice used."""
        c_in, c_out = args[0].shape[1], output.shape[1]
        per_out = (1 if self.depthwise else c_in) * self.kernel_size[0] * self.kernel_size[1]
        madds = per_out * output[0].numel()
        return Cost(madds, per_out * c_out + (c_out if self.bias is not None else 0))


class SlicedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d over the leading ``x.shape[1]`` channels of its statistics and affine parameters.

    Train mode updates ``running_mean[:c]`` / ``running_var[:c]`` in place with the layer's momentum (or the
    cumulative average when ``momentum is None``); eval mode normalises with them.

    Shapes:
        input and output ``(N, c, H, W)`` with ``c <= num_features``.
    """

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        if not 0 < c < self.num_features:
            raise OpError(f"SlicedBatchNorm2d holds {self.num_features} channels and cannot normalise {c}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        mean = self.running_mean[:c] if track and self.running_mean is not None else None
        var = self.running_var[:c] if track and self.running_var is not None else None
        weight = self.weight[:c] if self.weight is not None else None
        bias = self.bias[:c] if self.bias is not None else None
        return F.batch_norm(x, mean, var, weight, bias, use_batch, factor, self.eps)

    def counted_cost(self, args, kwargs, output: Tensor) -> Cost:
        """No MAdds (graphnas's convention); the affine parameters of the slice used."""
        return Cost(0, 2 * output.shape[1] if self.affine else 0)


def slice_state(source: Mapping[str, Tensor], target: nn.Module, what: str = "module") -> dict[str, Tensor]:
    """The state dict for ``target`` taken from ``source`` (a larger module's state): each tensor's leading slice.

    Every key of ``target``'s state dict must be in ``source`` with as many dimensions and at least the
    same size in each; ``what`` names the source in the error.
    """
    out = {}
    for key, t in target.state_dict().items():
        s = source.get(key)
        if s is None or s.dim() != t.dim() or any(a < b for a, b in zip(s.shape, t.shape)):
            found = "missing" if s is None else f"of shape {tuple(s.shape)}"
            raise OpError(f"{what} cannot initialise '{key}' of shape {tuple(t.shape)}: it is {found} in the shared "
                          f"module; a family's module must hold every member's tensors at least as large")
        out[key] = s[tuple(slice(0, n) for n in t.shape)] if s.dim() else s
    return out

