"""Count the cost of a built module by running it once with forward hooks.

This is the reference the analytic model (:mod:`graphnas.cost.model`) is tested against, and
the fallback for custom operators registered without a closed-form cost. It follows the same
convention (see :mod:`graphnas.cost.primitives`): multiply-adds of ``Conv2d`` and ``Linear``
layers only, parameters of every learnable tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from .primitives import Cost

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

    def hook(mod, inputs, output):
        nonlocal madds
        if isinstance(mod, nn.Conv2d):
            per_out = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            madds += per_out * output[0].numel()
        elif isinstance(mod, nn.Linear):
            madds += mod.in_features * mod.out_features * (output.numel() // output.shape[-1]) // output.shape[0]
        for p in mod.parameters(recurse=False):
            used[id(p)] = p

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(torch.zeros(1, *input_shape), *args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    params = used.values() if args or kwargs else module.parameters()
    return Cost(madds=int(madds), params=int(sum(p.numel() for p in params)))
