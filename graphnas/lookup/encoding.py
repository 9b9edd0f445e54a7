"""Architecture hashes of many choice vectors at once, without building architectures.

Row keys (mixed-radix indices) and choice vectors convert with :mod:`graphnas.space.encoding`.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..space.searchspace import SearchSpace

__all__ = ["arch_hashes", "hashes_of"]


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
