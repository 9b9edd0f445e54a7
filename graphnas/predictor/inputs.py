"""Free per-architecture inputs for the predictor, besides the choices themselves.

Every column here is known for every architecture without training anything, so a predictor may use it on
the unlabelled nodes as well as the labelled ones:

* ``cost``: the analytic cost of the architecture at the space's scale (:func:`graphnas.cost.model.batch_costs`):
  ``log(1 + params)`` and ``log(1 + MAdds)``, standardised with their mean and standard deviation over the
  space (every architecture of a space of up to 65,536; else 4,096 drawn with seed 0, so chunks of one space
  always get the same affine map). On NAS-Bench-201 parameters alone rank the cells at Kendall tau 0.57
  against CIFAR-10 accuracy.
* ``path``: the DAG-structure encoding of a small cell (BANANAS's path encoding): one column per path from
  an input node of the cell to its output node and per sequence of real (not ``none``) operators along it,
  1 where the architecture runs that sequence on that path. NAS-Bench-201: paths of 1, 2, 2 and 3 edges,
  5 + 25 + 25 + 125 = 180 columns. Spaces where this would exceed :data:`MAX_PATH_COLUMNS` columns (a
  chain of 21 blocks has one path with 7^21 sequences) are refused.

Both are computed from node ids (mixed-radix indices) in chunks, like the choice features.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from ..errors import PredictorError
from ..space.encoding import choices_of, size_of

__all__ = ["EXTRAS", "MAX_PATH_COLUMNS", "cost_columns", "path_columns", "extra_width", "host_of"]

EXTRAS = ("cost", "path")
MAX_PATH_COLUMNS = 4096
_EXACT = 1 << 16  # spaces up to this size standardise the cost over every architecture
_SAMPLE = 4096
_NONE = "none"
_CACHE: dict = {}  # (what, fingerprint[, scale]) -> cost statistics or path layout


def host_of(space):
    """The space whose architectures give ``space``'s extra inputs: itself, or for a subspace that is not a
    SearchSpace (the gcn search's segment with its super-cell, which has ``parent_choices``) its whole space."""
    return space.space if hasattr(space, "parent_choices") else space


def _space(space, what: str):
    if not hasattr(space, "edges") or not hasattr(space, "radices"):
        raise PredictorError(f"{what} features need the SearchSpace itself, not its radices")
    return space


def _log_costs(space, choices: np.ndarray) -> np.ndarray:
    from ..cost.model import FIELDS, batch_costs

    costs = batch_costs(space, choices)
    return np.log1p(costs[:, [FIELDS.index("params"), FIELDS.index("madds")]].astype(np.float64))


def _cost_stats(space) -> tuple[np.ndarray, np.ndarray]:
    key = ("cost", space.fingerprint, json.dumps(space.scale, sort_keys=True, default=str))
    stats = _CACHE.get(key)
    if stats is None:
        r = np.asarray(space.radices, dtype=np.int64)
        n = size_of(r)
        ids = np.arange(n, dtype=np.int64) if n <= _EXACT else np.random.default_rng(0).integers(0, n, _SAMPLE)
        v = _log_costs(space, choices_of(r, ids))
        stats = (v.mean(axis=0), np.where(v.std(axis=0) > 0, v.std(axis=0), 1.0))
        stats = _CACHE[key] = stats
    return stats


def cost_columns(space, choices: np.ndarray) -> torch.Tensor:
    """``[n, 2]`` float32: standardised ``log(1 + params)`` and ``log(1 + MAdds)`` of choice vectors ``choices``."""
    space = _space(space, "cost")
    mean, std = _cost_stats(space)
    return torch.from_numpy(((_log_costs(space, choices) - mean) / std).astype(np.float32))


def _paths(space) -> list[list[int]]:
    """Edge positions of every path from a source node of the cell to its sink."""
    if len(space.templates) != 1:
        raise PredictorError(f"path features need one cell template; space '{space.name}' has "
                             f"{len(space.templates)}")
    edges = [(e.src, e.dst) for e in space.edges]
    template = list(range(len(edges)))
    nodes = {n for i in template for n in edges[i]}
    into = {n: [i for i in template if edges[i][1] == n] for n in nodes}
    out = {n: [i for i in template if edges[i][0] == n] for n in nodes}
    sources = sorted(n for n in nodes if not into[n])
    sinks = sorted(n for n in nodes if not out[n])
    if len(sinks) != 1:
        raise PredictorError(f"path features need a cell with one output node; space '{space.name}' has "
                             f"{len(sinks)}")
    found: list[list[int]] = []

    def walk(node, path):
        if node == sinks[0]:
            found.append(path)
            return
        for i in out[node]:
            walk(edges[i][1], path + [i])

    for s in sources:
        walk(s, [])
    return found


def _path_layout(space):
    layout = _CACHE.get(("path", space.fingerprint))
    if layout is None:
        paths = _paths(space)
        real = [[c for c, op in enumerate(e.candidates) if op != _NONE] for e in space.edges]
        sizes = [math.prod(len(real[i]) for i in p) for p in paths]
        if sum(sizes) > MAX_PATH_COLUMNS:
            raise PredictorError(f"path features of space '{space.name}' would have {sum(sizes):,} columns (more "
                                 f"than {MAX_PATH_COLUMNS:,}): they suit small cells such as NAS-Bench-201's; use "
                                 f"the choice features (gray or onehot), with cost if wanted")
        code = []  # per edge: candidate position -> index among its real candidates (-1 for none)
        for e, ks in zip(space.edges, real):
            m = np.full(len(e.candidates), -1, dtype=np.int64)
            m[ks] = np.arange(len(ks))
            code.append(m)
        layout = _CACHE[("path", space.fingerprint)] = (paths, real, sizes, code)
    return layout


def path_columns(space, choices: np.ndarray) -> torch.Tensor:
    """``[n, columns]`` float32 path encoding of choice vectors ``choices`` (module docstring)."""
    space = _space(space, "path")
    paths, real, sizes, code = _path_layout(space)
    out = np.zeros((len(choices), sum(sizes)), dtype=np.float32)
    offset = 0
    for p, size in zip(paths, sizes):
        index = np.zeros(len(choices), dtype=np.int64)
        alive = np.ones(len(choices), dtype=bool)
        for i in p:
            k = code[i][choices[:, i]]
            alive &= k >= 0
            index = index * len(real[i]) + np.maximum(k, 0)
        rows = np.flatnonzero(alive)
        out[rows, offset + index[rows]] = 1.0
        offset += size
    return torch.from_numpy(out)


def extra_width(space, kind: str) -> int:
    """Columns of extra input ``kind``."""
    if kind == "cost":
        _space(space, "cost")
        return 2
    return sum(_path_layout(_space(space, "path"))[2])
