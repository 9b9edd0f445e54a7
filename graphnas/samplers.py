"""Samplers: which architecture the supernet trains on at each step.

A sampler is any callable ``sampler(rng) -> Architecture`` taking a numpy Generator. Training draws
one path per step from it. Samplers only choose; they never touch the supernet. The trainer owns (and
checkpoints) the generator, so every sampler here is a pure function of it: it keeps no mutable state
and two calls on generators in the same state return the same architecture. Each has ``describe()``,
a JSON-friendly dict (``kind`` and parameters) for logs and checkpoints.

* :class:`UniformSampler` (SPOS): every choice independent and uniform (``space.sample``).
* :class:`ConstrainedSampler` (SPOS with limits): redraw from a base sampler until every
  :class:`~graphnas.cost.limits.Limit` holds (:func:`graphnas.search.result.sample_feasible`).
* :class:`STNASSampler` (ST-NAS): branch edges dropped with probability ``p_drop``.
* :class:`PoolSampler`: uniform or weighted over a fixed list (e.g. PC-NAS's partial-model pool).
* :func:`make_sampler`: one of these by name, for the CLI.

**ST-NAS draw.** Edge ``i`` has real (non-``none``) candidates ``R_i``; stem edges have no ``none``.
With ``u_i, v_i ~ U[0, 1)`` drawn as one ``(2, E)`` array::

    op_i = R_i[floor(u_i * |R_i|)];   op_i = none  if edge i offers none and v_i < p_drop

so a branch edge is ``none`` with probability ``p_drop`` and each real operator has probability
``(1 - p_drop) / |R_i|``; stem edges are uniform. The draw is one gather and one ``where`` over
all edges (no per-edge Python loop). Spaces with in-degree constraints (DARTS) are refused: an
independent drop per edge would break "exactly k inputs".

**Calibrating p_drop** (:func:`calibrate`, :func:`calibrate_p_drop`). The expected cost is
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
point closest to ``T``; it must be within ``tol * T`` or more samples are asked for. Costs come
from the space's cost table (``cost_table``) with liveness computed for all ``N`` draws at once,
exactly as :func:`~graphnas.cost.model.arch_cost` counts (live edges plus the cell inputs they read).
The tolerance bounds the estimate; its distance from the true expectation is the Monte-Carlo
standard error ``sd / sqrt(N)``, reported as ``stderr``.

**Unsatisfiable limits up front.** For a MAdds/params/BitOps limit on a space without in-degree
constraints, the architecture taking each edge's cheapest candidate for that metric (``none`` where
offered) is the exact minimum: it keeps only edges every architecture keeps, and costs add over
live edges. (``extreme_archs``'s smallest is ordered by MAdds then parameters, so it is not the
parameter minimum.) A limit below it raises at once; other limits fail after ``max_tries`` draws.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .arch import Architecture
from .cost.limits import Limit, parse_count
from .cost.model import arch_cost, cost_table
from .errors import ArchitectureError, ConstraintError, GraphnasError, SpaceError
from .ops.registry import NONE
from .search.result import sample_feasible
from .space import SearchSpace
from .utils import as_rng

__all__ = ["Sampler", "UniformSampler", "ConstrainedSampler", "STNASSampler", "PoolSampler", "Calibration",
           "calibrate", "calibrate_p_drop", "expected_cost", "make_sampler", "SAMPLERS"]

Sampler = Callable[[np.random.Generator], Architecture]

_METRICS = ("madds", "params", "bitops")  # the fields of Cost, in cost-table order


def _space_info(space: SearchSpace) -> dict:
    return {"space": space.name, "fingerprint": space.fingerprint}


def _describe(sampler) -> dict:
    if hasattr(sampler, "describe"):
        return sampler.describe()
    return {"kind": "custom", "repr": repr(sampler)}


def _millions(x: float) -> str:
    return f"{x / 1e6:.4g}M"


class UniformSampler:
    """Uniform single-path sampling (SPOS): every choice independent and uniform.

    Args:
        space (SearchSpace): the space to sample from.
    """

    def __init__(self, space) -> None:
        self.space = space

    def __call__(self, rng: np.random.Generator) -> Architecture:
        return self.space.sample(rng)

    def describe(self) -> dict:
        return {"kind": "uniform", **_space_info(self.space)}

    def __repr__(self) -> str:
        return f"UniformSampler(space={self.space.name!r})"


# ---------------------------------------------------------------------- ST-NAS
class STNASSampler:
    """ST-NAS sampling: each branch edge is ``none`` with probability ``p_drop``, else a uniform real
    operator; stem edges are uniform (see the module docstring for the draw).

    Args:
        space (SearchSpace): a space without in-degree constraints.
        p_drop (float): drop probability of a branch edge, in ``[0, 1]``.

    Example::

        >>> # sampler = STNASSampler(space, 0.3); arch = sampler(np.random.default_rng(0))
    """

    def __init__(self, space: SearchSpace, p_drop: float) -> None:
        if space.in_degree:
            raise SpaceError(f"space '{space.name}' has in-degree constraints (nodes must keep exactly k inputs), "
                             f"which ST-NAS's independent edge drops would break; use the 'uniform' sampler")
        if isinstance(p_drop, bool) or not isinstance(p_drop, (int, float, np.floating)) or not 0 <= p_drop <= 1:
            raise GraphnasError(f"p_drop must be a probability in [0, 1], got {p_drop!r}")
        self.space = space
        self.p_drop = float(p_drop)
        self._tables = _draw_tables(space)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` choice vectors at once, ``(n, E)`` int64; ``draw(rng, 1)[0]`` is what ``self(rng)`` returns."""
        return _draw(self._tables, rng.random((2, n, self.space.num_edges)), self.p_drop)

    def __call__(self, rng: np.random.Generator) -> Architecture:
        return Architecture(self.space, _draw(self._tables, rng.random((2, self.space.num_edges)), self.p_drop))

    def describe(self) -> dict:
        return {"kind": "stnas", **_space_info(self.space), "p_drop": self.p_drop}

    def __repr__(self) -> str:
        return f"STNASSampler(space={self.space.name!r}, p_drop={self.p_drop:g})"


def _draw_tables(space: SearchSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def _draw(tables, u: np.ndarray, p: float) -> np.ndarray:
    """Choice vectors from variates ``u`` (``(2, ..., E)``: operator, drop) at drop probability ``p``."""
    real, n_real, none, droppable = tables
    pick = np.minimum((u[0] * n_real).astype(np.int64), n_real - 1)  # min guards u * n rounding up to n
    ops = real[np.arange(len(n_real)), pick]
    return np.where(droppable & (u[1] < p), none, ops)


# ---------------------------------------------------------------------- costs of many architectures
def _batch_cost(space: SearchSpace, choices: np.ndarray, metric: str = "madds") -> np.ndarray:
    """Cost of every choice vector in ``choices`` (``(N, E)``), exactly as ``arch_cost`` counts: ``(N,)`` float.

    Liveness is propagated for all rows at once: forward from the templates' input nodes over present
    edges in order of target, backward from the output nodes in reverse order of source (node ids are
    topological, so one pass each is complete); a cell input's preprocessing counts when a live edge
    reads it or the output concatenates it.
    """
    table = cost_table(space)
    m = _METRICS.index(metric)
    width = int(space.radices.max())
    costs = np.zeros((space.num_edges, width))
    is_none = np.zeros((space.num_edges, width), dtype=bool)
    for i, (e, row) in enumerate(zip(space.edges, table.edges)):
        costs[i, :len(row)] = [r[m] for r in row]
        is_none[i, :len(row)] = [op == NONE for op in e.candidates]
    cols = np.arange(space.num_edges)
    present = ~is_none[cols, choices]
    live = _live(space, present)
    total = np.where(live, costs[cols, choices], 0.0).sum(axis=1) + getattr(table.fixed, metric)
    read = np.zeros((len(choices), len(space.nodes)), dtype=bool)
    read[:, list(space.output_nodes)] = True
    for i, e in enumerate(space.edges):
        read[:, e.src] |= live[:, i]
    for t, tmpl in enumerate(space.templates):
        for j, node in enumerate(tmpl.nodes[:tmpl.inputs]):
            total += np.where(read[:, node], table.inputs[t][j][m], 0)
    return total


def _live(space: SearchSpace, present: np.ndarray) -> np.ndarray:
    """Which present edges are live, per row of ``present`` (``(N, E)`` bool)."""
    if not space.prune_dead:
        return present
    edges = space.edges
    fwd = np.zeros((len(present), len(space.nodes)), dtype=bool)
    fwd[:, list(space.input_nodes)] = True
    for i in sorted(range(len(edges)), key=lambda i: (edges[i].dst, edges[i].src)):
        fwd[:, edges[i].dst] |= fwd[:, edges[i].src] & present[:, i]
    back = np.zeros_like(fwd)
    back[:, list(space.output_nodes)] = True
    for i in sorted(range(len(edges)), key=lambda i: (-edges[i].src, -edges[i].dst)):
        back[:, edges[i].src] |= back[:, edges[i].dst] & present[:, i]
    src = [e.src for e in edges]
    dst = [e.dst for e in edges]
    return present & fwd[:, src] & back[:, dst]


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
    """Monte-Carlo estimate of the expected cost of :class:`STNASSampler` draws: ``(mean, stderr)`` in counts.

    With the same ``rng`` seed the variates are the same for every ``p_drop`` (common random
    numbers), so the estimate is non-increasing in ``p_drop``.
    """
    sampler = STNASSampler(space, p_drop)
    costs = _batch_cost(space, sampler.draw(as_rng(rng), _check_samples(samples)), metric)
    return float(costs.mean()), float(costs.std(ddof=1) / math.sqrt(len(costs))) if len(costs) > 1 else 0.0


def calibrate(space: SearchSpace, target_madds, samples: int = 2000, tol: float = 1e-3, rng=0,
              metric: str = "madds") -> Calibration:
    """Find the ST-NAS ``p_drop`` whose expected cost is ``target_madds`` (bisection on a CRN estimate).

    Args:
        space (SearchSpace): a space :class:`STNASSampler` accepts.
        target_madds (float or str): the expected cost, a count or a string with a unit (``"300M"``).
        samples (int): Monte-Carlo draws (default: 2000).
        tol (float): relative tolerance on the estimate, ``|achieved - target| <= tol * target`` (default: 1e-3).
        rng (int or Generator): seeds the variates (default: 0, so calibration is reproducible).
        metric (str): ``'madds'`` (default), ``'params'`` or ``'bitops'``.

    Raises:
        ConstraintError: the target is outside ``[C_hat(1), C_hat(0)]`` (the message gives the range in
            M), or the estimate's steps are coarser than ``tol`` (raise ``samples``).
    """
    if metric not in _METRICS:
        raise GraphnasError(f"unknown cost metric '{metric}'; choose one of {', '.join(_METRICS)}")
    target = parse_count(target_madds, metric) if isinstance(target_madds, str) else target_madds
    if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) \
            or not math.isfinite(target) or target <= 0:
        raise ConstraintError(f"target {metric} {target_madds!r} must be a positive count, e.g. 300M")
    if not 0 < tol < 1:
        raise GraphnasError(f"tol is a relative tolerance in (0, 1), got {tol!r}")
    target = float(target)
    samples = _check_samples(samples)
    tables = STNASSampler(space, 0.0)._tables
    u = as_rng(rng).random((2, samples, space.num_edges))

    def estimate(p: float) -> np.ndarray:
        return _batch_cost(space, _draw(tables, u, p), metric)

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


# ---------------------------------------------------------------------- limits
def _smallest(space: SearchSpace, metric: str) -> Architecture | None:
    """The architecture of least ``metric`` (exact; see the module docstring), or None under in-degree constraints."""
    if space.in_degree:
        return None
    m = _METRICS.index(metric)
    return Architecture(space, [min(range(len(row)), key=lambda c: row[c][m]) for row in cost_table(space).edges])


class ConstrainedSampler:
    """Redraw from a base sampler until every limit holds (SPOS's constrained uniform sampling).

    Args:
        space_or_sampler (SearchSpace or sampler): a space (sampled uniformly) or a base sampler.
        limits (sequence of Limit): all must hold.
        max_tries (int): draws per call before :class:`ConstraintError` (default: 1000).

    Raises:
        ConstraintError: at construction, when a MAdds/params/BitOps limit is below the smallest
            value the space (or the pool) reaches; on a call, when ``max_tries`` draws all failed
            (naming each limit and the smallest value seen).
    """

    def __init__(self, space_or_sampler, limits: Sequence[Limit], max_tries: int = 1000) -> None:
        self.base = UniformSampler(space_or_sampler) if isinstance(space_or_sampler, SearchSpace) else space_or_sampler
        if not callable(self.base):
            raise GraphnasError(f"ConstrainedSampler needs a SearchSpace or a sampler, got {space_or_sampler!r}")
        if isinstance(max_tries, bool) or not isinstance(max_tries, (int, np.integer)) or max_tries < 1:
            raise GraphnasError(f"max_tries must be a positive integer, got {max_tries!r}")
        self.limits = tuple(limits)
        self.max_tries = int(max_tries)
        self.space = getattr(self.base, "space", None)
        self._check_satisfiable()

    def _check_satisfiable(self) -> None:
        where = f"space '{self.space.name}'" if self.space is not None else "the base sampler"
        for lim in self.limits:
            if isinstance(self.base, PoolSampler):
                value = min(lim.measure(a) for a in self.base.archs)
                where = f"the pool of {len(self.base.archs)} architectures"
            elif lim.metric in _METRICS and isinstance(self.space, SearchSpace):
                arch = _smallest(self.space, lim.metric)
                if arch is None:
                    continue
                value = lim.measure(arch)
                if value != getattr(arch_cost(arch), lim.metric):
                    continue  # not the analytic metric (another unit or measure): no proof of a minimum
            else:
                continue
            if value > lim.value:
                raise ConstraintError(f"limit {lim.metric} <= {lim.value:g} cannot be met in {where}: its smallest "
                                      f"architecture has {lim.metric} {value:g} ({_millions(value)}); the limit must "
                                      f"be at least that")

    def __call__(self, rng: np.random.Generator) -> Architecture:
        return sample_feasible(lambda: self.base(rng), self.limits, tries=self.max_tries,
                               fix="loosen the limit or raise max_tries")

    def describe(self) -> dict:
        return {"kind": "constrained", "base": _describe(self.base), "max_tries": self.max_tries,
                "limits": [{"metric": lim.metric, "value": float(lim.value)} for lim in self.limits]}

    def __repr__(self) -> str:
        return f"ConstrainedSampler({self.base!r}, limits={list(self.limits)!r}, max_tries={self.max_tries})"


# ---------------------------------------------------------------------- pool
class PoolSampler:
    """Uniform (or weighted) choice from a fixed list of architectures of one space.

    Args:
        archs (sequence of Architecture): the pool (e.g. PC-NAS's partial models); duplicates count twice.
        weights (sequence of float, optional): non-negative, not all zero; normalised (default: uniform).
    """

    def __init__(self, archs: Sequence[Architecture], weights: Sequence[float] | None = None) -> None:
        archs = tuple(archs)
        if not archs:
            raise ArchitectureError("PoolSampler needs at least one architecture; the pool is empty")
        for k, a in enumerate(archs):
            if not isinstance(a, Architecture):
                raise ArchitectureError(f"pool entry {k} is {type(a).__name__}, not an Architecture; "
                                        f"build it with space.arch(choices) or space.from_ops(ops)")
            if a.space.fingerprint != archs[0].space.fingerprint:
                raise ArchitectureError(f"pool entry {k} is from space '{a.space.name}' ({a.space.fingerprint}) but "
                                        f"entry 0 is from '{archs[0].space.name}' ({archs[0].space.fingerprint}); "
                                        f"a pool holds architectures of one space")
        self.archs = archs
        self.space = archs[0].space
        self.weights = None
        self._cdf = None
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            if w.shape != (len(archs),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise GraphnasError(f"pool weights must be {len(archs)} finite non-negative numbers, not all zero; "
                                    f"got {list(np.atleast_1d(w))}")
            self.weights = tuple(float(x) for x in w)
            self._cdf = np.cumsum(w) / w.sum()

    def __call__(self, rng: np.random.Generator) -> Architecture:
        if self._cdf is None:
            return self.archs[int(rng.integers(len(self.archs)))]
        k = int(np.searchsorted(self._cdf, rng.random(), side="right"))
        return self.archs[min(k, len(self.archs) - 1)]  # min guards cdf[-1] rounding below 1

    def describe(self) -> dict:
        return {"kind": "pool", **_space_info(self.space), "size": len(self.archs),
                "choices": [list(a.choices) for a in self.archs],
                "weights": list(self.weights) if self.weights is not None else None}

    def __repr__(self) -> str:
        return f"PoolSampler(space={self.space.name!r}, size={len(self.archs)}, weighted={self.weights is not None})"


# ---------------------------------------------------------------------- by name
def _count_limit(metric: str, value) -> Limit:
    bound = parse_count(value, metric) if isinstance(value, str) else float(value)
    return Limit(metric, bound, lambda a: getattr(arch_cost(a), metric))


def _make_uniform(space):
    return UniformSampler(space)


def _make_stnas(space, p_drop=None, target_madds=None, samples=2000, rng=0):
    if (p_drop is None) == (target_madds is None):
        raise GraphnasError("the 'stnas' sampler needs exactly one of p_drop (e.g. 0.3) or target_madds "
                            "(e.g. '300M', calibrated)")
    if target_madds is not None:
        p_drop = calibrate_p_drop(space, target_madds, samples=samples, rng=rng)
    return STNASSampler(space, p_drop)


def _make_constrained(space, madds=None, params=None, limits=(), max_tries=1000, base="uniform", **base_options):
    limits = list(limits) + [_count_limit(m, v) for m, v in (("madds", madds), ("params", params)) if v is not None]
    if not limits:
        raise GraphnasError("the 'constrained' sampler needs a limit: madds='300M', params='5M' or limits=[Limit]")
    base = make_sampler(base, space, **base_options) if isinstance(base, str) else base
    return ConstrainedSampler(base, limits, max_tries=max_tries)


def _make_pool(space, archs, weights=None):
    pool = []
    for a in archs:
        if isinstance(a, Architecture):
            space.check(a)
            pool.append(a)
        elif all(isinstance(x, str) for x in a):
            pool.append(space.from_ops(a))
        else:
            pool.append(space.arch(a))
    return PoolSampler(pool, weights)


#: Sampler builders by name: ``make_sampler(kind, space, **options)``.
SAMPLERS = {"uniform": _make_uniform, "constrained": _make_constrained, "stnas": _make_stnas, "pool": _make_pool}
_OPTIONS = {"uniform": (), "constrained": ("madds", "params", "limits", "max_tries", "base", "<base options>"),
            "stnas": ("p_drop", "target_madds", "samples", "rng"), "pool": ("archs", "weights")}


def make_sampler(kind: str, space: SearchSpace, **options) -> Sampler:
    """Build a sampler by name (for the CLI).

    Kinds and options: ``uniform``; ``stnas`` (``p_drop``, or ``target_madds`` to calibrate it with
    ``samples``, ``rng``); ``constrained`` (``madds``/``params`` as ``"300M"`` or counts, ``limits``,
    ``max_tries``, ``base`` kind or sampler (default ``uniform``) and the base's options); ``pool``
    (``archs`` as Architectures, choice vectors or op lists, ``weights``).

    >>> # make_sampler("constrained", space, madds="300M", base="stnas", p_drop=0.2)
    """
    if kind not in SAMPLERS:
        raise GraphnasError(f"unknown sampler '{kind}'; choose one of {', '.join(sorted(SAMPLERS))}")
    try:
        inspect.signature(SAMPLERS[kind]).bind(space, **options)
    except TypeError as err:  # an unknown or missing option
        raise GraphnasError(f"bad options for sampler '{kind}' ({err}); its options: "
                            f"{', '.join(_OPTIONS[kind]) or 'none'}") from None
    return SAMPLERS[kind](space, **options)
