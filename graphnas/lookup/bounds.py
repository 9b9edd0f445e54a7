"""Limits of a lookup query: parsed from what users write (``17ms``, ``330M``) and written back the same way."""

from __future__ import annotations

import math
from decimal import Decimal

from ..cost.limits import METRICS, parse_count, parse_latency
from ..errors import ConstraintError

__all__ = ["format_limit", "parse_limit", "describe_limits"]


def format_limit(metric: str, value: float) -> str:
    """A limit value as the user would write it (counts with K/M/G, latency in ms), never rounded down."""
    if metric == "latency":
        return f"{math.ceil(value * 1e4) / 1e4:g}ms"
    count = math.ceil(value)  # exact: counts are integers, and a fraction is never rounded down
    for unit, exp in (("T", 12), ("G", 9), ("M", 6), ("K", 3)):
        if count >= 10 ** exp:
            return format(Decimal(count).scaleb(-exp).normalize(), "f") + unit
    return f"{count}"


def parse_limit(metric: str, value) -> float:
    name = METRICS[metric]
    if isinstance(value, bool):
        raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. "
                              f"{'17ms' if metric == 'latency' else '330M'}")
    if isinstance(value, str):
        if value.strip().startswith("-"):
            raise ConstraintError(f"{name} limit '{value}' is negative; a limit is an upper bound >= 0")
        if metric == "latency":
            bound = parse_latency(value)
        else:  # counts are integers: undo the float error of "514.368K" -> 514368.00000000006
            bound = parse_count(value, name)
            if abs(bound - round(bound)) <= 1e-9 * max(1.0, bound):
                bound = float(round(bound))
    else:
        try:
            bound = float(value)
        except (TypeError, ValueError):
            raise ConstraintError(f"{name} limit {value!r} is not a number; write e.g. "
                                  f"{'17ms' if metric == 'latency' else '330M'}") from None
        if math.isnan(bound):
            raise ConstraintError(f"{name} limit is NaN; give a number")
        if bound < 0:
            raise ConstraintError(f"{name} limit {value} is negative; a limit is an upper bound >= 0")
    return bound


def describe_limits(limits: dict) -> str:
    return " and ".join(f"{METRICS[m]} <= {format_limit(m, v)}" for m, v in limits.items())
