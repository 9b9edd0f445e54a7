"""Node features of the Hamming graph: the architecture's choices as bits.

``gray`` (default): the reflected Gray code of each choice, ``ceil(log2 r_i)`` bits for position
``i`` (most significant first; a fixed position, ``r_i = 1``, has none), as in GCN-NAS; reuses
:func:`graphnas.space.architecture.gray_bits`. NAS-Bench-201: 6 x 3 = 18 bits. Consecutive candidates differ
in one bit, so the code is compact but imposes an order on the candidates.

``onehot``: one column per candidate of every position with more than one (``sum r_i`` columns,
fixed positions left out); no order imposed, wider.

Extra inputs (:mod:`graphnas.predictor.inputs`) join with ``+``: ``"onehot+cost"`` appends the analytic cost
columns, ``"onehot+path"`` the path encoding of a small cell, ``"cost"`` alone uses no choice bits at all.
A subspace that is not a SearchSpace (the gcn search's segment with its super-cell) gives its inputs through
``parent_choices(local choices)`` and ``space``: they are those of the whole space's architectures.

Features are float32 tensors ``[n, bits]``, computed from node ids (the mixed-radix index) without
building :class:`~graphnas.space.architecture.Architecture` objects, so millions of rows take seconds; for spaces
too large to hold ``[N, bits]`` at once, call them on chunks of ids.
"""

from __future__ import annotations

import numpy as np
import torch

from ..space.architecture import gray_bits, gray_widths
from ..errors import PredictorError
from ..space.encoding import choices_of, size_of
from .hamming import _ids, radices_of
from .inputs import EXTRAS, cost_columns, extra_width, host_of, path_columns

__all__ = ["FEATURES", "gray_features", "onehot_features", "node_features", "feature_width", "parse_features"]

FEATURES = ("gray", "onehot")


def parse_features(kind: str) -> tuple[str | None, tuple[str, ...]]:
    """``"onehot+cost"`` as ``("onehot", ("cost",))``: at most one choice encoding (:data:`FEATURES`), then extra
    inputs (:data:`~graphnas.predictor.inputs.EXTRAS`), each once."""
    parts = [p.strip() for p in str(kind).split("+")]
    choice = [p for p in parts if p in FEATURES]
    extras = tuple(p for p in parts if p in EXTRAS)
    if len(choice) + len(extras) != len(parts) or len(choice) > 1 or len(set(extras)) != len(extras) or not parts:
        raise PredictorError(f"unknown feature kind {kind!r}; use one of {', '.join(FEATURES)}, optionally with "
                             f"{' and '.join('+' + e for e in EXTRAS)} (e.g. onehot+cost), or extras alone")
    return (choice[0] if choice else None), extras


def _choices(radices: np.ndarray, ids) -> np.ndarray:
    """Choice vectors of node ids (default: every node), the ids checked as the graph's."""
    size = size_of(radices)
    return choices_of(radices, np.arange(size, dtype=np.int64) if ids is None else _ids(ids, size))


def gray_features(space, ids=None) -> torch.Tensor:
    """Gray-code bits of nodes ``ids`` (default: all), ``[n, sum(ceil(log2 r_i))]`` float32."""
    r = radices_of(space)
    c = _choices(r, ids)
    return torch.from_numpy(gray_bits(c, r).astype(np.float32))


def onehot_features(space, ids=None) -> torch.Tensor:
    """One-hot choices of nodes ``ids`` (default: all), ``[n, sum of r_i over positions with r_i > 1]`` float32."""
    r = radices_of(space)
    c = _choices(r, ids)
    free = np.flatnonzero(r > 1)
    offsets = np.concatenate([[0], np.cumsum(r[free])[:-1]]).astype(np.int64)
    out = np.zeros((len(c), int(r[free].sum())), dtype=np.float32)
    out[np.arange(len(c))[:, None], offsets[None, :] + c[:, free]] = 1.0
    return torch.from_numpy(out)


def feature_width(space, kind: str = "gray") -> int:
    """Columns of :func:`node_features` for ``space``."""
    choice, extras = parse_features(kind)
    r = radices_of(space)
    width = 0 if choice is None else int(gray_widths(r).sum()) if choice == "gray" else int(r[r > 1].sum())
    return width + sum(extra_width(host_of(space), e) for e in extras)


def node_features(space, ids=None, kind: str = "gray") -> torch.Tensor:
    """Features of nodes ``ids`` (default: all): ``kind`` is ``"gray"`` or ``"onehot"``, optionally joined with
    extra inputs (``"onehot+cost"``; module docstring).

    Raises:
        PredictorError: unknown ``kind``, extras asked of radices rather than a SearchSpace, or a space with a
            single architecture (nothing to predict).
    """
    choice, extras = parse_features(kind)
    if radices_of(space).max() <= 1:
        raise PredictorError("the space has a single architecture: there is nothing to predict")
    parts = []
    if choice is not None:
        parts.append(gray_features(space, ids) if choice == "gray" else onehot_features(space, ids))
    if extras:
        c, host = _choices(radices_of(space), ids), host_of(space)
        if host is not space:  # a subspace of another (the gcn search's segment): the whole space's inputs
            c = space.parent_choices(c)
        parts += [cost_columns(host, c) if e == "cost" else path_columns(host, c) for e in extras]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
