"""Pictures of how a weight-sharing ranking behaves over training: its fluctuation and its curve.

* :func:`plot_fluctuation`: ST-NAS's Fig. 5. The rank each architecture gets from the supernet at successive
  checkpoints, one line per architecture coloured by its true rank: lines that cross from one checkpoint to
  the next are the fluctuation that makes a single checkpoint an unreliable judge.
* :func:`plot_curve`: Kendall tau against supernet training epochs, one line per series (estimator or kind of
  run), the points of every seed and the median joined, with the ground truth's own ceiling as a dashed line.

Both are drawn on matplotlib's Agg canvas without pyplot and written atomically (:mod:`graphnas.render.figures`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from ..errors import EstimatorError
from ..render.figures import new_figure, plot_format, save_figure

__all__ = ["plot_fluctuation", "plot_curve"]


def plot_fluctuation(scores: Sequence[Sequence[float]], true: Sequence[float], path, checkpoints=None,
                     title: str | None = None) -> Path:
    """Rank of every architecture (1 = best) at each checkpoint, lines coloured by the true rank.

    Args:
        scores: one row per checkpoint, one estimated accuracy per architecture (the same order as ``true``).
        true: the ground truth, one value per architecture.
        path: output file (``.png``, ``.svg``, ``.pdf``).
        checkpoints (sequence, optional): x labels, one per row (default 1, 2, ...).
        title (str, optional): the title.

    Returns:
        Path: ``path``.
    """
    s = np.asarray(scores, dtype=float)
    t = np.asarray(true, dtype=float)
    if s.ndim != 2 or t.ndim != 1 or s.shape[1] != len(t) or len(t) < 2 or len(s) < 1:
        raise EstimatorError(f"plot_fluctuation needs scores of shape (checkpoints, {len(t)}) and a 1-D truth of at "
                             f"least 2 architectures, got {s.shape} and {t.shape}")
    if not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise EstimatorError("plot_fluctuation: scores and truth must be finite")
    xs = list(range(1, len(s) + 1)) if checkpoints is None else list(checkpoints)
    if len(xs) != len(s):
        raise EstimatorError(f"plot_fluctuation: {len(xs)} checkpoint labels for {len(s)} rows")
    path = Path(path)
    fmt = plot_format(path, "a fluctuation plot", EstimatorError)
    ranks = np.array([rankdata(-row, method="average") for row in s])
    true_rank = rankdata(-t, method="ordinal")
    fig = new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap = colormaps["viridis"]
    n = len(t)
    for j in np.argsort(true_rank):
        ax.plot(xs, ranks[:, j], color=cmap((true_rank[j] - 1) / max(1, n - 1)), lw=1.0, marker="o", ms=2.5,
                alpha=0.85)
    ax.invert_yaxis()
    bar = fig.colorbar(ScalarMappable(Normalize(1, n), cmap), ax=ax)
    bar.set_label("true rank")
    ax.set_xlabel("checkpoint (supernet epoch)")
    ax.set_ylabel("rank by the supernet (1 = best)")
    ax.set_title(title or "rank of each architecture over checkpoints", fontsize=9)
    return save_figure(fig, ax, path, fmt, legend_loc=None)


def plot_curve(series: Mapping[str, Mapping[float, Sequence[float]]], path, ceiling: float | None = None,
               ceiling_label: str = "ground truth's ceiling", xlabel: str = "supernet epochs",
               ylabel: str = "Kendall tau vs ground truth", title: str | None = None) -> Path:
    """Lines of a metric against epochs: for each series, every seed's value as a dot and the median joined.

    Args:
        series: ``{label: {epochs: [value per seed]}}``.
        path: output file (``.png``, ``.svg``, ``.pdf``).
        ceiling (float, optional): drawn as a dashed line labelled ``ceiling_label`` (the tau a perfect estimator
            reaches against the ground truth, :func:`~graphnas.estimate.groundtruth.ground_truth_stats`).
        xlabel, ylabel, title: labels.

    Returns:
        Path: ``path``.
    """
    if not series or not all(isinstance(v, Mapping) and v for v in series.values()):
        raise EstimatorError("plot_curve needs at least one series of {epochs: [values]}")
    path = Path(path)
    fmt = plot_format(path, "a curve plot", EstimatorError)
    fig = new_figure(5.5, 4.0)
    ax = fig.add_subplot()
    for k, (label, points) in enumerate(series.items()):
        xs = sorted(points)
        color = f"C{k % 10}"
        for x in xs:
            vals = np.asarray(points[x], dtype=float)
            ax.scatter([x] * len(vals), vals, s=10, color=color, alpha=0.5, edgecolors="none")
        ax.plot(xs, [float(np.median(points[x])) for x in xs], color=color, marker="o", ms=4, label=label)
    if ceiling is not None:
        ax.axhline(ceiling, color="k", ls="--", lw=1, label=ceiling_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, ax, path, fmt, legend_loc="lower right")
