"""Operators: the registry and the built-in operator families (imported for their registrations)."""

from . import basic, darts, mbconv, nb201, pcnas, shufflenet  # noqa: F401  (register the built-in operators)
from . import resnet_quant, shuffle_channels  # noqa: F401  (shared-weight families: SPOS channels, bits)
from .layers import ConvBNAct, SqueezeExcite
from .mbconv import LinearBottleneck, mbconv_name
from .registry import (NONE, FamilySpec, OpSpec, check_op_fits, family_names, get_family, get_op, op_names,
                       register_family, register_op)

__all__ = ["NONE", "OpSpec", "register_op", "get_op", "op_names", "check_op_fits", "FamilySpec", "register_family",
           "get_family", "family_names", "ConvBNAct",
           "SqueezeExcite", "LinearBottleneck", "mbconv_name"]
