"""Architectures chosen to spread accuracy: the candidates a ranking ground truth is drawn from.

Uniform samples of a topology space look alike: in the ST-NAS space a random architecture keeps about
nine in ten branch edges and a conv on most stem edges, so 16 of them trained on Fashion-MNIST spanned
1.2 accuracy points with neighbours 0.08 points apart, below the seed noise (BENCHMARKS.md, issue 5's
ground truth). A ground truth that ranks needs architectures that differ in what sets accuracy: depth
(how many stem edges carry a conv instead of ``identity``), topology (how many branch edges are
present) and operator size. :func:`designed_archs` draws each architecture from a biased sampler whose
three knobs are placed by a scrambled Sobol sequence over the unit cube, corners included, so the
candidates cover shallow and deep, chain and dense, small and large operators evenly.

:func:`pick_spread` then keeps the ``k`` candidates whose measured accuracy (a pilot's) lies closest to
``k`` evenly spaced targets over the measured range: the neighbour gaps of the kept set are as even as
the candidates allow, which is what a ground truth needs to be ranked above its seed noise.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import EstimatorError
from ..ops.registry import NONE

__all__ = ["KNOBS", "design_choices", "designed_archs", "pick_spread"]

#: The sampler's knobs, each in [0, 1]: P(conv on a stem edge that allows ``identity``), P(branch edge
#: present), P(the largest operator, against the smallest, where an edge picks a conv), in this order.
KNOBS = ("depth", "branches", "op_size")
IDENTITY = "identity"


def _op_order(space, i: int) -> list[int]:
    """Candidate indices of edge ``i`` that are operators (not ``none``, not ``identity``), cheapest first."""
    from ..cost.model import cost_table

    table = cost_table(space)
    cands = space.edges[i].candidates
    ops = [j for j, op in enumerate(cands) if op not in (NONE, IDENTITY)]
    return sorted(ops, key=lambda j: (int(table.edges[i][j].madds), j))


def design_choices(space, knobs: Sequence[float], rng: np.random.Generator) -> list[int]:
    """One choice vector drawn with the three :data:`KNOBS`.

    A stem edge that allows ``identity`` carries a conv with probability ``depth`` (else ``identity``); a
    branch edge is present with probability ``branches``, and a present one that allows ``identity`` is
    ``identity`` with probability 1/3; an edge that carries a conv picks the most expensive operator with
    probability ``op_size`` and the cheapest otherwise (intermediate ones, in spaces that have them, by the
    knob's quantile). Spaces without branch edges ignore ``branches``.
    """
    depth, branches, op_size = (float(k) for k in knobs)
    choices = []
    for i, edge in enumerate(space.edges):
        cands = edge.candidates
        ops = _op_order(space, i)
        if not ops:  # only none/identity on this edge
            choices.append(int(rng.integers(len(cands))))
            continue
        conv = ops[-1] if rng.random() < op_size else ops[0]
        if len(ops) > 2:
            conv = ops[int(np.clip(np.rint(op_size * (len(ops) - 1) + rng.uniform(-0.5, 0.5)), 0, len(ops) - 1))]
        if NONE in cands:
            if rng.random() >= branches:
                choices.append(cands.index(NONE))
            elif IDENTITY in cands and rng.random() < 1 / 3:
                choices.append(cands.index(IDENTITY))
            else:
                choices.append(conv)
        elif IDENTITY in cands and rng.random() >= depth:
            choices.append(cands.index(IDENTITY))
        else:
            choices.append(conv)
    return choices


def designed_archs(space, n: int, seed: int = 0) -> list:
    """``n`` distinct architectures drawn by :func:`design_choices` at knob settings spread over the unit cube.

    The first eight settings are the cube's corners (shallowest chain of small operators ... deepest dense
    net of large ones); the rest follow a scrambled Sobol sequence seeded by ``seed``. A draw that repeats an
    architecture already chosen is redrawn.
    """
    from scipy.stats import qmc

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise EstimatorError(f"designed_archs: n must be a positive integer, got {n!r}")
    corners = [[(c >> b) & 1 for b in range(3)] for c in range(8)]
    sobol = qmc.Sobol(3, scramble=True, seed=seed).random(max(8, 1 << max(0, n - 8 - 1).bit_length()))
    knobs = (corners + sobol.tolist())[:n]
    rng = np.random.default_rng(seed)
    archs, seen = [], set()
    for k in knobs:
        for _ in range(100):
            arch = space.arch(design_choices(space, k, rng))
            if arch.hash not in seen:
                break
        else:
            raise EstimatorError(f"designed_archs: knobs {k} give only architectures already drawn; ask for fewer")
        seen.add(arch.hash)
        archs.append(arch)
    return archs


def pick_spread(values: Mapping[str, float], k: int) -> list[str]:
    """The ``k`` keys of ``values`` whose values lie closest to ``k`` evenly spaced targets over their range.

    The extremes are always kept; each target takes the nearest key not taken yet (targets in order from
    the lowest), so the kept values' neighbour gaps are as even as the candidates allow. Returned in
    ascending order of value.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise EstimatorError(f"pick_spread: k must be an integer >= 2, got {k!r}")
    if len(values) < k:
        raise EstimatorError(f"pick_spread: {len(values)} candidates measured, fewer than the {k} asked for; "
                             f"train more candidates first")
    keys = sorted(values, key=lambda h: (values[h], h))
    vals = np.array([values[h] for h in keys], dtype=float)
    taken: list[int] = []
    free = np.ones(len(keys), dtype=bool)
    for target in np.linspace(vals[0], vals[-1], k):
        cand = np.flatnonzero(free)
        j = int(cand[np.argmin(np.abs(vals[cand] - target))])
        free[j] = False
        taken.append(j)
    return [keys[j] for j in sorted(taken)]
