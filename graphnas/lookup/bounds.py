"""Limits of a lookup query: parsed from what users write (``17ms``, ``330M``) and written back the same way."""

from __future__ import annotations

import math
from decimal import Decimal

from ..cost.limits import METRICS, bound_value

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
    """The bound of a limit as :func:`graphnas.cost.limits.bound_value` reads it (unit required, finite, > 0);
    counts are integers, so the float error of ``"514.368K"`` (514368.00000000006) is undone."""
    bound = bound_value(metric, value)
    if metric != "latency" and isinstance(value, str) and abs(bound - round(bound)) <= 1e-9 * max(1.0, bound):
        bound = float(round(bound))
    return bound


def describe_limits(limits: dict) -> str:
    return " and ".join(f"{METRICS[m]} <= {format_limit(m, v)}" for m, v in limits.items())
