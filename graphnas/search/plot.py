"""A search as a picture: every evaluated architecture's accuracy against each cost objective, the front
highlighted, the true front too when an oracle knows it; PC-NAS's potentials edge by edge; SE-NAS's shrinking
(which operator of which edge left at which stage) and merging (the layer groups of each stage)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..errors import GraphnasError
from ..render.figures import new_figure, plot_format, save_figure
from .pareto import front

if TYPE_CHECKING:
    from .result import SearchResult

__all__ = ["plot_front", "plot_potentials", "plot_stages"]

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


_KEPT = "tab:green"
_ABSENT = "0.93"
_GROUP_COLOURS = ("tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
                  "tab:gray")


def _count(n: int) -> str:
    """``1234567 -> '1.2M'``, ``45600 -> '45.6k'``."""
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return str(n)


def _stage_label(entry: dict) -> str:
    """``"stage 2"``, ``"stage 2 (1.2M params)"`` or ``"stage 2 (1.2M params, 0.4M private)"``."""
    if entry["params"] is None:
        return f"stage {entry['stage']}"
    private = f", {_count(entry['private'])} private" if entry["private"] else ""
    return f"stage {entry['stage']} ({_count(entry['params'])} params{private})"


def _stage_edge(value, space, where: str) -> int:
    """An edge index (an int, or a str of one as JSON writes dict keys) within ``space``."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise GraphnasError(f"{where}: edge {value!r} is not an edge index (an int)")
    if not 0 <= int(value) < space.num_edges:
        raise GraphnasError(f"{where}: edge {int(value)} is out of range; space '{space.name}' has edges "
                            f"0..{space.num_edges - 1}")
    return int(value)


def _stage_op(op, edge: int, space, where: str) -> str:
    candidates = space.edges[edge].candidates
    if op not in candidates:
        raise GraphnasError(f"{where}: operator {op!r} is not a candidate of edge {edge} "
                            f"(candidates: {', '.join(candidates)})")
    return op


def _read_stages(stages, space) -> list[dict]:
    """``stages`` checked and normalised: ``stage`` (int), ``allowed`` (edge -> set of operators, every edge),
    ``removed`` (list of (edge, op)), ``groups`` (list of sorted edge lists), ``params`` (int or None)."""
    if isinstance(stages, (str, bytes, Mapping)) or not isinstance(stages, Sequence):
        raise GraphnasError(f"SE-NAS stages must be a list of dicts (one per stage), got {type(stages).__name__}")
    if not stages:
        raise GraphnasError("SE-NAS recorded no stage; there is no shrinking to draw")
    out = []
    for k, entry in enumerate(stages):
        if not isinstance(entry, Mapping):
            raise GraphnasError(f"SE-NAS stage entry {k} is a {type(entry).__name__}, not a dict")
        number = entry.get("stage", k)
        if isinstance(number, (bool, np.bool_)) or not isinstance(number, (int, np.integer)) or number < 0:
            raise GraphnasError(f"SE-NAS stage entry {k}: 'stage' must be an int >= 0, got {number!r}")
        number = int(number)
        if out and number <= out[-1]["stage"]:
            raise GraphnasError(f"SE-NAS stages must be in order: stage {number} (entry {k}) follows stage "
                                f"{out[-1]['stage']}")
        where = f"SE-NAS stage {number}"
        allowed = {e: set(space.edges[e].candidates) for e in range(space.num_edges)}
        given = entry.get("allowed") or {}
        if not isinstance(given, Mapping):
            raise GraphnasError(f"{where}: 'allowed' must map edge -> operators, got {type(given).__name__}")
        for key, ops in given.items():
            e = _stage_edge(key, space, where)
            if isinstance(ops, str) or not isinstance(ops, Sequence):
                raise GraphnasError(f"{where}: the operators allowed on edge {e} must be a list, got {ops!r}")
            if not ops:
                raise GraphnasError(f"{where}: edge {e} has no operator left")
            allowed[e] = {_stage_op(op, e, space, where) for op in ops}
        removed = []
        for pair in entry.get("removed") or ():
            if isinstance(pair, (str, Mapping)) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise GraphnasError(f"{where}: removed entry {pair!r} is not an [edge, operator] pair")
            e = _stage_edge(pair[0], space, where)
            removed.append((e, _stage_op(pair[1], e, space, where)))
        groups, seen = [], {}
        for g, group in enumerate(entry.get("groups") or ()):
            if isinstance(group, (str, Mapping)) or not isinstance(group, Sequence):
                raise GraphnasError(f"{where}: merged group {group!r} is not a list of edges")
            edges = sorted({_stage_edge(e, space, where) for e in group})
            for e in edges:
                if e in seen:
                    raise GraphnasError(f"{where}: edge {e} is in two merged groups ({seen[e]} and {g})")
                seen[e] = g
            groups.append(edges)
        params = entry.get("params")
        total, private = (params.get("total"), params.get("private")) if isinstance(params, Mapping) else (params, None)
        for value in (total, private):
            if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer))
                                      or value < 0):
                raise GraphnasError(f"{where}: 'params' must be an int >= 0 or a dict with an int 'total' (and "
                                    f"'private'), got {params!r}")
        if isinstance(params, Mapping) and total is None:
            raise GraphnasError(f"{where}: 'params' has no 'total': {params!r}")
        out.append(dict(stage=number, allowed=allowed, removed=removed, groups=groups,
                        params=None if total is None else int(total),
                        private=None if private is None else int(private)))
    return out


def _fates(stages: list[dict], space) -> dict[tuple[int, str], int | None]:
    """``(edge, op) -> the stage it was removed at`` (``None``: kept to the last stage). A removal counts from
    the stage that lists it in ``removed``, else from the first stage whose ``allowed`` leaves it out."""
    fate: dict[tuple[int, str], int | None] = {}
    for entry in stages:
        for e, op in entry["removed"]:
            if (e, op) in fate:
                raise GraphnasError(f"SE-NAS stage {entry['stage']}: operator '{op}' of edge {e} is removed again "
                                    f"(already removed at stage {fate[e, op]})")
            fate[e, op] = entry["stage"]
    gone: dict[tuple[int, str], int] = {}
    for entry in stages:
        for e in range(space.num_edges):
            for op in space.edges[e].candidates:
                here = op in entry["allowed"][e]
                if here and (e, op) in gone:
                    raise GraphnasError(f"SE-NAS stage {entry['stage']}: operator '{op}' of edge {e} is allowed "
                                        f"again after leaving at stage {gone[e, op]}")
                if here and fate.get((e, op), entry["stage"] + 1) <= entry["stage"]:
                    raise GraphnasError(f"SE-NAS stage {entry['stage']}: operator '{op}' of edge {e} is still "
                                        f"allowed, but was removed at stage {fate[e, op]}")
                if not here:
                    gone.setdefault((e, op), entry["stage"])
    for key, stage in gone.items():
        fate.setdefault(key, stage)
    return {(e, op): fate.get((e, op)) for e in range(space.num_edges) for op in space.edges[e].candidates}


def plot_stages(stages: Sequence[Mapping], space, path: str | Path, title: str | None = None) -> Path:
    """SE-NAS's shrinking and merging as a picture. Top: a grid with one column per choice edge and one row per
    operator; a cell where the operator is a candidate of the edge is green if the operator is kept to the last
    stage, else coloured (and numbered) by the stage that removed it; other cells are light grey. Bottom: one row
    per stage, each merged layer group drawn as a bar over its edges (its partial models have private weights).

    Args:
        stages (sequence of dict): one per stage, in order (stage 0: the warm-up), with ``"stage"`` (int),
            ``"allowed"`` (edge -> the operators still in the space during the stage; edges as ints or as
            strings of ints, as JSON gives them back; an edge left out keeps all its candidates),
            ``"removed"`` (``[edge, operator]`` pairs removed at the start of the stage), ``"groups"`` (lists
            of edges: the merged layer groups during the stage; may be empty) and optionally ``"params"`` (the
            supernet's parameter count during the stage: an int, or ``{"total": n, "private": m, ...}`` as
            :meth:`graphnas.nets.supernet.Supernet.parameter_counts` gives it; ``None``: not known).
        space (SearchSpace): the full space (before any shrinking).
        path (str or Path): ``.png``, ``.svg`` or ``.pdf``.
        title (str, optional): the figure's title (default: ``"SE-NAS on <space>: operators kept per stage"``).

    Raises:
        GraphnasError: no stage, an edge out of range, an operator that is not a candidate of its edge, stages
            out of order, an edge in two groups of one stage, or removals that contradict ``allowed``.
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    fmt = plot_format(path, "SE-NAS stages", GraphnasError)
    stages = _read_stages(stages, space)
    fate = _fates(stages, space)
    columns = [e for e in range(space.num_edges) if len(space.edges[e].candidates) > 1]
    if not columns:
        raise GraphnasError(f"space '{space.name}' has no edge with a choice; there is no shrinking to draw")
    ops: list[str] = []
    for e in columns:
        ops.extend(op for op in space.edges[e].candidates if op not in ops)
    last = stages[-1]["stage"]
    removal_stages = sorted({s for (e, _), s in fate.items() if s is not None and e in columns})
    first = stages[0]["stage"]
    cmap = _colormap("OrRd")

    def stage_colour(s: int):
        span = max(last - first, 1)
        return cmap(0.3 + 0.65 * (s - first) / span)

    name_width = max(len(op) for op in ops)
    width = max(6.5, 0.32 * len(columns) + 0.07 * name_width + 3.2)
    height = 1.2 + 0.26 * len(ops) + 0.3 * len(stages) + 0.9
    fig = new_figure(width, height)
    grid = fig.add_gridspec(2, 1, height_ratios=[len(ops) + 1.5, len(stages) + 1.2])
    ax = fig.add_subplot(grid[0])
    bars = fig.add_subplot(grid[1], sharex=ax)

    for x, e in enumerate(columns):
        for y, op in enumerate(ops):
            if op not in space.edges[e].candidates:
                colour, text = to_rgba(_ABSENT), ""
            elif fate[e, op] is None:
                colour, text = to_rgba(_KEPT), ""
            else:
                colour, text = stage_colour(fate[e, op]), str(fate[e, op])
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=colour, edgecolor="white", lw=0.8))
            if text:
                dark = colour[0] * 0.299 + colour[1] * 0.587 + colour[2] * 0.114 < 0.5
                ax.text(x, y, text, ha="center", va="center", fontsize=6, color="white" if dark else "black")
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(len(ops) - 0.5, -0.5)
    ax.set_yticks(range(len(ops)))
    ax.set_yticklabels(ops, fontsize=7)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.tick_params(axis="x", labelsize=7, labeltop=True, labelbottom=False)
    ax.set_xlabel("choice edge", fontsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    kept = sum(1 for e in columns for op in space.edges[e].candidates if fate[e, op] is None)
    ax.add_patch(Rectangle((0, 0), 0, 0, color=_KEPT, label=f"kept to the last stage ({kept})"))
    for s in removal_stages:
        n = sum(1 for e in columns for op in space.edges[e].candidates if fate[e, op] == s)
        ax.add_patch(Rectangle((0, 0), 0, 0, color=stage_colour(s), label=f"removed at stage {s} ({n})"))
    ax.add_patch(Rectangle((0, 0), 0, 0, color=_ABSENT, label="not a candidate"))

    col = {e: x for x, e in enumerate(columns)}
    for row, entry in enumerate(stages):
        placed = 0
        for g, group in enumerate(entry["groups"]):
            xs = sorted(col[e] for e in group if e in col)
            colour = _GROUP_COLOURS[g % len(_GROUP_COLOURS)]
            runs = []
            for x in xs:
                if runs and x == runs[-1][1] + 1:
                    runs[-1][1] = x
                else:
                    runs.append([x, x])
            for a, b in runs:
                bars.add_patch(Rectangle((a - 0.45, row - 0.3), b - a + 0.9, 0.6, facecolor=colour, alpha=0.85,
                                         edgecolor="black", lw=0.5))
                placed += 1
            if len(runs) > 1:  # one group in pieces: join them
                bars.plot([runs[0][1] + 0.45, runs[-1][0] - 0.45], [row, row], color=colour, lw=1, ls=":")
        if not placed:
            bars.text(-0.4, row, "no merged groups", va="center", fontsize=7,
                      color="0.45", style="italic")
    bars.set_ylim(len(stages) - 0.5, -0.5)
    bars.set_yticks(range(len(stages)))
    bars.set_yticklabels([_stage_label(entry) for entry in stages], fontsize=7)
    bars.set_xticks(range(len(columns)))
    bars.set_xticklabels([str(e) for e in columns], fontsize=7, rotation=90 if len(columns) > 40 else 0)
    bars.tick_params(axis="x", labelbottom=True)
    bars.set_xlabel("choice edge (bars: merged layer groups, each with private weights)", fontsize=8)
    for side in ("top", "right"):
        bars.spines[side].set_visible(False)
    bars.grid(axis="x", alpha=0.3)
    bars.set_axisbelow(True)
    fig.suptitle(title or f"SE-NAS on {space.name}: operators kept per stage", fontsize=10)
    return save_figure(fig, ax, path, fmt, legend_loc="upper left", legend_anchor=(1.01, 1.0), grid=False)


def _colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name]
