"""Number checks shared by the command line, the config objects and the file readers, so all refuse the
same values alike.

:func:`check_int` / :func:`check_float` raise a one-line :class:`~graphnas.errors.GraphnasError` for a value
of the wrong type or out of range (floats must be finite: ``nan``, ``inf`` and ``1e309`` are refused).
:func:`int_arg` / :func:`float_arg` wrap them as argparse ``type=`` functions: ``--seed -1`` or ``--lr inf``
fails while the flags are parsed, before any work, with argparse's error (one line under ``graphnas``,
whose parser prints it as ``graphnas: error: argument --seed: ...``).
"""

from __future__ import annotations

import argparse
import json
import math
import numbers

from .errors import GraphnasError

__all__ = ["shown", "INT64_MAX", "MAX_RESOLUTION", "MAX_LR", "MAX_LOOKUP_ROWS", "check_int", "check_float", "int_arg",
           "float_arg"]

#: Largest integer any count or seed may take: what SQLite, numpy and torch store without overflow.
INT64_MAX = 2 ** 63 - 1
#: Largest input resolution (a side in pixels) a job accepts: beyond it the data alone would not fit in memory.
MAX_RESOLUTION = 4096
#: Largest learning rate: SGD steps beyond it only diverge (``lr=1e24`` trains to NaN as surely as ``inf``).
MAX_LR = 10.0
#: Largest lookup subspace (rows) and number of labels a job may ask for: the table and its GCN must fit in memory.
MAX_LOOKUP_ROWS = 10_000_000


def _range_text(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    def num(x) -> str:
        return f"{x:g}" if isinstance(x, float) else str(x)

    if (hi is None or hi == INT64_MAX or hi == math.inf) and (lo == -math.inf or lo <= -INT64_MAX):
        return "that is finite"
    if hi is None or hi == INT64_MAX or hi == math.inf:
        return f"{'>' if lo_open else '>='} {num(lo)}"
    if lo == -math.inf or lo <= -INT64_MAX:
        return f"{'<' if hi_open else '<='} {num(hi)}"
    return f"in {'(' if lo_open else '['}{num(lo)}, {num(hi)}{')' if hi_open else ']'}"


def check_int(name: str, value, lo: int = 0, hi: int = INT64_MAX, error: type[GraphnasError] = GraphnasError) -> int:
    """``value`` as an int if it is an integer (not a bool) in ``[lo, hi]``; else ``error`` with one line."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name}={value!r} must be an integer {_range_text(lo, hi)}")
    if value > hi:
        shown = str(value) if len(str(value)) <= 30 else f"{str(value)[:12]}...({len(str(value))} digits)"
        raise error(f"{name}={shown} is too large; give an integer "
                    f"{f'<= {hi}' if lo <= -INT64_MAX else f'in [{lo}, {hi}]'}")
    if value < lo:
        raise error(f"{name}={value} is out of range; give an integer {_range_text(lo, hi)}")
    return int(value)


def check_float(name: str, value, lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False,
                hi_open: bool = False, error: type[GraphnasError] = GraphnasError) -> float:
    """``value`` as a float if it is a finite real number in the range; else ``error`` with one line.

    The range is ``[lo, hi]``, with ``lo_open`` / ``hi_open`` excluding an end (``lr`` > 0: ``lo=0, lo_open=True``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{name}={value!r} must be a number {_range_text(lo, hi, lo_open, hi_open)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond a float's range
        v = math.inf
    if not math.isfinite(v):
        raise error(f"{name}={value!r} is not a finite number; give a number {_range_text(lo, hi, lo_open, hi_open)}")
    if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
        raise error(f"{name}={value!r} is out of range; give a number {_range_text(lo, hi, lo_open, hi_open)}")
    return v


def int_arg(lo: int = 0, hi: int = INT64_MAX):
    """An argparse ``type=``: a decimal integer in ``[lo, hi]`` (``--seed``: ``int_arg(0)``)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer; give an integer "
                                             f"{_range_text(lo, hi)}") from None
        try:
            return check_int("value", value, lo, hi)
        except GraphnasError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("value=")) from None

    parse.__name__ = "integer"
    return parse


def float_arg(lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False):
    """An argparse ``type=``: a finite number in the range (``--lr``: ``float_arg(0, lo_open=True)``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number; give a number "
                                             f"{_range_text(lo, hi, lo_open, hi_open)}") from None
        try:
            check_float("value", value, lo, hi, lo_open, hi_open)
        except GraphnasError as err:
            raise argparse.ArgumentTypeError(str(err).replace(f"value={value!r}", repr(text[:40]), 1)) from None
        return value

    parse.__name__ = "number"
    return parse


def shown(value, limit: int = 60) -> str:
    """An untrusted value as it appears in a one-line message: JSON (``NULL`` for None, ``repr`` for bytes and
    what JSON cannot show), a tensor or array by its dtype and shape, a long container by its length; cut to
    ``limit`` characters."""
    if value is None:
        return "NULL"
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (str, bytes)):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, (bytes, bytearray)):
        text = repr(value)
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            try:
                text = repr(value)
            except Exception:  # noqa: BLE001 - a hostile __repr__ must not replace the message
                text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    if len(text) > limit and isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return text if len(text) <= limit else text[:limit - 3] + "..."
