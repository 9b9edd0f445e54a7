"""Choice vectors <-> mixed-radix row keys of a lookup table, and architecture hashes in bulk."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LookupTableError
from ..mixed_radix import decode, encode

if TYPE_CHECKING:
    from ..space import SearchSpace

__all__ = ["check_int64", "choices_of", "indices_of", "arch_hashes", "hashes_of"]


def check_int64(space: "SearchSpace") -> None:
    if space.size > np.iinfo(np.int64).max:
        raise LookupTableError(f"space '{space.name}' has {space.size:.3e} architectures, more than a 64-bit index "
                               f"holds; build the lookup table for a subspace (space.subspace(fixed=...))")


def choices_of(space: "SearchSpace", indices: np.ndarray) -> np.ndarray:
    """Choice vectors ``(N, E)`` of the architectures at mixed-radix ``indices`` (``SearchSpace.from_index``)."""
    indices = np.asarray(indices, dtype=np.int64)
    if space.in_degree:
        rows = [space.from_index(int(i)).choices for i in indices]
        return np.array(rows, dtype=np.int64).reshape(-1, space.num_edges)
    check_int64(space)
    return decode(space.radices, indices)


def indices_of(space: "SearchSpace", choices: np.ndarray) -> np.ndarray:
    """Mixed-radix indices ``(N,)`` of choice vectors ``(N, E)`` (``SearchSpace.index``), as int64."""
    choices = np.asarray(choices, dtype=np.int64)
    if space.in_degree:
        return np.array([space.index(space.arch(c.tolist())) for c in choices], dtype=np.int64)
    check_int64(space)
    return encode(space.radices, choices)


def arch_hashes(space: "SearchSpace", choices: np.ndarray) -> list[str]:
    """``Architecture.hash`` of every choice vector in ``choices`` (``(N, E)``), without building architectures."""
    return hashes_of(space.fingerprint, [e.candidates for e in space.edges], choices)


def hashes_of(fingerprint: str, candidates, choices) -> list[str]:
    """``Architecture.hash`` of choice vectors ``(N, E)`` from a space's fingerprint and candidates per edge alone.

    The hash is the SHA-256 of ``json.dumps([fingerprint, ops])`` (see :attr:`Architecture.hash`); the
    JSON text is assembled from per-candidate pieces encoded once. A lookup table checks its rows with
    the fingerprint and candidates of its meta, without its space.
    """
    head = "[" + json.dumps(fingerprint) + ", ["
    enc = [[json.dumps(op) for op in c] for c in candidates]
    sha = hashlib.sha256
    return [sha((head + ", ".join([enc[i][c] for i, c in enumerate(row)]) + "]]").encode()).hexdigest()[:16]
            for row in np.asarray(choices).tolist()]
