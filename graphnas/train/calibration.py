"""Calibrating ST-NAS's p_drop to a cost target.

The ST-NAS draw (see :mod:`graphnas.train.samplers`) is vectorised here (:func:`stnas_tables`,
:func:`stnas_draw`) so that :class:`~graphnas.train.samplers.STNASSampler` and the calibration share it.

The expected cost is
``E_p[C] = fixed + E_p[sum over live edges of c_i(op_i)]``. When every present edge is always live
(ST-NAS: the stem chain reaches every node) this is linear in ``p``:
``fixed + sum_stem mean_R c_i + (1 - p) * sum_branch mean_R c_i``; with dead-edge pruning it is a
polynomial in ``p`` in general, so graphnas estimates it by Monte Carlo for the general case::

    C_hat(p) = (1/N) * sum_n C(x_n(p)),   x_n(p) = the draw above on fixed variates (u_n, v_n)

Common random numbers: the ``(2, N, E)`` variates are drawn once and reused for every ``p``. As
``p`` grows the dropped set ``{v < p}`` only grows, a smaller present set has a smaller live set
(and reads fewer cell inputs), and costs are non-negative, so ``C_hat`` is non-increasing in ``p``;
bisection on ``[0, 1]`` keeping ``C_hat(lo) >= T >= C_hat(hi)`` is therefore exact on the estimate.
``C_hat`` is a step function (steps of one edge's cost over ``N``), so the result is the bisection
point closest to ``T``; it must be within ``tol * T`` or more samples are asked for. Costs of all ``N``
draws come at once from :func:`~graphnas.cost.model.batch_cost`, exactly as
:func:`~graphnas.cost.model.arch_cost` counts (live edges plus the cell inputs they read).
The tolerance bounds the estimate; its distance from the true expectation is the Monte-Carlo
standard error ``sd / sqrt(N)``, reported as ``stderr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..cost.limits import parse_count
from ..cost.model import FIELDS, batch_cost
from ..errors import ConstraintError, GraphnasError, SpaceError
from ..ops.registry import NONE
from ..space.searchspace import SearchSpace
from ..utils import as_rng

__all__ = ["Calibration", "calibrate", "calibrate_p_drop", "expected_cost", "stnas_tables", "stnas_draw",
           "check_stnas_space"]


def _millions(x: float) -> str:
    return f"{x / 1e6:.3f}M"


def check_stnas_space(space: SearchSpace) -> None:
    """Refuse spaces ST-NAS sampling cannot serve: in-degree constraints (DARTS)."""
    if space.in_degree:
        raise SpaceError(f"space '{space.name}' has in-degree constraints (nodes must keep exactly k inputs), "
                         f"which ST-NAS's independent edge drops would break; use the 'uniform' sampler")


def stnas_tables(space: SearchSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(real, n_real, none, droppable)``: padded real-candidate indices ``(E, R)``, their counts, the
    index of ``none`` (0 where absent) and whether an edge offers it. An edge whose only candidate
    is ``none`` (a subspace fixed it) lists ``none`` as its one "real" candidate, so it never runs."""
    cands = [[j for j, op in enumerate(e.candidates) if op != NONE] or [e.candidates.index(NONE)]
             for e in space.edges]
    real = np.zeros((len(cands), max(map(len, cands))), dtype=np.int64)
    for i, c in enumerate(cands):
        real[i, :len(c)] = c
    n_real = np.array([len(c) for c in cands], dtype=np.int64)
    droppable = np.array([NONE in e.candidates for e in space.edges], dtype=bool)
    none = np.array([e.candidates.index(NONE) if NONE in e.candidates else 0 for e in space.edges], dtype=np.int64)
    return real, n_real, none, droppable


def stnas_draw(tables, u: np.ndarray, p: float) -> np.ndarray:
    """Choice vectors from variates ``u`` (``(2, ..., E)``: operator, drop) at drop probability ``p``."""
    real, n_real, none, droppable = tables
    pick = np.minimum((u[0] * n_real).astype(np.int64), n_real - 1)  # min guards u * n rounding up to n
    ops = real[np.arange(len(n_real)), pick]
    return np.where(droppable & (u[1] < p), none, ops)


# ---------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` found.

    Attributes:
        p_drop (float): the drop probability.
        target (float): the requested expected cost (counts).
        achieved (float): the Monte-Carlo estimate of the expected cost at ``p_drop`` (counts).
        stderr (float): its standard error, ``sd / sqrt(samples)``.
        range (tuple of float): the estimate at ``p_drop=1`` and at ``p_drop=0`` (what is reachable).
        samples (int): Monte-Carlo draws.
        metric (str): ``'madds'``, ``'params'`` or ``'bitops'``.
    """

    p_drop: float
    target: float
    achieved: float
    stderr: float
    range: tuple[float, float]
    samples: int
    metric: str = "madds"

    def to_dict(self) -> dict:
        return {"p_drop": self.p_drop, "target": self.target, "achieved": self.achieved, "stderr": self.stderr,
                "range": list(self.range), "samples": self.samples, "metric": self.metric}


def _check_samples(samples) -> int:
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise GraphnasError(f"samples must be a positive integer, got {samples!r}")
    return int(samples)


def expected_cost(space: SearchSpace, p_drop: float, samples: int = 2000, rng=0,
                  metric: str = "madds") -> tuple[float, float]:
    """Monte-Carlo estimate of the expected cost of :class:`~graphnas.train.samplers.STNASSampler` draws: ``(mean, stderr)`` in counts.

    With the same ``rng`` seed the variates are the same for every ``p_drop`` (common random
    numbers), so the estimate is non-increasing in ``p_drop``.
    """
    check_stnas_space(space)
    if isinstance(p_drop, bool) or not isinstance(p_drop, (int, float, np.floating)) or not 0 <= p_drop <= 1:
        raise GraphnasError(f"p_drop must be a probability in [0, 1], got {p_drop!r}")
    u = as_rng(rng).random((2, _check_samples(samples), space.num_edges))
    costs = batch_cost(space, stnas_draw(stnas_tables(space), u, float(p_drop)), metric)
    return float(costs.mean()), float(costs.std(ddof=1) / math.sqrt(len(costs))) if len(costs) > 1 else 0.0


def calibrate(space: SearchSpace, target_madds, samples: int = 2000, tol: float = 1e-3, rng=0,
              metric: str = "madds") -> Calibration:
    """Find the ST-NAS ``p_drop`` whose expected cost is ``target_madds`` (bisection on a CRN estimate).

    Args:
        space (SearchSpace): a space :class:`~graphnas.train.samplers.STNASSampler` accepts.
        target_madds (float or str): the expected cost, a count or a string with a unit (``"300M"``).
        samples (int): Monte-Carlo draws (default: 2000).
        tol (float): relative tolerance on the estimate, ``|achieved - target| <= tol * target`` (default: 1e-3).
        rng (int or Generator): seeds the variates (default: 0, so calibration is reproducible).
        metric (str): ``'madds'`` (default), ``'params'`` or ``'bitops'``.

    Raises:
        ConstraintError: the target is outside ``[C_hat(1), C_hat(0)]`` (the message gives the range in
            M), or the estimate's steps are coarser than ``tol`` (raise ``samples``).
    """
    if metric not in FIELDS:
        raise GraphnasError(f"unknown cost metric '{metric}'; choose one of {', '.join(FIELDS)}")
    target = parse_count(target_madds, metric) if isinstance(target_madds, str) else target_madds
    if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) \
            or not math.isfinite(target) or target <= 0:
        raise ConstraintError(f"target {metric} {target_madds!r} must be a positive count, e.g. 300M")
    if not 0 < tol < 1:
        raise GraphnasError(f"tol is a relative tolerance in (0, 1), got {tol!r}")
    target = float(target)
    samples = _check_samples(samples)
    check_stnas_space(space)
    tables = stnas_tables(space)
    u = as_rng(rng).random((2, samples, space.num_edges))

    def estimate(p: float) -> np.ndarray:
        return batch_cost(space, stnas_draw(tables, u, p), metric)

    def result(p: float, costs: np.ndarray) -> Calibration:
        stderr = float(costs.std(ddof=1) / math.sqrt(samples)) if samples > 1 else 0.0
        return Calibration(p, target, float(costs.mean()), stderr, (low, high), samples, metric)

    hi_costs, lo_costs = estimate(0.0), estimate(1.0)
    high, low = float(hi_costs.mean()), float(lo_costs.mean())
    slack = tol * target
    if not low - slack <= target <= high + slack:
        raise ConstraintError(
            f"target {_millions(target)} expected {metric} is outside what ST-NAS sampling reaches on space "
            f"'{space.name}': [{_millions(low)} at p_drop=1, {_millions(high)} at p_drop=0]; choose a target "
            f"in that range or change the space's scale or operators")
    if abs(high - target) <= slack:
        return result(0.0, hi_costs)
    if abs(low - target) <= slack:
        return result(1.0, lo_costs)
    lo, hi = 0.0, 1.0  # invariant: C_hat(lo) > target > C_hat(hi)
    best = (abs(high - target), 0.0, hi_costs)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        costs = estimate(mid)
        value = float(costs.mean())
        if abs(value - target) < best[0]:
            best = (abs(value - target), mid, costs)
        if abs(value - target) <= slack:
            break
        lo, hi = (mid, hi) if value > target else (lo, mid)
    miss, p, costs = best
    if miss > slack:
        raise ConstraintError(
            f"the {samples}-sample estimate of expected {metric} jumps past target {_millions(target)} (closest "
            f"{_millions(float(costs.mean()))} at p_drop={p:.6g}); raise samples or loosen tol={tol:g}")
    return result(p, costs)


def calibrate_p_drop(space: SearchSpace, target_madds, samples: int = 2000, tol: float = 1e-3, rng=0) -> float:
    """The ST-NAS ``p_drop`` whose expected MAdds is ``target_madds`` (see :func:`calibrate`, which also
    returns the achieved estimate and its standard error).

    >>> # p = calibrate_p_drop(space, "300M"); sampler = STNASSampler(space, p)
    """
    return calibrate(space, target_madds, samples=samples, tol=tol, rng=rng).p_drop
