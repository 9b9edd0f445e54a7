"""Cost limits: parse ``"17ms"``, ``"330M"``, ``"5M"`` and check architectures against them.

Units are required, so a limit can never be read in the wrong unit: latency takes ``us``, ``ms`` or
``s`` (stored in milliseconds); counts (MAdds, FLOPs, parameters, BitOps) take ``K``, ``M``, ``G``
or ``T`` (powers of 1000): write ``1500K`` rather than ``1500000``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Container, Sequence

from ..errors import ConstraintError

if TYPE_CHECKING:
    from ..arch import Architecture

__all__ = ["parse_latency", "parse_count", "bound_value", "Limit", "make_limit", "METRICS", "sample_feasible"]

_NUMBER = r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"
_LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_COUNT_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def _checked(value: float, what: str, given, example: str) -> float:
    """``value`` if it is a usable bound (finite, > 0); else one line naming ``given`` as the user wrote it."""
    if math.isnan(value):
        raise ConstraintError(f"{what} limit {given!r} is NaN, not a number; write e.g. {example}")
    if math.isinf(value):
        raise ConstraintError(f"{what} limit {given!r} is too large (not a finite number); write a finite limit "
                              f"such as {example}, or leave the limit out")
    if value < 0:
        raise ConstraintError(f"{what} limit {given!r} is negative; a limit is an upper bound > 0, e.g. {example}")
    if value == 0:  # every network has a stem and a head: no cost is ever 0
        raise ConstraintError(f"{what} limit {given!r} is zero, which no architecture meets; give a limit > 0, "
                              f"e.g. {example}")
    return value


def parse_latency(text: str) -> float:
    """Parse a latency limit into milliseconds (finite, > 0).

    >>> parse_latency("17ms"), parse_latency("250us"), parse_latency("0.02s")
    (17.0, 0.25, 20.0)
    """
    m = re.fullmatch(_NUMBER + r"(us|ms|s)?\s*", str(text))
    if not m:
        raise ConstraintError(f"latency limit '{text}' is not a number with a unit; write e.g. 17ms, 250us or 0.02s")
    if m.group(2) is None:
        raise ConstraintError(f"latency limit '{text}' has no unit; write {m.group(1)}ms (or us, s)")
    return _checked(float(m.group(1)) * _LATENCY_UNITS[m.group(2)], "latency", text, "17ms")


def parse_count(text: str, what: str = "count") -> float:
    """Parse a count limit (MAdds, FLOPs, parameters) with a K/M/G/T suffix (finite, > 0).

    >>> parse_count("330M"), parse_count("1.5G"), parse_count("5M")
    (330000000.0, 1500000000.0, 5000000.0)
    """
    m = re.fullmatch(_NUMBER + r"([KkMGT])?\s*", str(text))
    if not m:
        raise ConstraintError(f"{what} limit '{text}' is not a number with a unit; write e.g. 330M, 1.5G or 800K")
    if m.group(2) is None:
        raise ConstraintError(f"{what} limit '{text}' has no unit; write e.g. {m.group(1)}M (units K, M, G, T)")
    return _checked(float(m.group(1)) * _COUNT_UNITS[m.group(2).upper()], what, text, "330M")


def bound_value(metric: str, value) -> float:
    """The bound of a user's limit on ``metric``: a string with its unit (``"17ms"``, ``"330M"``) or a number in
    the metric's unit (milliseconds, counts); finite and > 0, else a one-line :class:`ConstraintError`."""
    if metric not in METRICS:
        raise ConstraintError(f"unknown limit metric '{metric}'; choose one of {', '.join(METRICS)}")
    name, example = METRICS[metric], "17ms" if metric == "latency" else "330M"
    if isinstance(value, str):
        return parse_latency(value) if metric == "latency" else parse_count(value, name)
    if isinstance(value, bool):
        raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. {example}")
    try:
        bound = float(value)
    except OverflowError:  # an int beyond a float's range
        bound = math.inf
    except (TypeError, ValueError):
        raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. {example}") from None
    return _checked(bound, name, value, example)


@dataclass(frozen=True)
class Limit:
    """An upper bound on one cost metric of an architecture.

    Args:
        metric (str): a name for reports (``'madds'``, ``'params'``, ``'latency'``).
        value (float): the bound, in the metric's unit (counts, or milliseconds).
        measure (callable): ``measure(arch) -> float`` in the same unit.
    """

    metric: str
    value: float
    measure: Callable

    def __call__(self, arch) -> bool:
        return self.measure(arch) <= self.value

    def __repr__(self) -> str:
        return f"Limit({self.metric} <= {self.value:g})"


#: Metrics a :class:`Limit` can bound, with their names in messages.
METRICS = {"madds": "MAdds", "params": "parameters", "bitops": "BitOps", "latency": "latency"}


def make_limit(metric: str, value, latency=None) -> Limit:
    """The limit ``metric <= value``; the one way graphnas turns a user's limit into a :class:`Limit`.

    Args:
        metric (str): ``'madds'``, ``'params'``, ``'bitops'`` (analytic cost) or ``'latency'``.
        value (str or float): ``"330M"`` / ``"17ms"`` (parsed, units required) or a number in the
            metric's unit (counts, milliseconds).
        latency (LatencyModel, optional): predicts latency; required for ``'latency'``.
    """
    bound = bound_value(metric, value)  # unknown metric, no unit, NaN, infinite, negative: one line
    if metric == "latency":
        if latency is None:
            raise ConstraintError("a latency limit needs a latency table for this device; build one with "
                                  "`graphnas latency build SPACE --out FILE` and pass it")
        return Limit("latency", bound, latency.latency)

    def measure(arch) -> float:
        from .model import arch_cost

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
