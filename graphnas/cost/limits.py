"""Cost limits: the one parser of what users write (``"17ms"``, ``"330M"``, ``"5M"``), its printer, and the
:class:`Limit` that checks architectures against a bound.

Every limit in graphnas is read by :func:`bound_value`: :func:`make_limit` and :class:`Limit` (samplers,
search, the job's ``--madds/--params/--latency``), lookup queries (``graphnas.lookup.parse_limit`` is this
function) and ``graphnas lookup``'s flags. One rule holds everywhere:

* metrics: ``madds`` (multiply-adds, what most NAS papers call FLOPs), ``params``, ``bitops`` (quantised
  spaces) are counts; ``latency`` is in milliseconds;
* a string needs its unit, so a limit can never be read in the wrong one: latency takes ``us``, ``ms`` or
  ``s``; counts take ``K``, ``M``, ``G`` or ``T`` (powers of 1000, ``k`` = ``K``): write ``1500K``, not
  ``1500000``. Its number is read as an exact decimal (``"514.368K"`` is 514368, not 514368.00000000006);
* a number is in the metric's unit (counts, milliseconds);
* the bound is finite and > 0: NaN, infinity (``"1e309M"`` too), zero, negative values, booleans and
  anything that is not a number are refused with one line;
* counts are whole numbers, so a count bound is one: a number within 1e-9 (relative) of an integer is that
  integer (float error undone), any other is rounded down (``madds <= 1000.5`` admits what ``madds <= 1000``
  does), and a bound below 1 is refused.
* a range ``"LOW:HIGH"`` (``"200M:330M"``, or a ``(low, high)`` pair in Python) adds a lower bound to the
  upper one; each side follows the rules above (a count's lower bound is rounded up), and LOW <= HIGH.

:func:`format_limit` writes a bound back as a user would (``514.368K``, ``17ms``), never rounded down, so
what graphnas prints can be passed back.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, Container, Sequence

from ..errors import ConstraintError
from .model import FIELDS, arch_cost

if TYPE_CHECKING:
    from ..space.architecture import Architecture

__all__ = ["METRICS", "bound_value", "bound_range", "metric_measure", "parse_latency", "parse_count", "format_limit",
           "describe_limits", "Limit", "make_limit", "sample_feasible", "describe_seen", "smallest_arch", "largest_arch",
           "check_satisfiable"]

#: Metrics a :class:`Limit` can bound, with their names in messages.
METRICS = {"madds": "MAdds", "params": "parameters", "bitops": "BitOps", "latency": "latency"}

_NUMBER = r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"
#: Per kind of unit: the pattern of a limit, the units' factors, an example, and how to write the unit.
_UNITS = {
    "latency": (re.compile(_NUMBER + r"(us|ms|s)?\s*"), {"us": Decimal("0.001"), "ms": Decimal(1), "s": Decimal(1000)},
                "17ms", "e.g. 17ms, 250us or 0.02s", "{n}ms (or us, s)"),
    "count": (re.compile(_NUMBER + r"([KkMGT])?\s*"), {"K": Decimal(10) ** 3, "k": Decimal(10) ** 3,
                                                        "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
                                                        "T": Decimal(10) ** 12},
              "330M", "e.g. 330M, 1.5G or 800K", "e.g. {n}M (units K, M, G, T)"),
}


def _bound(kind: str, name: str, value, up: bool = False) -> float:
    """The bound ``value`` gives for a metric of ``kind`` (``'latency'`` or ``'count'``), named ``name`` in messages;
    ``up``: a count that is not whole is rounded up (a lower bound), not down."""
    pattern, units, example, examples, with_unit = _UNITS[kind]
    if isinstance(value, str):
        m = pattern.fullmatch(value)
        if not m:
            raise ConstraintError(f"{name} limit '{value}' is not a number with a unit; write {examples}")
        if m.group(2) is None:
            raise ConstraintError(f"{name} limit '{value}' has no unit; write {with_unit.format(n=m.group(1))}")
        exact = Decimal(m.group(1)) * units[m.group(2)]
        number = float(exact)  # infinite beyond a float's range
    elif isinstance(value, bool):
        raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. {example}")
    else:
        try:
            number = float(value)
        except OverflowError:  # an int beyond a float's range
            number = math.inf
        except (TypeError, ValueError):
            raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. {example}") from None
        exact = None
    shown = repr(value)
    if math.isnan(number):
        raise ConstraintError(f"{name} limit {shown} is NaN, not a number; write e.g. {example}")
    if math.isinf(number):
        raise ConstraintError(f"{name} limit {shown} is too large (not a finite number); write a finite limit "
                              f"such as {example}, or leave the limit out")
    if number < 0:
        raise ConstraintError(f"{name} limit {shown} is negative; a limit is an upper bound > 0, e.g. {example}")
    if number == 0:  # every network has a stem and a head: no cost is ever 0
        raise ConstraintError(f"{name} limit {shown} is zero, which no architecture meets; give a limit > 0, "
                              f"e.g. {example}")
    if kind == "latency":
        return number
    nearest = round(number)
    snapped = exact is None and abs(number - nearest) <= 1e-9 * number
    count = nearest if snapped else math.floor(exact or number)
    if count < 1:
        raise ConstraintError(f"{name} limit {shown} is below 1; counts are whole numbers, so no architecture "
                              f"meets it; give a limit >= 1, e.g. {example}")
    return float(count if snapped or not up else math.ceil(exact or number))


def bound_value(metric: str, value) -> float:
    """The bound of a user's limit on ``metric`` (the module doc's rule): a string with its unit (``"17ms"``,
    ``"330M"``) or a number in the metric's unit (milliseconds, counts); else a one-line :class:`ConstraintError`.

    >>> bound_value("latency", "250us"), bound_value("madds", "514.368K"), bound_value("params", 5)
    (0.25, 514368.0, 5.0)
    """
    if metric not in METRICS:
        raise ConstraintError(f"unknown limit metric '{metric}'; choose one of {', '.join(METRICS)}")
    return _bound("latency" if metric == "latency" else "count", METRICS[metric], value)


def bound_range(metric: str, value) -> tuple[float | None, float]:
    """``(lower, upper)`` of a user's limit on ``metric``: ``"200M:330M"`` or a ``(low, high)`` pair is a range,
    anything else an upper bound alone (lower ``None``), read by :func:`bound_value`; a count's lower bound is
    rounded up (``"1.5:10"`` admits 2 to 10).

    >>> bound_range("madds", "200M:330M"), bound_range("latency", "17ms")
    ((200000000.0, 330000000.0), (None, 17.0))
    """
    if isinstance(value, str) and ":" in value:
        parts = value.split(":")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ConstraintError(f"{METRICS.get(metric, metric)} range '{value}' is not LOW:HIGH; write e.g. "
                                  f"{'10ms:17ms' if metric == 'latency' else '200M:330M'}")
        low, high = parts
    elif isinstance(value, tuple):
        if len(value) != 2:
            raise ConstraintError(f"{METRICS.get(metric, metric)} range {value!r} is not a (low, high) pair")
        low, high = value
    else:
        return None, bound_value(metric, value)
    upper = bound_value(metric, high)
    lower = _bound("latency" if metric == "latency" else "count", METRICS[metric], low, up=True)
    if lower > upper:
        raise ConstraintError(f"{METRICS[metric]} range '{low}:{high}' is empty (its lower bound is above its upper "
                              f"bound); write LOW:HIGH with LOW <= HIGH")
    return lower, upper


def parse_latency(text: str) -> float:
    """A latency limit written with its unit, in milliseconds (:func:`bound_value` of ``'latency'`` for text).

    >>> parse_latency("17ms"), parse_latency("250us"), parse_latency("0.02s")
    (17.0, 0.25, 20.0)
    """
    return _bound("latency", "latency", str(text))


def parse_count(text: str, what: str = "count") -> float:
    """A count limit (MAdds, FLOPs, parameters, BitOps) written with its K/M/G/T unit, named ``what`` in messages
    (:func:`bound_value`'s rule for counts).

    >>> parse_count("330M"), parse_count("1.5G"), parse_count("5M")
    (330000000.0, 1500000000.0, 5000000.0)
    """
    return _bound("count", what, str(text))


def format_limit(metric: str, value: float) -> str:
    """A bound as the user would write it (counts with K/M/G/T, latency in ms), never rounded down: what
    :func:`bound_value` reads back is at least ``value``."""
    if metric == "latency":
        return f"{math.ceil(value * 1e4) / 1e4:g}ms"
    count = math.ceil(value)  # exact: counts are integers, and a fraction is never rounded down
    for unit, exp in (("T", 12), ("G", 9), ("M", 6), ("K", 3)):
        if count >= 10 ** exp:
            return format(Decimal(count).scaleb(-exp).normalize(), "f") + unit
    return f"{count}"


def describe_limits(limits: dict) -> str:
    """``{metric: bound}`` as one phrase: ``"MAdds <= 330M and latency <= 17ms"``."""
    return " and ".join(f"{METRICS[m]} <= {format_limit(m, v)}" for m, v in limits.items())


def _custom_bound(metric: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConstraintError(f"limit {metric} <= {value!r}: the bound must be a finite number")
    return float(value)


@dataclass(frozen=True)
class Limit:
    """An upper bound, and optionally a lower one, on one cost metric of an architecture.

    Args:
        metric (str): ``'madds'``, ``'params'``, ``'bitops'`` or ``'latency'`` (the bounds are then read by
            :func:`bound_value`, so ``Limit("madds", "330M", measure)`` works and a NaN, negative or
            fractional count is handled by the one rule), or any other name for a metric of your own
            (its bounds must be finite numbers).
        value (float or str): the upper bound, in the metric's unit (counts, or milliseconds).
        measure (callable): ``measure(arch) -> float`` in the same unit.
        lower (float or str, optional): the lower bound (``lower <= measure(arch) <= value``); a count's is
            rounded up.
    """

    metric: str
    value: float
    measure: Callable
    lower: float | None = None

    def __post_init__(self) -> None:
        if self.metric in METRICS:
            value = bound_value(self.metric, self.value)
            lower = None if self.lower is None else bound_range(self.metric, (self.lower, value))[0]
        else:
            value = _custom_bound(self.metric, self.value)
            lower = None if self.lower is None else _custom_bound(self.metric, self.lower)
            if lower is not None and lower > value:
                raise ConstraintError(f"limit {lower:g} <= {self.metric} <= {value:g} is empty; the lower bound must "
                                      f"not exceed the upper")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "lower", lower)

    def __call__(self, arch) -> bool:
        return self.holds(self.measure(arch))

    def holds(self, value: float) -> bool:
        """Whether a measured ``value`` is within the bounds."""
        return value <= self.value and (self.lower is None or value >= self.lower)

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bounds, relative to the bound it crosses (0 within them)."""
        if value > self.value:
            return (value - self.value) / max(abs(self.value), 1e-12)
        if self.lower is not None and value < self.lower:
            return (self.lower - value) / max(abs(self.lower), 1e-12)
        return 0.0

    def describe(self) -> str:
        """``"madds <= 330000"`` or ``"200000 <= madds <= 330000"``."""
        low = f"{self.lower:g} <= " if self.lower is not None else ""
        return f"{low}{self.metric} <= {self.value:g}"

    def __repr__(self) -> str:
        return f"Limit({self.describe()})"


def metric_measure(metric: str, latency=None, what: str = "latency") -> Callable:
    """``measure(arch)`` of a metric by graphnas's own models: the analytic cost, or ``latency``'s prediction
    (``what`` needs it, says the error when there is none)."""
    if metric not in METRICS:
        raise ConstraintError(f"unknown metric '{metric}'; choose one of {', '.join(METRICS)}")
    if metric == "latency":
        if latency is None:
            raise ConstraintError(f"{what} needs a latency table for this device; build one with "
                                  "`graphnas latency build SPACE --out FILE` and pass it")
        return latency.latency

    def measure(arch) -> float:
        return getattr(arch_cost(arch), metric)

    return measure


def make_limit(metric: str, value, latency=None) -> Limit:
    """The limit ``metric <= value`` (or ``low <= metric <= high``) measured by graphnas's own models.

    Args:
        metric (str): ``'madds'``, ``'params'``, ``'bitops'`` (analytic cost) or ``'latency'``.
        value (str, float or pair): ``"330M"`` / ``"17ms"`` (units required) or a number in the metric's unit
            (counts, milliseconds); a range ``"200M:330M"`` or ``(low, high)`` (:func:`bound_range`).
        latency (LatencyModel, optional): predicts latency; required for ``'latency'``.
    """
    lower, upper = bound_range(metric, value)  # unknown metric, no unit, NaN, infinite, negative: one line
    return Limit(metric, upper, metric_measure(metric, latency, "a latency limit"), lower)


def sample_feasible(propose: Callable[[], "Architecture"], constraints: Sequence, tries: int = 1000,
                    exclude: Container[str] = (), fix: str = "loosen the limit") -> "Architecture | None":
    """Call ``propose()`` until an architecture meets every constraint (at most ``tries`` times).

    Args:
        propose (callable): ``propose() -> Architecture``.
        constraints (sequence of Limit): all must hold.
        tries (int): proposals before giving up (default: 1000).
        exclude (container of str): hashes not to return (architectures already evaluated).
        fix (str): what the error tells the user to do (default: ``"loosen the limit"``).

    Returns:
        The first feasible proposal not in ``exclude``, or ``None`` when feasible proposals came
        but all were excluded (a search has used up the feasible architectures it can reach).

    Raises:
        ConstraintError: naming each limit and the smallest value seen, when no proposal was feasible.
    """
    lowest: dict[str, float] = {}
    highest: dict[str, float] = {}
    any_feasible = False
    for _ in range(tries):
        arch = propose()
        ok = True
        for c in constraints:
            value = c.measure(arch)
            lowest[c.metric] = min(lowest.get(c.metric, math.inf), value)
            highest[c.metric] = max(highest.get(c.metric, -math.inf), value)
            ok = ok and c.holds(value)
        if ok:
            if not exclude or arch.hash not in exclude:
                return arch
            any_feasible = True
    if any_feasible:
        return None
    raise ConstraintError(f"no architecture met {describe_seen(constraints, lowest, highest)} in {tries} tries; {fix}")


def describe_seen(constraints: Sequence[Limit], lowest: dict, highest: dict) -> str:
    """Each limit with the values a search saw (``metric -> smallest`` and ``-> largest``), for the error when
    nothing met them all."""
    def one(c):
        if c.lower is None:
            return f"{c.metric} <= {c.value:g} (smallest seen {lowest[c.metric]:g})"
        return (f"{c.lower:g} <= {c.metric} <= {c.value:g} (seen {lowest[c.metric]:g} to "
                f"{highest[c.metric]:g})")

    return ", ".join(one(c) for c in constraints)


def _extreme(space, metric: str, pick) -> "Architecture | None":
    if space.in_degree or metric not in FIELDS:
        return None
    from ..space.architecture import Architecture
    from .model import cost_table

    m = FIELDS.index(metric)
    return Architecture(space, [pick(range(len(row)), key=lambda c: row[c][m]) for row in cost_table(space).edges])


def smallest_arch(space, metric: str) -> "Architecture | None":
    """The architecture of least analytic ``metric`` (``'madds'``, ``'params'``, ``'bitops'``): each edge's
    cheapest candidate for it (``none`` where offered). Exact: it keeps only the edges every architecture keeps,
    and costs add over live edges. ``None`` for a space with in-degree constraints or another metric."""
    return _extreme(space, metric, min)


def largest_arch(space, metric: str) -> "Architecture | None":
    """The architecture of greatest analytic ``metric``: each edge's costliest candidate (never ``none``, so
    every edge is live and costs add); ``None`` where :func:`smallest_arch` is."""
    return _extreme(space, metric, max)


def check_satisfiable(space, limits: Sequence[Limit], where: str | None = None) -> None:
    """Fail at once, naming the smallest (largest) value the space reaches, when an analytic limit's upper
    (lower) bound is beyond it. Limits on latency or on a metric of your own are not checked here (no
    architecture is provably extreme): they fail in :func:`sample_feasible` naming the values seen."""
    where = where or f"space '{space.name}'"
    for lim in limits:
        for arch, bound, beyond, word in ((smallest_arch(space, lim.metric), lim.value, lambda v, b: v > b,
                                           "smallest"),
                                          (largest_arch(space, lim.metric) if lim.lower is not None else None,
                                           lim.lower, lambda v, b: v < b, "largest")):
            if arch is None:
                continue
            value = lim.measure(arch)
            if value != getattr(arch_cost(arch), lim.metric):
                continue  # not the analytic metric (another unit or measure): no proof of an extreme
            if beyond(value, bound):
                side = "at least" if word == "smallest" else "at most"
                raise ConstraintError(f"limit {lim.describe()} cannot be met in {where}: its {word} architecture has "
                                      f"{lim.metric} {value:g} ({format_limit(lim.metric, value)}); the "
                                      f"{'upper' if word == 'smallest' else 'lower'} bound must be {side} that")
