"""Analytic cost of architectures: MAdds and parameters summed over the DAG, without running it.

``arch_cost(arch) = stem + sum(op cost of each live edge) + head``. Each operator's cost comes from
its closed form in the registry; an operator registered without one is counted once per distinct
shape with :func:`~graphnas.cost.count.count_module` and cached. Costs are for the space's
configured scale and one input sample.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ..ops.registry import get_op
from ..ops.stemhead import HeadBlock, StemBlock
from .count import count_module
from .primitives import Cost

if TYPE_CHECKING:
    from ..arch import Architecture
    from ..space import SearchSpace

__all__ = ["op_cost", "edge_cost", "stem_cost", "head_cost", "arch_cost"]


def op_cost(op: str, c_in: int, c_out: int, stride: int, res: int) -> Cost:
    """Cost of operator ``op`` joining ``c_in`` channels at ``res`` x ``res`` to ``c_out`` channels."""
    return _spec_cost(get_op(op), c_in, c_out, stride, res)


@lru_cache(maxsize=65536)
def _spec_cost(spec, c_in: int, c_out: int, stride: int, res: int) -> Cost:
    # Keyed by the OpSpec itself, so re-registering a name with overwrite=True is never served stale.
    if spec.cost is not None:
        return spec.cost(c_in, c_out, stride, res)
    return count_module(spec.factory(c_in, c_out, stride), (c_in, res, res))


def edge_cost(space: "SearchSpace", i: int, op: str) -> Cost:
    """Cost of choosing ``op`` on choice edge ``i`` of ``space``."""
    e = space.edges[i]
    src, dst = space.nodes[e.src], space.nodes[e.dst]
    return op_cost(op, src.channels, dst.channels, space.stride(i), src.resolution)


def stem_cost(space: "SearchSpace") -> Cost:
    """Cost of the stem (input image -> node 0)."""
    c, h, _ = space.input_shape
    return StemBlock.cost(c, space.stem.channels, space.nodes[0].channels, space.stem.stride, h)


def head_cost(space: "SearchSpace") -> Cost:
    """Cost of the head (last node -> logits)."""
    last = space.nodes[-1]
    return HeadBlock.cost(last.channels, space.head.channels, space.num_classes, last.resolution)


def arch_cost(arch: "Architecture") -> Cost:
    """MAdds and parameters of ``arch`` at its space's scale (live edges only, plus stem and head).

    >>> # cost = arch_cost(space.sample(0)); cost.madds, cost.params
    """
    space = arch.space
    total = stem_cost(space) + head_cost(space)
    for i in arch.live_edges:
        total += edge_cost(space, i, arch.ops[i])
    return total
