"""Small helpers shared across graphnas: random generators, divisibility, atomic file writes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

__all__ = ["as_rng", "make_divisible", "atomic_target", "atomic_write_bytes", "atomic_write_text", "atomic_write_json"]


def as_rng(rng: int | np.random.Generator | None = None) -> np.random.Generator:
    """Return a numpy Generator: pass one through, or seed a new one from an int (or fresh entropy).

    Every random function in graphnas takes ``rng`` and calls this, so results are reproducible
    from a seed.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (MobileNet rule).

    Never goes below ``min_value`` (default ``divisor``) and never drops more than 10% below
    ``value``.

    >>> make_divisible(32 * 0.25), make_divisible(24 * 1.4), make_divisible(10)
    (8, 32, 16)
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file next to ``path``, renamed onto it when the ``with`` block succeeds.

    A reader never sees a half-written file, and an interrupted write leaves the old file intact; a
    temporary left by a killed writer (``.NAME.PID.XXXXXXXX.tmp``) is removed by the next run that locks
    the output (:func:`graphnas.files.output_lock`).
    The file gets the permissions ``open()`` would give it (not ``mkstemp``'s 0600)::

        with atomic_target("ckpt.pt") as tmp:
            torch.save(state, tmp)
    """
    from .files import TEMP_SUFFIX, temp_prefix

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_target`)."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy the file ``source`` to ``path`` atomically (see :func:`atomic_target`)."""
    with atomic_target(path) as tmp:
        shutil.copyfile(source, tmp)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (see :func:`atomic_write_text`)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
