"""Samplers: which architecture the supernet trains on at each step.

A sampler is any callable ``sampler(rng) -> Architecture`` taking a numpy Generator. Training draws
one path per step from it. Samplers only choose; they never touch the supernet.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .arch import Architecture

__all__ = ["Sampler", "UniformSampler"]

Sampler = Callable[[np.random.Generator], Architecture]


class UniformSampler:
    """Uniform single-path sampling (SPOS): every choice independent and uniform.

    Args:
        space (SearchSpace): the space to sample from.
    """

    def __init__(self, space) -> None:
        self.space = space

    def __call__(self, rng: np.random.Generator) -> Architecture:
        return self.space.sample(rng)

    def __repr__(self) -> str:
        return f"UniformSampler(space={self.space.name!r})"
