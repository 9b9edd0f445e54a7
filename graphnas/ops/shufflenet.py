"""ShuffleNetV2 units: the four choice blocks of SPOS's ShuffleNet space (Guo et al., ECCV 2020).

Registered names: ``shuffle_3``, ``shuffle_5``, ``shuffle_7`` (a ShuffleNetV2 unit, Ma et al. 2018,
with a 3x3, 5x5 or 7x7 depthwise convolution) and ``shuffle_x`` (SPOS's Xception-like choice: the
main branch is three depthwise 3x3 + pointwise pairs). Every unit ends with a channel shuffle of two
groups. "Mid" channels are ``c_out // 2`` throughout (SPOS's base width, and ShuffleNetV2's).

Stride 1 (``c_in == c_out``, even): the input is split into two halves of ``c / 2`` channels; one half
passes untouched, the other goes through the main branch (``c / 2 -> mid -> c / 2``); the two are
concatenated and shuffled::

    shuffle_k main:  1x1 (c/2 -> mid) BN ReLU, kxk depthwise BN, 1x1 (mid -> c/2) BN ReLU
    shuffle_x main:  dw3x3 BN, 1x1 (c/2 -> mid) BN ReLU, dw3x3 BN, 1x1 (mid -> mid) BN ReLU,
                     dw3x3 BN, 1x1 (mid -> c/2) BN ReLU

Stride 2 (``c_out > c_in``, ``c_out`` even): both branches read the whole input. The projection branch
keeps the width, ``kxk depthwise stride 2 BN, 1x1 (c_in -> c_in) BN ReLU`` (k = 3 for ``shuffle_x``);
the main branch is the one above with the stride on its first depthwise convolution, from ``c_in``
to ``c_out - c_in`` channels. The concatenation has ``c_in + (c_out - c_in) = c_out`` channels.

Any other combination (stride 1 with ``c_in != c_out`` or an odd width, stride 2 with
``c_out <= c_in`` or an odd ``c_out``, a stride other than 1 or 2) raises :class:`OpError`: the
registry's ``same_channels``/``stride_one`` flags cannot say "stride 1 needs equal widths", so each
unit registers :func:`check_shuffle_shape` as its ``check`` and spaces drop or refuse it where it
does not fit.

Costs are closed-form with graphnas's convention (:mod:`graphnas.ops.primitives`): multiply-adds of
the convolutions only (not BN, ReLU, split, concatenation or shuffle), parameters of every learnable
tensor, batch-norm affine weights included. Module and cost are both built from one list of layers
(:func:`unit_layers`), so they cannot drift apart.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .primitives import Cost, out_resolution
from ..errors import OpError
from .layers import ConvBNAct
from .registry import register_op

__all__ = ["ConvBNReLU", "ShuffleUnit", "LayerSpec", "unit_layers", "check_shuffle_shape", "shuffle_fits",
           "channel_shuffle", "SHUFFLE_OPS"]

#: The registered names and their depthwise kernel (``x`` = the Xception-like block, 3x3 kernels).
SHUFFLE_OPS = {"shuffle_3": 3, "shuffle_5": 5, "shuffle_7": 7, "shuffle_x": 3}


class ConvBNReLU(ConvBNAct):
    """Conv2d ('same' padding, no bias) -> BatchNorm2d -> optional ReLU (ShuffleNet uses ReLU, not ReLU6).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, *, groups: int = 1,
                 act: bool = True) -> None:
        super().__init__(c_in, c_out, kernel, stride, groups=groups, act=act)
        self.act = nn.ReLU(inplace=True) if act else None


class LayerSpec(NamedTuple):
    """One conv-BN[-ReLU] layer of a unit: a depthwise layer has ``groups == c_in == c_out``."""

    c_in: int
    c_out: int
    kernel: int
    stride: int
    groups: int
    relu: bool


def check_shuffle_shape(name: str, c_in: int, c_out: int, stride: int) -> None:
    """Raise :class:`OpError` unless a ShuffleNetV2 unit can map ``c_in`` channels at ``stride`` to ``c_out``."""
    if stride == 1:
        if c_in != c_out:
            raise OpError(f"operator '{name}' at stride 1 keeps the width (it splits the input in halves and "
                          f"concatenates them back), so it cannot map {c_in} to {c_out} channels; use it at "
                          f"stride 1 only where c_in == c_out, or at stride 2 to widen")
        if c_in < 2 or c_in % 2:
            raise OpError(f"operator '{name}' at stride 1 splits its input in two equal halves, so it needs an "
                          f"even width >= 2, got {c_in} channels")
    elif stride == 2:
        if c_out <= c_in:
            raise OpError(f"operator '{name}' at stride 2 concatenates the projected input ({c_in} channels) with "
                          f"c_out - c_in new channels, so it needs c_out > c_in, got {c_in} -> {c_out}")
        if c_out % 2:
            raise OpError(f"operator '{name}' ends with a channel shuffle of 2 groups, so it needs an even c_out, "
                          f"got {c_out}")
    else:
        raise OpError(f"operator '{name}' supports stride 1 or 2, got stride {stride}; join nodes whose "
                      f"reductions differ by at most x2")


def shuffle_fits(c_in: int, c_out: int, stride: int) -> bool:
    """Whether a ShuffleNetV2 unit can join these shapes (the predicate :func:`check_shuffle_shape` enforces)."""
    try:
        check_shuffle_shape("shuffle", c_in, c_out, stride)
    except OpError:
        return False
    return True


def unit_layers(c_in: int, c_out: int, stride: int, kernel: int, xception: bool = False, mid: int | None = None
                ) -> tuple[tuple[LayerSpec, ...], tuple[LayerSpec, ...]]:
    """The layers of a unit: ``(projection branch, main branch)``; the projection is empty at stride 1.

    ``mid`` is the main branch's bottleneck width (default: ``c_out // 2``; SPOS's channel search varies it).
    Shapes are assumed valid (see :func:`check_shuffle_shape`).
    """
    mid = c_out // 2 if mid is None else mid
    if stride == 1:
        inp = c_in // 2  # the half that goes through the main branch
        proj: tuple[LayerSpec, ...] = ()
    else:
        inp = c_in
        proj = (LayerSpec(c_in, c_in, kernel, stride, c_in, False), LayerSpec(c_in, c_in, 1, 1, 1, True))
    out = c_out - (c_in // 2 if stride == 1 else c_in)
    if xception:
        main = (LayerSpec(inp, inp, 3, stride, inp, False), LayerSpec(inp, mid, 1, 1, 1, True),
                LayerSpec(mid, mid, 3, 1, mid, False), LayerSpec(mid, mid, 1, 1, 1, True),
                LayerSpec(mid, mid, 3, 1, mid, False), LayerSpec(mid, out, 1, 1, 1, True))
    else:
        main = (LayerSpec(inp, mid, 1, 1, 1, True), LayerSpec(mid, mid, kernel, stride, mid, False),
                LayerSpec(mid, out, 1, 1, 1, True))
    return proj, main


def _build(specs: tuple[LayerSpec, ...]) -> nn.Sequential:
    return nn.Sequential(*(ConvBNReLU(s.c_in, s.c_out, s.kernel, s.stride, groups=s.groups, act=s.relu)
                           for s in specs))


def _specs_cost(specs: tuple[LayerSpec, ...], res: int) -> Cost:
    total = Cost()
    for s in specs:
        total += ConvBNAct.cost(s.c_in, s.c_out, s.kernel, s.stride, res, groups=s.groups)
        res = out_resolution(res, s.stride)
    return total


def channel_shuffle(x: Tensor, groups: int = 2) -> Tensor:
    """ShuffleNet's channel shuffle: view channels as ``(groups, C/groups)``, transpose, flatten.

    Shapes:
        input and output ``(N, C, H, W)`` with ``C`` divisible by ``groups``.
    """
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    """A ShuffleNetV2 unit (``xception=False``) or SPOS's Xception-like choice block (``xception=True``).

    Args:
        c_in (int): input channels.
        c_out (int): output channels (``== c_in`` at stride 1, ``> c_in`` at stride 2; even).
        stride (int): 1 or 2.
        kernel (int): depthwise kernel size (odd); the Xception-like block uses 3.
        xception (bool, optional): three depthwise 3x3 + pointwise pairs in the main branch.
        name (str, optional): the operator name used in error messages.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int = 3, xception: bool = False,
                 name: str = "shuffle unit") -> None:
        super().__init__()
        check_shuffle_shape(name, c_in, c_out, stride)
        proj, main = unit_layers(c_in, c_out, stride, kernel, xception)
        self.stride = stride
        self.proj = _build(proj) if proj else None
        self.main = _build(main)

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is None:
            keep, x = x.chunk(2, dim=1)
        else:
            keep = self.proj(x)
        return channel_shuffle(torch.cat((keep, self.main(x)), dim=1), 2)

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, kernel: int = 3, xception: bool = False,
             name: str = "shuffle unit") -> Cost:
        check_shuffle_shape(name, c_in, c_out, stride)
        proj, main = unit_layers(c_in, c_out, stride, kernel, xception)
        return _specs_cost(proj, res) + _specs_cost(main, res)


def _register_family() -> None:
    for name, kernel in SHUFFLE_OPS.items():
        kw = dict(kernel=kernel, xception=name == "shuffle_x", name=name)

        def factory(c_in, c_out, stride, _kw=kw):
            return ShuffleUnit(c_in, c_out, stride, **_kw)

        def cost(c_in, c_out, stride, res, _kw=kw):
            return ShuffleUnit.cost(c_in, c_out, stride, res, **_kw)

        desc = ("SPOS Xception-like ShuffleNetV2 unit: three depthwise 3x3 + pointwise pairs"
                if kw["xception"] else f"ShuffleNetV2 unit, {kernel}x{kernel} depthwise")
        def check(c_in, c_out, stride, _name=name):
            check_shuffle_shape(_name, c_in, c_out, stride)

        register_op(name, cost=cost, description=desc, check=check)(factory)


_register_family()
