"""graphnas: graph-centric one-shot neural architecture search on torch and PyTorch Geometric.

The pieces, in the order data flows through them::

    SearchSpace --sample/mutate--> Architecture (DAG) --compile--> Network
         '--> Supernet (shared weights) --train/estimate--> scores --search--> best / Pareto front
"""

from .space.architecture import Architecture, gray_bits, gray_encode, gray_widths
from .nets.compile import Network, compile
from .cost import Cost, arch_cost, count_module
from .errors import (ArchitectureError, ConstraintError, DataError, GraphnasError, OpError, RenderError,
                     SpaceError)
from .ops import NONE, get_op, op_names, register_op
from .space.registry import get_space, register_space, space_names
from .space.searchspace import BRANCH, STEM, Cell, ChoiceEdge, Fixed, Head, Node, SearchSpace, Stem, Template
from .nets.supernet import Supernet

__version__ = "0.1.0"

__all__ = [
    "Architecture", "SearchSpace", "Node", "ChoiceEdge", "Stem", "Head", "Cell", "Fixed", "STEM", "BRANCH", "NONE",
    "Template", "Network", "compile", "Supernet", "Cost", "arch_cost", "count_module", "gray_bits", "gray_encode",
    "gray_widths", "register_op", "get_op", "op_names", "register_space", "get_space", "space_names",
    "GraphnasError", "ArchitectureError", "SpaceError", "OpError", "ConstraintError", "DataError",
    "RenderError", "__version__",
]
