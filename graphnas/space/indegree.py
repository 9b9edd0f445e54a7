"""In-degree constraints: count, rank, unrank and sample the choices of edges that enter one node together.

A space may require that a node keeps exactly ``k`` present (non-``none``) incoming choice edges,
as a DARTS cell node keeps exactly two inputs. The choices of those edges are then not
independent: they form one *group* whose valid configurations are ranked together. Every other
choice edge is a group of its own (one edge, all its candidates valid).

The valid configurations of a group are ordered lexicographically by the group's choice
sub-vector (edges in choice-vector order), so a space's :meth:`~graphnas.space.searchspace.SearchSpace.index`
is a mixed-radix number with one digit per group, most significant first. Counting uses the table
``f[p][r]`` = number of ways edges ``p..n-1`` of the group can have exactly ``r`` present::

    f[n][0] = 1,  f[n][r > 0] = 0
    f[p][r] = offers_none[p] * f[p + 1][r] + real_ops[p] * f[p + 1][r - 1]

so a group's size is ``f[0][k]``: the sum over k-subsets of its edges of the product of their
real-operator counts (edges without ``none`` must be in the subset). These are pure functions
over :class:`Group`; :class:`~graphnas.space.searchspace.SearchSpace` builds the groups once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["Group", "make_group", "rank", "unrank", "present_count", "uniform_int", "mutate_edge"]


@dataclass(frozen=True)
class Group:
    """The edges whose choices are ranked together.

    Args:
        node (int or None): the constrained node, or ``None`` for a free (unconstrained) edge.
        edges (tuple of int): choice-vector positions, increasing.
        k (int or None): the required number of present edges (``None`` for a free edge).
        is_none (tuple of tuple of bool): per edge, per candidate: whether it is ``none``.
        size (int): number of valid configurations.
    """

    node: int | None
    edges: tuple[int, ...]
    k: int | None
    is_none: tuple[tuple[bool, ...], ...]
    size: int
    table: tuple[tuple[int, ...], ...] = field(default=(), repr=False)


def make_group(node: int | None, edges: Sequence[int], k: int | None,
               is_none: Sequence[Sequence[bool]]) -> Group:
    """Build a group and its completion table (see the module docstring)."""
    is_none = tuple(tuple(bool(b) for b in flags) for flags in is_none)
    if k is None:
        return Group(None, tuple(edges), None, is_none, len(is_none[0]))
    n = len(edges)
    f = [[0] * (k + 1) for _ in range(n + 1)]
    f[n][0] = 1
    for p in range(n - 1, -1, -1):
        nones = sum(is_none[p])
        reals = len(is_none[p]) - nones
        for r in range(k + 1):
            f[p][r] = nones * f[p + 1][r] + (reals * f[p + 1][r - 1] if r else 0)
    return Group(node, tuple(edges), k, is_none, f[0][k], tuple(tuple(row) for row in f))


def _count(group: Group, p: int, r: int, none: bool) -> int:
    """Completions of edges ``p+1..`` after edge ``p`` takes a candidate (``none`` or not), ``r`` still needed."""
    if none:
        return group.table[p + 1][r]
    return group.table[p + 1][r - 1] if r > 0 else 0


def present_count(group: Group, sub: Sequence[int]) -> int:
    """Number of present (non-``none``) edges in the group's choice sub-vector ``sub``."""
    return sum(not flags[c] for flags, c in zip(group.is_none, sub))


def rank(group: Group, sub: Sequence[int]) -> int:
    """Lexicographic rank of a valid sub-vector among the group's valid configurations."""
    if group.k is None:
        return int(sub[0])
    idx, r = 0, group.k
    for p, (flags, c) in enumerate(zip(group.is_none, sub)):
        for smaller in range(c):
            idx += _count(group, p, r, flags[smaller])
        r -= 0 if flags[c] else 1
    return idx


def unrank(group: Group, idx: int) -> tuple[int, ...]:
    """Inverse of :func:`rank`: the group's choice sub-vector of rank ``idx`` (``0 <= idx < size``)."""
    if group.k is None:
        return (int(idx),)
    out, r = [], group.k
    for p, flags in enumerate(group.is_none):
        for c, none in enumerate(flags):
            n = _count(group, p, r, none)
            if idx < n:
                out.append(c)
                r -= 0 if none else 1
                break
            idx -= n
    return tuple(out)


def uniform_int(rng: np.random.Generator, n: int) -> int:
    """A uniform integer in ``0..n-1`` for any Python int ``n`` (exact, by rejection above 2^62)."""
    if n <= 1 << 62:
        return int(rng.integers(n))
    bits = (n - 1).bit_length()
    while True:
        value = 0
        for shift in range(0, bits, 62):
            value |= int(rng.integers(1 << 62)) << shift
        value &= (1 << bits) - 1
        if value < n:
            return value


def mutate_edge(group: Group, choices, i: int, candidates: Sequence[Sequence[str]],
                rng: np.random.Generator) -> tuple[int, ...]:
    """Mutate edge ``i`` of a constrained group in ``choices`` (in place), keeping the group's present count.

    A present edge changes its operator or (with probability 1/2, or when it has no other operator) hands
    it to an absent edge of the group; an absent edge takes over from a random present one. An operator
    the receiving edge does not offer becomes a random one of its own.

    Args:
        group (Group): the constrained group holding edge ``i``.
        choices (array of int): the full choice vector, changed in place.
        i (int): the choice-vector position that was hit.
        candidates (sequence of sequence of str): the operator names of each of the group's edges.
        rng (numpy Generator): randomness.

    Returns:
        The positions that changed (none, one, or the two edges of a move).
    """
    flags = dict(zip(group.edges, group.is_none))
    names = dict(zip(group.edges, candidates))
    reals = {j: [c for c, none in enumerate(flags[j]) if not none] for j in group.edges}
    nones = {j: [c for c, none in enumerate(flags[j]) if none] for j in group.edges}
    present = [j for j in group.edges if not flags[j][choices[j]]]
    if i in present:
        others = [c for c in reals[i] if c != choices[i]]
        free = [j for j in group.edges if j not in present and reals[j]] if nones[i] else []
        if others and (not free or rng.random() < 0.5):
            choices[i] = others[rng.integers(len(others))]
            return (i,)
        if not free:
            return ()
        src, dst = i, free[rng.integers(len(free))]
    else:
        movable = [j for j in present if nones[j]]
        if not reals[i] or not movable:
            return ()
        src, dst = movable[rng.integers(len(movable))], i
    op = names[src][choices[src]]
    fallback = reals[dst][rng.integers(len(reals[dst]))]
    choices[dst] = names[dst].index(op) if op in names[dst] else fallback
    choices[src] = nones[src][0]
    return (src, dst)
