"""Samplers: which architecture the supernet trains on at each step.

A sampler is any callable ``sampler(rng) -> Architecture`` taking a numpy Generator. Training draws
one path per step from it. Samplers only choose; they never touch the supernet. The trainer owns (and
checkpoints) the generator, so every sampler here is a pure function of it: it keeps no mutable state
and two calls on generators in the same state return the same architecture. Each has ``describe()``,
a JSON-friendly dict (``kind`` and parameters) for logs and checkpoints.

* :class:`UniformSampler` (SPOS): every choice independent and uniform (``space.sample``).
* :class:`ConstrainedSampler` (SPOS with limits): redraw from a base sampler until every
  :class:`~graphnas.cost.limits.Limit` holds (:func:`graphnas.cost.limits.sample_feasible`).
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

**Calibrating p_drop** lives in :mod:`graphnas.train.calibration` (:func:`calibrate`, re-exported here).

**Unsatisfiable limits up front.** For a MAdds/params/BitOps limit on a space without in-degree
constraints, the architecture taking each edge's cheapest candidate for that metric (``none`` where
offered) is the exact minimum: it keeps only edges every architecture keeps, and costs add over
live edges. (``extreme_archs``'s smallest is ordered by MAdds then parameters, so it is not the
parameter minimum.) A limit below it raises at once; other limits fail after ``max_tries`` draws.
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

import numpy as np

from ..space.architecture import Architecture
from .calibration import (Calibration, calibrate, calibrate_p_drop, check_stnas_space, expected_cost, stnas_draw,
                          stnas_tables)
from ..cost.limits import Limit, check_satisfiable, make_limit, sample_feasible
from ..errors import ArchitectureError, ConstraintError, GraphnasError
from ..space.searchspace import SearchSpace

__all__ = ["Sampler", "UniformSampler", "ConstrainedSampler", "STNASSampler", "PoolSampler", "Calibration",
           "calibrate", "calibrate_p_drop", "expected_cost", "make_sampler", "SAMPLERS"]

Sampler = Callable[[np.random.Generator], Architecture]


def _space_info(space: SearchSpace) -> dict:
    return {"space": space.name, "fingerprint": space.fingerprint}


def _describe(sampler) -> dict:
    if hasattr(sampler, "describe"):
        return sampler.describe()
    return {"kind": "custom", "repr": repr(sampler)}


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
        check_stnas_space(space)
        if isinstance(p_drop, bool) or not isinstance(p_drop, (int, float, np.floating)) or not 0 <= p_drop <= 1:
            raise GraphnasError(f"p_drop must be a probability in [0, 1], got {p_drop!r}")
        self.space = space
        self.p_drop = float(p_drop)
        self._tables = stnas_tables(space)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` choice vectors at once, ``(n, E)`` int64; ``draw(rng, 1)[0]`` is what ``self(rng)`` returns."""
        return stnas_draw(self._tables, rng.random((2, n, self.space.num_edges)), self.p_drop)

    def __call__(self, rng: np.random.Generator) -> Architecture:
        return Architecture(self.space, stnas_draw(self._tables, rng.random((2, self.space.num_edges)), self.p_drop))

    def describe(self) -> dict:
        return {"kind": "stnas", **_space_info(self.space), "p_drop": self.p_drop}

    def __repr__(self) -> str:
        return f"STNASSampler(space={self.space.name!r}, p_drop={self.p_drop:g})"


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
        if isinstance(self.base, PoolSampler):
            where = f"the pool of {len(self.base.archs)} architectures"
            for lim in self.limits:
                values = [lim.measure(a) for a in self.base.archs]
                if not any(lim.holds(v) for v in values):
                    raise ConstraintError(f"limit {lim.describe()} cannot be met in {where}: its architectures have "
                                          f"{lim.metric} {min(values):g} to {max(values):g}")
        elif isinstance(self.space, SearchSpace):
            check_satisfiable(self.space, self.limits)

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
def _make_uniform(space):
    return UniformSampler(space)


def _make_stnas(space, p_drop=None, target_madds=None, samples=2000, rng=0):
    if (p_drop is None) == (target_madds is None):
        raise GraphnasError("the 'stnas' sampler needs exactly one of p_drop (e.g. 0.3) or target_madds "
                            "(e.g. '300M', calibrated)")
    if target_madds is not None:
        p_drop = calibrate_p_drop(space, target_madds, samples=samples, rng=rng)
    return STNASSampler(space, p_drop)


def _make_constrained(space, madds=None, params=None, latency=None, latency_table=None, limits=(), max_tries=1000,
                      base="uniform", **base_options):
    model = None
    if latency is not None:
        if latency_table is None:
            raise GraphnasError("the 'constrained' sampler's latency limit needs latency_table=FILE (built with "
                                "`graphnas latency build`)")
        from ..cost.latency import LatencyModel

        model = LatencyModel.load(latency_table, space)
    limits = list(limits) + [make_limit(m, v, model) for m, v in (("madds", madds), ("params", params),
                                                                   ("latency", latency)) if v is not None]
    if not limits:
        raise GraphnasError("the 'constrained' sampler needs a limit: madds='300M', params='5M', latency='17ms' "
                            "(with latency_table=FILE) or limits=[Limit]")
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
_OPTIONS = {"uniform": (), "constrained": ("madds", "params", "latency", "latency_table", "limits", "max_tries", "base",
                                           "<base options>"),
            "stnas": ("p_drop", "target_madds", "samples", "rng"), "pool": ("archs", "weights")}


def make_sampler(kind: str, space: SearchSpace, **options) -> Sampler:
    """Build a sampler by name (for the CLI).

    Kinds and options: ``uniform``; ``stnas`` (``p_drop``, or ``target_madds`` to calibrate it with
    ``samples``, ``rng``); ``constrained`` (``madds``/``params`` as ``"300M"`` or counts, ``latency``
    as ``"17ms"`` with ``latency_table`` (a file from ``graphnas latency build``), ``limits``,
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
