"""The extra operators of PC-NAS's large space: NConv, DConv and RConv (10 operators).

PC-NAS (Li et al., "Improving One-shot NAS by Suppressing the Posterior Fading", CVPR 2020) grows
its 10-choice small space (MBConv kernel 3/5/7 x expansion 1/3/6, plus identity) to 20 choices per
block with normal, dilated and residual convolutions (NConv, DConv, RConv). The paper's exact layer
recipes could not be consulted when this module was written, so the definitions below are graphnas's
own, chosen to be the plain textbook form of each family:

    name        layers                                                         shortcut
    nconv_k{k}  kxk dense conv (stride) -> BN -> ReLU6; k = 1, 3, 5, 7          none
    dconv_k{k}  kxk depthwise conv with dilation 2 (stride) -> BN -> ReLU6      the input, when stride 1
                -> 1x1 conv -> BN; k = 3, 5, 7                                  and c_in == c_out
    rconv_k{k}  ResNet bottleneck: 1x1 to m -> BN -> ReLU6 -> kxk (stride)      the input, or a 1x1 conv
                -> BN -> ReLU6 -> 1x1 to c_out -> BN, + shortcut, then ReLU6;   (stride) + BN of it when
                m = make_divisible(c_out / 4); k = 3, 5, 7                      the shape changes

``nconv_k1`` is the tenth operator, which makes 10 + 10 = 20 choices per block. DConv follows the
MBConv convention (its output is linear, so it adds its input when stride is 1 and ``c_in == c_out``);
NConv is a plain layer, ending in an activation; RConv is a residual block by definition.

Costs are in closed form under graphnas's convention (multiply-adds of conv/linear layers only;
parameters of every learnable tensor, BN affine included). Dilation changes neither: a dilated
kxk kernel has k*k weights per output and 'same' padding ``dilation * (k // 2)``.

Importing this module registers the operators; :func:`register` does it again (idempotently) if a
test swapped the registry in between.
"""

from __future__ import annotations

from torch import Tensor, nn

from .primitives import Cost, bn_cost, conv_cost, out_resolution
from ..utils import make_divisible
from .layers import ConvBNAct
from . import registry as _registry
from .registry import register_op

__all__ = ["NConv", "DConv", "RConv", "NCONV_KERNELS", "DCONV_KERNELS", "RCONV_KERNELS", "DILATION",
           "PCNAS_EXTRA_OPS", "register"]

NCONV_KERNELS = (1, 3, 5, 7)
DCONV_KERNELS = (3, 5, 7)
RCONV_KERNELS = (3, 5, 7)
#: Dilation of DConv's depthwise kernel.
DILATION = 2


class NConv(nn.Module):
    """Normal convolution: kxk dense conv at ``stride`` -> BN -> ReLU6 (no shortcut).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(c_in, c_out, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, kernel: int) -> Cost:
        return ConvBNAct.cost(c_in, c_out, kernel, stride, res)


class DConv(nn.Module):
    """Dilated depthwise-separable convolution: kxk depthwise (dilation 2, ``stride``) -> BN -> ReLU6 ->
    1x1 conv -> BN, plus the input when the shape is kept (stride 1 and ``c_in == c_out``).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int, dilation: int = DILATION) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(c_in, c_in, kernel, stride, dilation * (kernel // 2), dilation=dilation, groups=c_in,
                      bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU6(inplace=True),
        )
        self.project = ConvBNAct(c_in, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.project(self.depthwise(x))
        return y + x if self.residual else y

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, kernel: int) -> Cost:
        return (conv_cost(c_in, c_in, kernel, stride, res, groups=c_in) + bn_cost(c_in)
                + ConvBNAct.cost(c_in, c_out, 1, 1, out_resolution(res, stride)))


class RConv(nn.Module):
    """Residual convolution (ResNet bottleneck): 1x1 to ``m`` -> kxk at ``stride`` -> 1x1 to ``c_out`` (BN
    after each, ReLU6 after the first two), plus the input (or a 1x1 conv + BN projection of it when the
    shape changes), then ReLU6. The bottleneck width is ``m = make_divisible(c_out / 4)``.

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int) -> None:
        super().__init__()
        mid = self.bottleneck(c_out)
        self.reduce = ConvBNAct(c_in, mid, 1)
        self.conv = ConvBNAct(mid, mid, kernel, stride)
        self.expand = ConvBNAct(mid, c_out, 1, act=False)
        self.shortcut = None if stride == 1 and c_in == c_out else ConvBNAct(c_in, c_out, 1, stride, act=False)
        self.act = nn.ReLU6(inplace=True)

    @staticmethod
    def bottleneck(c_out: int) -> int:
        return make_divisible(c_out / 4)

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(self.conv(self.reduce(x)))
        return self.act(y + (x if self.shortcut is None else self.shortcut(x)))

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, kernel: int) -> Cost:
        mid = RConv.bottleneck(c_out)
        r = out_resolution(res, stride)
        total = (ConvBNAct.cost(c_in, mid, 1, 1, res) + ConvBNAct.cost(mid, mid, kernel, stride, res)
                 + ConvBNAct.cost(mid, c_out, 1, 1, r))
        if not (stride == 1 and c_in == c_out):
            total += ConvBNAct.cost(c_in, c_out, 1, stride, res)
        return total


_FAMILIES = (
    ("nconv", NConv, NCONV_KERNELS, "normal conv {k}x{k} -> BN -> ReLU6"),
    ("dconv", DConv, DCONV_KERNELS, "dilated (x2) depthwise-separable conv {k}x{k}"),
    ("rconv", RConv, RCONV_KERNELS, "residual bottleneck with a {k}x{k} conv"),
)

#: The 10 operator names, in the order the large space lists them.
PCNAS_EXTRA_OPS = tuple(f"{prefix}_k{k}" for prefix, _, kernels, _ in _FAMILIES for k in kernels)


def _make(cls, kernel):
    def factory(c_in, c_out, stride):
        return cls(c_in, c_out, stride, kernel=kernel)

    def cost(c_in, c_out, stride, res):
        return cls.cost(c_in, c_out, stride, res, kernel=kernel)

    return factory, cost


_SPECS = {f"{prefix}_k{k}": (*_make(cls, k), text.format(k=k))
          for prefix, cls, kernels, text in _FAMILIES for k in kernels}


def register() -> None:
    """Register the 10 operators (those already registered by this module are left alone).

    A name taken by another module's operator raises :class:`~graphnas.errors.OpError`.
    """
    for name, (factory, cost, text) in _SPECS.items():
        current = _registry._REGISTRY.get(name)
        if current is not None and current.factory is factory:
            continue
        register_op(name, cost=cost, description=text)(factory)


register()
