"""A lookup table as a picture: accuracy against a cost, with the answer the table gives under every limit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LookupTableError
from ..render.figures import new_figure, plot_format, save_figure
from .table import LIMIT_METRICS

if TYPE_CHECKING:
    from .table import LookupTable

__all__ = ["answer_curve", "plot_table"]

_UNITS = {"latency": "ms", "madds": "MAdds", "params": "parameters"}


def answer_curve(table: "LookupTable", metric: str = "latency") -> tuple[np.ndarray, np.ndarray]:
    """Row ids of the table's answers under every limit of ``metric``: ``(limits, ids)`` where ``ids[k]`` is
    what :meth:`~graphnas.lookup.LookupTable.best` returns for any limit in ``[limits[k], limits[k + 1])``
    (measured rows first, then predicted; ties by index), one entry per change of answer."""
    if metric not in LIMIT_METRICS:
        raise LookupTableError(f"unknown metric {metric!r}; choose one of {', '.join(LIMIT_METRICS)}")
    cost = table.column(metric)
    if np.isnan(cost).all():
        raise LookupTableError(f"{metric} unknown: the table was built without it")
    measured, predicted = table.column("measured"), table.column("predicted")
    tier = (~np.isnan(measured)).astype(np.int64)
    score = np.where(tier == 1, measured, predicted)
    order = np.lexsort((np.arange(len(cost)), cost))
    limits, ids, best = [], [], None
    for i in order.tolist():
        if best is None or (tier[i], score[i], -i) > (tier[best], score[best], -best):
            if best is not None and cost[i] == limits[-1]:
                ids[-1] = i  # same limit: the better row answers it
            else:
                limits.append(float(cost[i]))
                ids.append(i)
            best = i
    return np.array(limits), np.array(ids, dtype=np.int64)


def plot_table(table: "LookupTable", path: str | Path, metric: str = "latency", mark: int | None = None,
               title: str | None = None) -> Path:
    """Scatter every row's accuracy (measured where known, else predicted) against ``metric``, with the table's
    answer under every limit as a step line; ``mark`` (a row index) is circled. Written atomically; the
    suffix (``.png``, ``.svg``, ``.pdf``) picks the format."""
    path = Path(path)
    fmt = plot_format(path, "a lookup plot", LookupTableError)
    limits, ids = answer_curve(table, metric)
    cost, measured, predicted = table.column(metric), table.column("measured"), table.column("predicted")
    known = ~np.isnan(measured)
    scale = 1e6 if metric != "latency" else 1.0
    unit = f"{_UNITS[metric]}" if metric == "latency" else f"M {_UNITS[metric]}"
    fig = new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    ax.scatter(cost[~known] / scale, predicted[~known], s=3, alpha=0.25, color="tab:gray", edgecolors="none",
               label=f"predicted ({int((~known).sum()):,})")
    ax.scatter(cost[known] / scale, measured[known], s=12, alpha=0.8, color="tab:blue", edgecolors="none",
               label=f"measured ({int(known.sum()):,})")
    answer = np.where(known[ids], measured[ids], predicted[ids])
    ax.step(np.append(limits, cost.max()) / scale, np.append(answer, answer[-1]), where="post", color="tab:orange",
            lw=1.5, label="answer under a limit")
    if mark is not None:
        y = measured[mark] if known[mark] else predicted[mark]
        ax.scatter([cost[mark] / scale], [y], s=90, facecolors="none", edgecolors="tab:red", lw=1.5, label="example")
    ax.set_xlabel(f"{metric} ({unit})")
    ax.set_ylabel("accuracy")
    name = table.meta["space"]
    ax.set_title(f"{title or f'lookup table of {name}'}\n{len(table):,} architectures", fontsize=9)
    return save_figure(fig, ax, path, fmt, legend_loc="lower right")
