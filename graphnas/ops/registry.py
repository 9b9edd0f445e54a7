"""The operator registry: one name -> one way to build a module and to cost it.

An operator turns the feature map at an edge's source (``c_in`` channels) into one that can be
summed into the edge's target (``c_out`` channels, spatial size divided by ``stride``). Spaces refer
to operators by name; ``compile``, ``Supernet`` and the analytic cost model all look them up here,
so a custom operator registered once works everywhere.

Example::

    @register_op("conv_3x3", cost=lambda c_in, c_out, stride, res: conv_cost(c_in, c_out, 3, stride, res))
    def conv3x3(c_in, c_out, stride):
        return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..cost.primitives import Cost
from ..errors import OpError

__all__ = ["NONE", "OpSpec", "register_op", "get_op", "op_names", "check_op_fits"]

#: The name of the absent operator: a branch edge that chooses it does not exist in the network.
NONE = "none"

Factory = Callable[[int, int, int], nn.Module]
CostFn = Callable[[int, int, int, int], Cost]
CheckFn = Callable[[int, int, int], None]


@dataclass(frozen=True)
class OpSpec:
    """A registered operator.

    Args:
        name (str): the name spaces use.
        factory (callable): ``factory(c_in, c_out, stride) -> nn.Module``.
        cost (callable, optional): ``cost(c_in, c_out, stride, res) -> Cost`` in closed form, for an
            input of ``res`` x ``res``. Without it graphnas counts one instance of the module with
            forward hooks, once per distinct shape (see :mod:`graphnas.cost.model`).
        same_channels (bool): the operator cannot change the channel count (identity, pooling).
        stride_one (bool): the operator cannot change the resolution (identity).
        check (callable, optional): ``check(c_in, c_out, stride)`` raising :class:`OpError` with its own
            message for shape rules the two flags cannot say (a ShuffleNet unit at stride 1 needs equal,
            even widths); :meth:`fits`, spaces' ``drop_unfit`` and ``compile`` all honour it.
    """

    name: str
    factory: Factory
    cost: CostFn | None = None
    same_channels: bool = False
    stride_one: bool = False
    description: str = ""
    check: CheckFn | None = None

    def fits(self, c_in: int, c_out: int, stride: int) -> bool:
        """Whether this operator can join a (c_in, stride) source to a c_out target."""
        if self.same_channels and c_in != c_out:
            return False
        if self.stride_one and stride != 1:
            return False
        if self.check is not None:
            try:
                self.check(c_in, c_out, stride)
            except OpError:
                return False
        return True


_REGISTRY: dict[str, OpSpec] = {}


def register_op(name: str, *, cost: CostFn | None = None, same_channels: bool = False,
                stride_one: bool = False, description: str = "", check: CheckFn | None = None,
                overwrite: bool = False):
    """Decorator registering ``factory(c_in, c_out, stride) -> nn.Module`` under ``name``.

    The keyword arguments are the fields of :class:`OpSpec`.

    Registering a name twice is an error unless ``overwrite=True``, so two modules cannot silently
    fight over one name.
    """
    if name == NONE:
        raise OpError(f"'{NONE}' is reserved for an absent branch edge; choose another operator name")

    def decorator(factory: Factory) -> Factory:
        if name in _REGISTRY and not overwrite:
            raise OpError(f"operator '{name}' is already registered; pass overwrite=True to replace it")
        _REGISTRY[name] = OpSpec(name, factory, cost, same_channels, stride_one,
                                 description or (factory.__doc__ or "").strip().split("\n")[0], check)
        return factory

    return decorator


def get_op(name: str) -> OpSpec:
    """Look up a registered operator; the error lists the registered names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise OpError(f"unknown operator '{name}'; registered operators: {', '.join(sorted(_REGISTRY))} "
                      f"(register new ones with graphnas.register_op)") from None


def op_names() -> list[str]:
    """Names of all registered operators, sorted."""
    return sorted(_REGISTRY)


def check_op_fits(name: str, c_in: int, c_out: int, stride: int) -> None:
    """Raise :class:`OpError` if operator ``name`` cannot join these shapes ('none' always fits)."""
    if name == NONE:
        return
    spec = get_op(name)
    if spec.fits(c_in, c_out, stride):
        return
    flags_ok = not (spec.same_channels and c_in != c_out) and not (spec.stride_one and stride != 1)
    if flags_ok and spec.check is not None:
        spec.check(c_in, c_out, stride)  # raises OpError with the operator's own explanation
    raise OpError(f"operator '{name}' cannot map {c_in} channels at stride {stride} to {c_out} "
                  f"channels (it keeps {'channels' if spec.same_channels else ''}"
                  f"{' and ' if spec.same_channels and spec.stride_one else ''}"
                  f"{'resolution' if spec.stride_one else ''}); offer it only on edges whose ends match")
