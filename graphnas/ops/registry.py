"""The operator registry: one name -> one way to build a module and to cost it.

An operator turns the feature map at an edge's source (``c_in`` channels) into one that can be
summed into the edge's target (``c_out`` channels, spatial size divided by ``stride``). Spaces refer
to operators by name; ``compile``, ``Supernet`` and the analytic cost model all look them up here,
so a custom operator registered once works everywhere.

Example::

    @register_op("conv_3x3", cost=lambda c_in, c_out, stride, res: conv_cost(c_in, c_out, 3, stride, res))
    def conv3x3(c_in, c_out, stride):
        return nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)

Weight sharing *within* an edge (SPOS's channel and mixed-precision search): operators that differ only
in a setting the weights can share (a width to slice, a bit width to quantise to) join a *family*.
:func:`register_family` registers ``build(c_in, c_out, stride, configs) -> module``, which allocates one
module large enough for every listed config and runs any of them as ``module(x, config)``; each member
op is registered with ``family=`` and its own hashable ``config``. The op's factory still builds its
standalone module (its own, smaller weights), whose state dict must be the leading slice
(``[:n0, :n1, ...]``) of the family module's, key by key. The :class:`~graphnas.nets.supernet.Supernet`
builds one family module per edge and family, runs candidate ``op`` through it with ``op``'s config,
and extracts by slicing. Operators without a family are unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

from torch import nn

from .primitives import Cost
from ..errors import OpError

__all__ = ["NONE", "OpSpec", "FamilySpec", "register_op", "register_family", "get_op", "get_family", "op_names",
           "family_names", "check_op_fits"]

#: The name of the absent operator: a branch edge that chooses it does not exist in the network.
NONE = "none"

Factory = Callable[[int, int, int], nn.Module]
CostFn = Callable[[int, int, int, int], Cost]
CheckFn = Callable[[int, int, int], None]
FamilyBuild = Callable[[int, int, int, Sequence[Hashable]], nn.Module]


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
        family (str, optional): the key of a registered :class:`FamilySpec` whose shared module can run
            this operator (see the module docstring); ``None`` (default): the op has its own weights.
        config (hashable, optional): what the family module needs to run this op (e.g. a width ratio and
            bit widths); passed to the family's ``build`` and to its module's ``forward(x, config)``.
    """

    name: str
    factory: Factory
    cost: CostFn | None = None
    same_channels: bool = False
    stride_one: bool = False
    description: str = ""
    check: CheckFn | None = None
    family: str | None = None
    config: Hashable = None

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


@dataclass(frozen=True)
class FamilySpec:
    """A family of operators that share one set of weights on an edge.

    Args:
        key (str): the family's name; the supernet's module for it is ``edges.e<i>.<key>``, so it must be a
            valid module name (no ``.``) and differ from every operator name.
        build (callable): ``build(c_in, c_out, stride, configs) -> nn.Module``: one module that can run every
            config in ``configs`` (the configs of the edge's candidates of this family, in candidate order) as
            ``module(x, config)``, with the input and output shapes of the standalone op.
        description (str): one line for listings.
    """

    key: str
    build: FamilyBuild
    description: str = ""


_REGISTRY: dict[str, OpSpec] = {}
_FAMILIES: dict[str, FamilySpec] = {}


def register_op(name: str, *, cost: CostFn | None = None, same_channels: bool = False,
                stride_one: bool = False, description: str = "", check: CheckFn | None = None,
                family: str | None = None, config: Hashable = None, overwrite: bool = False):
    """Decorator registering ``factory(c_in, c_out, stride) -> nn.Module`` under ``name``.

    The keyword arguments are the fields of :class:`OpSpec`; ``family`` must already be registered with
    :func:`register_family`, and ``config`` must be hashable.

    Registering a name twice is an error unless ``overwrite=True``, so two modules cannot silently
    fight over one name.
    """
    if name == NONE:
        raise OpError(f"'{NONE}' is reserved for an absent branch edge; choose another operator name")
    if name in _FAMILIES:
        raise OpError(f"'{name}' is the name of an operator family; choose another operator name")
    if family is not None:
        get_family(family)
        try:
            hash(config)
        except TypeError:
            raise OpError(f"operator '{name}': config {config!r} is not hashable; use a tuple or NamedTuple") from None

    def decorator(factory: Factory) -> Factory:
        if name in _REGISTRY and not overwrite:
            raise OpError(f"operator '{name}' is already registered; pass overwrite=True to replace it")
        _REGISTRY[name] = OpSpec(name, factory, cost, same_channels, stride_one,
                                 description or (factory.__doc__ or "").strip().split("\n")[0], check,
                                 family, config)
        return factory

    return decorator


def register_family(key: str, *, description: str = "", overwrite: bool = False):
    """Decorator registering ``build(c_in, c_out, stride, configs) -> nn.Module`` as family ``key``.

    Example::

        @register_family("my_conv_widths")
        def build(c_in, c_out, stride, configs):
            return SlicedConv(c_in, max(c.width for c in configs), stride)  # forward(x, config)

        register_op("my_conv_w8", family="my_conv_widths", config=Width(8))(lambda c_in, c_out, s: ...)
    """
    if not key or "." in key or key == NONE:
        raise OpError(f"family key {key!r} must be a non-empty module name without '.', not '{NONE}'")
    if key in _REGISTRY:
        raise OpError(f"'{key}' is already an operator name; give the family another key")

    def decorator(build: FamilyBuild) -> FamilyBuild:
        if key in _FAMILIES and not overwrite:
            raise OpError(f"operator family '{key}' is already registered; pass overwrite=True to replace it")
        _FAMILIES[key] = FamilySpec(key, build, description or (build.__doc__ or "").strip().split("\n")[0])
        return build

    return decorator


def _lookup(table: dict, key: str, what: str, listed: str, how: str):
    """``table[key]``, or an OpError naming the unknown ``what``, the registered keys and how to register one."""
    try:
        return table[key]
    except KeyError:
        raise OpError(f"unknown {what} '{key}'; registered {listed}: {', '.join(sorted(table)) or 'none'} "
                      f"({how})") from None


def get_family(key: str) -> FamilySpec:
    """Look up a registered operator family; the error lists the registered keys."""
    return _lookup(_FAMILIES, key, "operator family", "families", "register one with graphnas.ops.register_family before its operators")


def family_names() -> list[str]:
    """Keys of all registered operator families, sorted."""
    return sorted(_FAMILIES)


def get_op(name: str) -> OpSpec:
    """Look up a registered operator; the error lists the registered names."""
    return _lookup(_REGISTRY, name, "operator", "operators", "register new ones with graphnas.register_op")


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
