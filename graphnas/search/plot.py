"""A search as a picture: every evaluated architecture's accuracy against each cost objective, the front
highlighted, the true front too when an oracle knows it; PC-NAS's potentials edge by edge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..errors import GraphnasError
from ..render.figures import new_figure, plot_format, save_figure
from .pareto import front

if TYPE_CHECKING:
    from .result import SearchResult

__all__ = ["plot_front", "plot_potentials"]

_AXES = {"madds": ("MAdds (M)", 1e-6), "params": ("parameters (M)", 1e-6), "bitops": ("BitOps (G)", 1e-9),
         "latency": ("latency (ms)", 1.0)}


def plot_front(result: "SearchResult", path: str | Path, title: str | None = None,
               true_front: Mapping[str, Sequence] | None = None, ylabel: str = "accuracy (estimated)") -> Path:
    """Draw ``result``: one panel per cost objective, accuracy against that cost. Every evaluation is a grey dot
    (coloured by when it was evaluated), the non-dominated set over *all* objectives is ringed, and the
    accuracy-cost front of each panel is a red step line.

    Args:
        result (SearchResult): the search.
        path (str or Path): ``.png``, ``.svg`` or ``.pdf``.
        title (str, optional): the figure's title.
        true_front (dict, optional): ``cost -> (costs, accuracies)`` of the true front (a benchmark's oracle),
            drawn as a black dashed line in that cost's panel.
        ylabel (str): the accuracy axis's label (default: ``"accuracy (estimated)"``).
    """
    fmt = plot_format(path, "a search front", GraphnasError)
    if not result.history:
        raise GraphnasError("the search evaluated nothing; there is no front to draw")
    costs = list(result.objectives[1:])
    fig = new_figure(4.6 * len(costs), 3.8)
    axes = [fig.add_subplot(1, len(costs), k + 1) for k in range(len(costs))]
    score = np.array([r.score for r in result.history])
    on = {r.arch.hash for r in result.front()}
    ring = np.array([r.arch.hash in on for r in result.history])
    for ax, cost in zip(axes, costs):
        label, unit = _AXES.get(cost, (cost, 1.0))
        x = np.array([r.costs[cost] for r in result.history]) * unit
        ax.scatter(x, score, c=np.arange(len(x)), cmap="Greys", vmin=-0.3 * len(x), s=10,
                          label=f"evaluated ({len(x)})")
        ax.scatter(x[ring], score[ring], facecolors="none", edgecolors="tab:blue", s=40,
                   label=f"non-dominated ({int(ring.sum())})")
        idx = front(x, score)
        ax.step(x[idx], score[idx], where="post", color="tab:red", lw=1.2, label=f"front over {cost}")
        if true_front and cost in true_front:
            tx, ty = (np.asarray(v, dtype=float) for v in true_front[cost])
            order = np.argsort(tx)
            ax.step(tx[order] * unit, ty[order], where="post", color="black", ls="--", lw=1, label="true front")
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
    fig.suptitle(title or f"{result.strategy}: {len(result.history)} evaluations", fontsize=10)
    for ax in axes[1:]:
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    return save_figure(fig, axes[0], path, fmt, legend_loc="lower right")


def plot_potentials(log: Sequence[Mapping], space, path: str | Path, title: str | None = None) -> Path:
    """PC-NAS's boundaries as a picture: for each choice edge (x), every extension's potential (y), the ones kept
    in the pool coloured and labelled with their operator, the others grey.

    Args:
        log (sequence of dict): :attr:`graphnas.search.pcnas.PCNAS.log` (one record per boundary).
        space (SearchSpace): the space (operator names).
        path (str or Path): ``.png``, ``.svg`` or ``.pdf``.
        title (str, optional): the figure's title.
    """
    fmt = plot_format(path, "PC-NAS potentials", GraphnasError)
    if not log:
        raise GraphnasError("PC-NAS passed no boundary yet; there are no potentials to draw")
    fig = new_figure(max(5.0, 0.45 * len(log) + 2), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for k, entry in enumerate(log):
        pots = np.asarray(entry["potentials"], dtype=float)
        counted = np.asarray(entry["counts"]) > 0
        kept = np.zeros(len(pots), dtype=bool)
        kept[list(entry["kept"])] = True
        jitter = (np.arange(len(pots)) % 7 - 3) * 0.04
        drop = counted & ~kept
        ax.scatter(k + jitter[drop], pots[drop], s=8, color="0.7", label="extension" if k == 0 else None)
        ax.scatter(k + jitter[kept], pots[kept], s=22, color="tab:red", label="kept in the pool" if k == 0 else None)
        best = entry["kept"][0]
        ax.annotate(space.edges[entry["edge"]].candidates[entry["ops"][best]], (k, pots[best]), fontsize=6,
                    rotation=60, xytext=(2, 4), textcoords="offset points")
    ax.set_xticks(range(len(log)))
    ax.set_xticklabels([str(entry["edge"]) for entry in log], fontsize=7)
    ax.set_xlabel("choice edge fixed at the boundary (the best extension's operator named)")
    ax.set_ylabel("potential (mean mini-batch accuracy)")
    ax.set_title(title or f"PC-NAS potentials on {space.name}", fontsize=10)
    return save_figure(fig, ax, path, fmt, legend_loc="lower right")
