"""Operators: the registry and the built-in operator families (imported for their registrations)."""

from . import basic, mbconv, nb201, pcnas, shufflenet  # noqa: F401  (register the built-in operators)
from .layers import ConvBNAct, SqueezeExcite
from .mbconv import LinearBottleneck, mbconv_name
from .registry import NONE, OpSpec, check_op_fits, get_op, op_names, register_op

__all__ = ["NONE", "OpSpec", "register_op", "get_op", "op_names", "check_op_fits", "ConvBNAct",
           "SqueezeExcite", "LinearBottleneck", "mbconv_name"]
