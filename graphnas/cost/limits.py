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
from .model import arch_cost

if TYPE_CHECKING:
    from ..space.architecture import Architecture

__all__ = ["METRICS", "bound_value", "parse_latency", "parse_count", "format_limit", "describe_limits",
           "Limit", "make_limit", "sample_feasible"]

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


def _bound(kind: str, name: str, value) -> float:
    """The bound ``value`` gives for a metric of ``kind`` (``'latency'`` or ``'count'``), named ``name`` in messages."""
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
    count = nearest if exact is None and abs(number - nearest) <= 1e-9 * number else math.floor(exact or number)
    if count < 1:
        raise ConstraintError(f"{name} limit {shown} is below 1; counts are whole numbers, so no architecture "
                              f"meets it; give a limit >= 1, e.g. {example}")
    return float(count)


def bound_value(metric: str, value) -> float:
    """The bound of a user's limit on ``metric`` (the module doc's rule): a string with its unit (``"17ms"``,
    ``"330M"``) or a number in the metric's unit (milliseconds, counts); else a one-line :class:`ConstraintError`.

    >>> bound_value("latency", "250us"), bound_value("madds", "514.368K"), bound_value("params", 5)
    (0.25, 514368.0, 5.0)
    """
    if metric not in METRICS:
        raise ConstraintError(f"unknown limit metric '{metric}'; choose one of {', '.join(METRICS)}")
    return _bound("latency" if metric == "latency" else "count", METRICS[metric], value)


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


@dataclass(frozen=True)
class Limit:
    """An upper bound on one cost metric of an architecture.

    Args:
        metric (str): ``'madds'``, ``'params'``, ``'bitops'`` or ``'latency'`` (the bound is then read by
            :func:`bound_value`, so ``Limit("madds", "330M", measure)`` works and a NaN, negative or
            fractional count is handled by the one rule), or any other name for a metric of your own
            (its bound must be a finite number).
        value (float or str): the bound, in the metric's unit (counts, or milliseconds).
        measure (callable): ``measure(arch) -> float`` in the same unit.
    """

    metric: str
    value: float
    measure: Callable

    def __post_init__(self) -> None:
        if self.metric in METRICS:
            value = bound_value(self.metric, self.value)
        elif isinstance(self.value, bool) or not isinstance(self.value, numbers.Real) \
                or not math.isfinite(self.value):
            raise ConstraintError(f"limit {self.metric} <= {self.value!r}: the bound must be a finite number")
        else:
            value = float(self.value)
        object.__setattr__(self, "value", value)

    def __call__(self, arch) -> bool:
        return self.measure(arch) <= self.value

    def __repr__(self) -> str:
        return f"Limit({self.metric} <= {self.value:g})"


def make_limit(metric: str, value, latency=None) -> Limit:
    """The limit ``metric <= value`` measured by graphnas's own models.

    Args:
        metric (str): ``'madds'``, ``'params'``, ``'bitops'`` (analytic cost) or ``'latency'``.
        value (str or float): ``"330M"`` / ``"17ms"`` (units required) or a number in the metric's unit
            (counts, milliseconds), read by :func:`bound_value`.
        latency (LatencyModel, optional): predicts latency; required for ``'latency'``.
    """
    bound = bound_value(metric, value)  # unknown metric, no unit, NaN, infinite, negative: one line
    if metric == "latency":
        if latency is None:
            raise ConstraintError("a latency limit needs a latency table for this device; build one with "
                                  "`graphnas latency build SPACE --out FILE` and pass it")
        return Limit("latency", bound, latency.latency)

    def measure(arch) -> float:
        return getattr(arch_cost(arch), metric)

    return Limit(metric, bound, measure)


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
    any_feasible = False
    for _ in range(tries):
        arch = propose()
        ok = True
        for c in constraints:
            value = c.measure(arch)
            lowest[c.metric] = min(lowest.get(c.metric, math.inf), value)
            ok = ok and value <= c.value
        if ok:
            if not exclude or arch.hash not in exclude:
                return arch
            any_feasible = True
    if any_feasible:
        return None
    detail = ", ".join(f"{c.metric} <= {c.value:g} (smallest seen {lowest[c.metric]:g})" for c in constraints)
    raise ConstraintError(f"no architecture met {detail} in {tries} tries; {fix}")
