"""Vectorised mixed-radix numbering of choice vectors in int64: edge 0 is the most significant digit.

``SearchSpace.index`` / ``from_index`` number one architecture with Python ints (any size); these
number many at once with numpy, for the Hamming graph (:mod:`graphnas.predictor`) and lookup tables
(:mod:`graphnas.lookup`). Callers check that the space's size fits int64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["place_values", "decode", "encode"]


def place_values(radices) -> np.ndarray:
    """Place value of each digit: the product of the radices after it (``1`` for the last), as int64."""
    radices = np.asarray(radices, dtype=np.int64)
    out = np.ones(len(radices), dtype=np.int64)
    for i in range(len(radices) - 2, -1, -1):
        out[i] = out[i + 1] * radices[i + 1]
    return out


def decode(radices, ids) -> np.ndarray:
    """Choice vectors ``(N, E)`` of mixed-radix numbers ``ids`` ``(N,)``."""
    radices = np.asarray(radices, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    return (ids[:, None] // place_values(radices)[None, :]) % radices[None, :]


def encode(radices, choices) -> np.ndarray:
    """Mixed-radix numbers ``(N,)`` of choice vectors ``(N, E)``."""
    return np.asarray(choices, dtype=np.int64) @ place_values(radices)
