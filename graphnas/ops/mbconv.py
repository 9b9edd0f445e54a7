"""Linear bottleneck (MobileNetV2 inverted residual, "MBConv") operators, optionally with SE.

Registered names: ``mbconv_k{3,5,7}_e{1,3,4,6}`` and the same with an ``_se`` suffix, e.g.
``mbconv_k5_e4_se`` is a 5x5 depthwise bottleneck with expansion 4 and squeeze-excitation.

As in MobileNetV2's inverted residual, the operator adds its input to its output when it keeps
the shape (stride 1, ``c_in == c_out``). Without that shortcut a supernet of deep random paths did
not train at all on the laptop-scale ST-NAS space (training accuracy stayed at chance for 12 epochs
with SGD or Adam; with it, it rose steadily). Extra skip connections are still edges of the DAG
(``identity`` on a branch edge), so the topology search decides them.
"""

from __future__ import annotations

from torch import Tensor, nn

from .primitives import Cost, out_resolution
from .layers import ConvBNAct, SqueezeExcite
from .registry import register_op

__all__ = ["LinearBottleneck", "MBCONV_KERNELS", "MBCONV_EXPANSIONS", "mbconv_name"]

MBCONV_KERNELS = (3, 5, 7)
MBCONV_EXPANSIONS = (1, 3, 4, 6)


class LinearBottleneck(nn.Module):
    """1x1 expand (skipped when ``expand == 1``) -> kxk depthwise at ``stride`` -> [SE] -> 1x1 linear project,
    plus the input when the shape is kept (stride 1 and ``c_in == c_out``).

    Args:
        c_in (int): input channels.
        c_out (int): output channels.
        stride (int): depthwise stride (1, 2 or 4; any positive int works).
        kernel (int): depthwise kernel size (odd).
        expand (int): expansion ratio; the hidden width is ``c_in * expand``.
        se (bool, optional): add squeeze-excitation on the hidden features (default: ``False``).

    Shapes:
        input ``(N, c_in, H, W)``, output ``(N, c_out, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, *, kernel: int, expand: int, se: bool = False) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = ConvBNAct(c_in, hidden, 1) if expand != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)
        self.se = SqueezeExcite(hidden) if se else None
        self.project = ConvBNAct(hidden, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.residual else y

    @staticmethod
    def cost(c_in: int, c_out: int, stride: int, res: int, *, kernel: int, expand: int, se: bool = False) -> Cost:
        hidden = c_in * expand
        total = ConvBNAct.cost(c_in, hidden, 1, 1, res) if expand != 1 else Cost()
        total += ConvBNAct.cost(hidden, hidden, kernel, stride, res, groups=hidden)
        if se:
            total += SqueezeExcite.cost(hidden)
        return total + ConvBNAct.cost(hidden, c_out, 1, 1, out_resolution(res, stride))


def mbconv_name(kernel: int, expand: int, se: bool = False) -> str:
    """The registered name of a linear bottleneck, e.g. ``mbconv_name(3, 6, se=True) == 'mbconv_k3_e6_se'``."""
    return f"mbconv_k{kernel}_e{expand}" + ("_se" if se else "")


def _register_family() -> None:
    for kernel in MBCONV_KERNELS:
        for expand in MBCONV_EXPANSIONS:
            for se in (False, True):
                kw = dict(kernel=kernel, expand=expand, se=se)

                def factory(c_in, c_out, stride, _kw=kw):
                    return LinearBottleneck(c_in, c_out, stride, **_kw)

                def cost(c_in, c_out, stride, res, _kw=kw):
                    return LinearBottleneck.cost(c_in, c_out, stride, res, **_kw)

                register_op(mbconv_name(kernel, expand, se), cost=cost,
                            description=f"linear bottleneck, {kernel}x{kernel} depthwise, expansion {expand}"
                                        + (", squeeze-excitation" if se else ""))(factory)


_register_family()
