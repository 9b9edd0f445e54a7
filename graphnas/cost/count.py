"""Count the cost of a built module by running it once with forward hooks.

This is the reference the analytic model (:mod:`graphnas.cost.model`) is tested against, and
the fallback for custom operators registered without a closed-form cost. It follows the same
convention (see :mod:`graphnas.ops.primitives`): multiply-adds of ``Conv2d`` and ``Linear``
layers only, parameters of every learnable tensor.

A layer that runs on a slice of its weights or counts BitOps (:mod:`graphnas.ops.slim`,
:mod:`graphnas.ops.quant`) defines ``counted_cost(args, kwargs, output) -> Cost``: the cost of that
call (its forward arguments and output, batch included in the tensors) for its *own* parameters
(not its children's), divided per sample. The counter uses it instead of the rules above, so a
supernet path counts the slices it uses, not the whole shared tensors.
"""

from __future__ import annotations

import torch
from torch import nn

from ..ops.primitives import Cost

__all__ = ["count_module"]


def count_module(module: nn.Module, input_shape: tuple[int, ...], *args, **kwargs) -> Cost:
    """Multiply-adds per sample and parameters of ``module`` on one input of ``input_shape`` (no batch dim).

    Extra ``args``/``kwargs`` are passed to ``forward`` (e.g. the architecture of a supernet).
    Only parameters of layers that ran are counted when ``args`` are given, so a supernet counts
    the chosen path; otherwise all parameters of ``module`` are counted.

    Shapes:
        ``input_shape``: ``(C, H, W)``; the module runs on a batch of 1 in eval mode.
    """
    madds = 0
    used: dict[int, nn.Parameter] = {}
    own: dict[int, Cost] = {}  # modules with counted_cost: what they used, by module

    def hook(mod, inputs, kwargs, output):
        nonlocal madds
        counted = getattr(mod, "counted_cost", None)
        if counted is not None:
            cost = counted(inputs, kwargs, output)
            madds += cost.madds
            prev = own.get(id(mod))
            own[id(mod)] = cost if prev is None else Cost(0, max(prev.params, cost.params), prev.bitops + cost.bitops)
            return
        if isinstance(mod, nn.Conv2d):
            per_out = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            madds += per_out * output[0].numel()
        elif isinstance(mod, nn.Linear):
            madds += mod.in_features * mod.out_features * (output.numel() // output.shape[-1]) // output.shape[0]
        for p in mod.parameters(recurse=False):
            used[id(p)] = p

    handles = [m.register_forward_hook(hook, with_kwargs=True) for m in module.modules()]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(torch.zeros(1, *input_shape), *args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    bitops = sum(c.bitops for c in own.values())
    if args or kwargs:
        params = sum(p.numel() for p in used.values()) + sum(c.params for c in own.values())
    else:
        params = sum(p.numel() for p in module.parameters())
    return Cost(madds=int(madds), params=int(params), bitops=int(bitops))
