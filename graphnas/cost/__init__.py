"""Cost of architectures: closed-form MAdds/parameters, and a hook counter to check them against."""

from .count import count_module
from .model import arch_cost, edge_cost, head_cost, op_cost, stem_cost
from .primitives import Cost, bn_cost, conv_cost, linear_cost, out_resolution

__all__ = ["Cost", "arch_cost", "edge_cost", "op_cost", "stem_cost", "head_cost", "count_module",
           "conv_cost", "bn_cost", "linear_cost", "out_resolution"]
