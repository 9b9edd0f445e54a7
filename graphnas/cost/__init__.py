"""Cost of architectures: closed-form MAdds/parameters, and a hook counter to check them against.

``primitives`` (the :class:`Cost` type and per-layer formulas) is imported eagerly because the
operators use it; the model and the counter, which need spaces and operators, load on first use
(PEP 562), so importing an operator module never imports the whole package.
"""

from importlib import import_module

from .primitives import Cost, bn_cost, conv_cost, linear_cost, out_resolution

_LAZY = {"arch_cost": "model", "edge_cost": "model", "op_cost": "model", "stem_cost": "model",
         "head_cost": "model", "fixed_costs": "model", "extreme_archs": "model", "count_module": "count"}

__all__ = ["Cost", "conv_cost", "bn_cost", "linear_cost", "out_resolution", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
