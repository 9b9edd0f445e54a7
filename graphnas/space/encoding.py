"""Choice vectors <-> mixed-radix indices, many at once in int64: edge 0 is the most significant digit.

With radices ``r_0..r_{E-1}`` (candidates per choice edge) the index of choice vector ``c`` is
``(...(c_0 * r_1 + c_1) * r_2 + ...) * r_{E-1} + c_{E-1}``: numpy's ``ravel_multi_index`` over the
shape ``radices`` (C order), and ``unravel_index`` is its inverse. :func:`indices_of` and
:func:`choices_of` are :meth:`SearchSpace.index <graphnas.space.searchspace.SearchSpace.index>` and ``from_index``
for many architectures at once; the Hamming graph (:mod:`graphnas.predictor`) numbers its nodes
with them and a lookup table (:mod:`graphnas.lookup`) its rows.

``space`` is anything with ``radices`` (a :class:`~graphnas.space.searchspace.SearchSpace`) or the radices
themselves. A space with in-degree constraints ranks only its valid choice vectors (see
:mod:`graphnas.space.indegree`), so for it both functions go through ``space.index`` / ``space.from_index``
row by row. A space with more architectures than int64 holds is refused with one line
(:func:`size_of`); cut a subspace first.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArchitectureError, SpaceError

__all__ = ["size_of", "place_values", "indices_of", "choices_of"]

#: The largest index int64 holds.
INT64_MAX = int(np.iinfo(np.int64).max)


def _radices(space) -> np.ndarray:
    radices = np.asarray(space.radices if hasattr(space, "radices") else space)
    if radices.ndim != 1 or (radices.size and not np.issubdtype(radices.dtype, np.integer)) or (radices < 1).any():
        shown = " ".join(repr(space).split())
        raise SpaceError(f"radices must be a 1-D sequence of positive ints (candidates per edge), got "
                         f"{shown if len(shown) <= 80 else shown[:77] + '...'}")
    return radices.astype(np.int64)


def _what(space) -> str:
    if hasattr(space, "name"):
        return f"space '{space.name}'"
    r = _radices(space).tolist()
    return f"the space of radices {r}" if len(r) <= 8 else f"the space of {len(r)} radices {r[:8]}"[:-1] + ", ...]"


def _constrained(space) -> bool:
    return bool(getattr(space, "in_degree", None))


def size_of(space) -> int:
    """Number of indices of ``space`` (its ``size``; the product of the radices), checked to fit int64.

    Raises:
        SpaceError: more architectures than a 64-bit index holds (the message says to cut a subspace).
    """
    size = int(space.size) if _constrained(space) else math.prod(_radices(space).tolist())
    if size > INT64_MAX:
        raise SpaceError(f"{_what(space)} has {size:.3e} architectures, more than a 64-bit index holds; number a "
                         f"subspace of it instead (space.subspace(fixed=...))")
    return size


def place_values(radices) -> np.ndarray:
    """Place value of each digit: the product of the radices after it (``1`` for the last), as int64."""
    radices = _radices(radices)
    size_of(radices)
    out = np.ones(len(radices), dtype=np.int64)
    out[:-1] = np.cumprod(radices[:0:-1])[::-1]
    return out


def indices_of(space, choices) -> np.ndarray:
    """Mixed-radix indices ``(N,)`` int64 of choice vectors ``(N, E)`` (``SearchSpace.index`` for many).

    Args:
        space (SearchSpace or sequence of int): the space, or its radices.
        choices (array_like of int): one choice vector per row, ``0 <= c_i < r_i``.

    Raises:
        ArchitectureError: ``choices`` is not an ``(N, E)`` integer array within the radices, or (a space
            with in-degree constraints) a row breaks a constraint.
        SpaceError: the space is too large for int64 indices.
    """
    radices = _radices(space)
    size_of(space)
    c = np.asarray(choices)
    if c.ndim != 2 or c.shape[1] != len(radices) or (c.size and not np.issubdtype(c.dtype, np.integer)):
        raise ArchitectureError(f"choices must be an (N, {len(radices)}) integer array, one choice vector per row; "
                                f"got shape {c.shape} of {c.dtype}")
    c = c.astype(np.int64)
    bad = np.argwhere((c < 0) | (c >= radices))
    if len(bad):
        k, i = bad[0]
        raise ArchitectureError(f"choices row {k}: choice {c[k, i]} on edge {i} is outside 0..{radices[i] - 1}")
    if _constrained(space):
        return np.array([space.index(space.arch(row)) for row in c.tolist()], dtype=np.int64)
    if not len(radices):
        return np.zeros(len(c), np.int64)
    return np.ravel_multi_index(tuple(c.T), tuple(radices.tolist())).astype(np.int64)


def choices_of(space, indices) -> np.ndarray:
    """Choice vectors ``(N, E)`` int64 of mixed-radix ``indices`` ``(N,)`` (inverse of :func:`indices_of`).

    Args:
        space (SearchSpace or sequence of int): the space, or its radices.
        indices (array_like of int): indices in ``0..size-1``.

    Raises:
        ArchitectureError: an index that is not an integer in ``0..size-1``.
        SpaceError: the space is too large for int64 indices.
    """
    radices = _radices(space)
    size = size_of(space)
    idx = np.asarray(indices).reshape(-1)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ArchitectureError(f"indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = int(idx[(idx < 0) | (idx >= size)][0])
        raise ArchitectureError(f"index {bad} is outside {_what(space)} (0..{size - 1})")
    if _constrained(space):
        rows = [space.from_index(int(i)).choices for i in idx.tolist()]
        return np.array(rows, dtype=np.int64).reshape(-1, len(radices))
    if not len(radices):
        return np.zeros((len(idx), 0), np.int64)
    return np.stack(np.unravel_index(idx, tuple(radices.tolist())), axis=1).astype(np.int64)
