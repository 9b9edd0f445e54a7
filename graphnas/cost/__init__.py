"""Cost of architectures: closed-form MAdds/parameters, and a hook counter to check them against.

The :class:`Cost` type and per-layer formulas live with the operators (:mod:`graphnas.ops.primitives`:
operators cost themselves, and ``ops`` never imports ``cost``) and are re-exported here; the model sums
them over an architecture's live edges, the counter checks them against a built module.
"""

from ..ops.primitives import Cost, bn_cost, conv_cost, linear_cost, out_resolution
from .count import count_module
from .model import arch_cost, edge_cost, extreme_archs, fixed_costs, head_cost, op_cost, stem_cost

__all__ = ["Cost", "conv_cost", "bn_cost", "linear_cost", "out_resolution", "arch_cost", "edge_cost", "op_cost",
           "stem_cost", "head_cost", "fixed_costs", "extreme_archs", "count_module"]
