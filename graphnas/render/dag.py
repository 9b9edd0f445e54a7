"""Draw architectures and spaces with graphviz.

Nodes are feature maps (labelled with their width and resolution, grouped by stage); edges are
operators: stem edges solid, branch edges dotted, the operator name as the label. Edges that are
present but compute nothing useful (dead ends) are drawn grey. A space is drawn as its template:
every choice edge labelled with its number of candidates. A space with several cell types (DARTS's
normal and reduction cells) draws each as its own cluster, with its inputs named after the blocks
that feed them and dashed edges into a concatenating output.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

import graphviz

from ..space.architecture import Architecture
from ..errors import RenderError
from ..files import writable_file
from ..ops.registry import NONE
from ..space.searchspace import BRANCH, FLAT, Cell, SearchSpace
from ..utils import atomic_write_bytes, atomic_write_text

__all__ = ["to_dot", "render", "check_render_target"]

_STAGE_COLOURS = ["#dbe9f6", "#dff3e3", "#fdf1d6", "#f9dede", "#ece2f5", "#e0f2f1", "#f5f5dc"]


def _add_template_nodes(dot: graphviz.Digraph, space: SearchSpace) -> None:
    """Spaces with several cell types or multi-input cells: one cluster per template, its inputs named after
    the blocks that feed them (``c_{k-2}``, ``c_{k-1}``), a concatenating output fed by dashed edges."""
    for t, tmpl in enumerate(space.templates):
        with dot.subgraph(name=f"cluster_template{t}") as sub:
            sub.attr(label=f"{tmpl.name} cell", style="rounded,filled", color="#bbbbbb",
                     fillcolor=_STAGE_COLOURS[t % len(_STAGE_COLOURS)], fontsize="10")
            for j, node in enumerate(tmpl.nodes):
                n = space.nodes[node]
                if j < tmpl.inputs:
                    label = f"c_{{k-{tmpl.inputs - j}}}"
                elif node == tmpl.nodes[-1]:
                    label = f"{tmpl.name} output" + ("\nconcat" if n.concat else "")
                else:
                    label = f"node {node}"
                sub.node(str(node), label, shape="box", style="rounded,filled", fillcolor="white", fontsize="10")
            for m in space.nodes[tmpl.nodes[-1]].concat:
                sub.edge(str(m), str(tmpl.nodes[-1]), style="dashed", color="#777777", arrowsize="0.6")


def _add_nodes(dot: graphviz.Digraph, space: SearchSpace) -> None:
    if len(space.templates) > 1 or space.templates[0].inputs > 1:
        _add_template_nodes(dot, space)
        return
    cell_free = space.body == FLAT
    stages: dict[int, list] = {}
    for n in space.nodes:
        stages.setdefault(n.stage, []).append(n)
    for stage, nodes in stages.items():
        with dot.subgraph(name=f"cluster_stage{stage}") as sub:
            sub.attr(label=f"stage {stage}", style="rounded,filled", color="#bbbbbb",
                     fillcolor=_STAGE_COLOURS[stage % len(_STAGE_COLOURS)], fontsize="10")
            for n in nodes:
                label = f"{n.id}\n{n.channels}ch {n.resolution}px" if cell_free else f"node {n.id}"
                sub.node(str(n.id), label, shape="box", style="rounded,filled", fillcolor="white", fontsize="10")
    c, h, _ = space.input_shape
    if cell_free:
        dot.node("input", f"input\n{c}x{h}x{h}", shape="plaintext", fontsize="10")
        dot.node("output", f"head\n{space.num_classes} classes", shape="plaintext", fontsize="10")
        dot.edge("input", "0", label="stem", fontsize="9")
        dot.edge(str(space.output_node), "output", fontsize="9")
    else:
        dot.node("input", "cell input", shape="plaintext", fontsize="10")
        dot.node("output", "cell output", shape="plaintext", fontsize="10")
        dot.edge("input", "0")
        dot.edge(str(space.output_node), "output")


def _body_summary(space: SearchSpace) -> str:
    """E.g. ``stem -> 5 x cell(16ch) -> nb201_resblock(32ch) -> ... -> head`` for a cell space."""
    parts, run = [], None
    for item in space.body:
        if isinstance(item, Cell):
            tmpl = space.templates[item.template]
            name = tmpl.name if len(space.templates) > 1 else "cell"
            label = f"{name}({item.channels * space.nodes[tmpl.nodes[0]].channels}ch)"
        else:
            label = f"{item.op}({item.channels}ch)"
        if run and run[0] == label:
            run[1] += 1
        else:
            run = [label, 1]
            parts.append(run)
    return " -> ".join(["stem"] + [f"{n} x {lab}" if n > 1 else lab for lab, n in parts] + ["head"])


def to_dot(obj: Architecture | SearchSpace, *, title: str | None = None, rankdir: str = "TB") -> graphviz.Digraph:
    """A :class:`graphviz.Digraph` of an architecture (chosen ops) or a space (candidate counts).

    Args:
        obj (Architecture or SearchSpace): what to draw.
        title (str, optional): a caption (default: the space name and the architecture hash).
        rankdir (str, optional): graphviz layout direction, ``TB`` or ``LR`` (default: ``TB``).
    """
    space = obj.space if isinstance(obj, Architecture) else obj
    if title is None:
        title = f"{space.name} {obj.hash}" if isinstance(obj, Architecture) else f"{space.name} (size {space.size:.3g})"
        if space.body != FLAT:
            title += "\n" + _body_summary(space)
    dot = graphviz.Digraph(name=space.name, graph_attr=dict(rankdir=rankdir, label=title, labelloc="t",
                                                             fontsize="12", nodesep="0.25", ranksep="0.35"))
    _add_nodes(dot, space)
    if isinstance(obj, Architecture):
        live = set(obj.live_edges)
        for i, (e, op) in enumerate(zip(space.edges, obj.ops)):
            if op == NONE:
                continue
            style = "dotted" if e.kind == BRANCH else "solid"
            colour = "black" if i in live else "#aaaaaa"
            dot.edge(str(e.src), str(e.dst), label=op, style=style, color=colour, fontcolor=colour, fontsize="9",
                     penwidth="1.6" if e.kind != BRANCH else "1.2")
    else:
        for e in space.edges:
            real = [c for c in e.candidates if c != NONE]
            label = f"{len(real)} ops" + (" | none" if NONE in e.candidates else "")
            dot.edge(str(e.src), str(e.dst), label=label, style="dotted" if e.kind == BRANCH else "solid",
                     fontsize="9")
    return dot


def check_render_target(path: str | Path, formats: Iterable[str] = ("svg", "png")) -> Path:
    """Check, before anything is drawn, that :func:`render` can write ``path`` in ``formats``: every format known
    to graphviz, and ``<path>.dot`` and ``<path>.<fmt>`` writable files (not folders, not under a file, names not
    too long). Returns ``path`` without its picture suffix; raises a one-line :class:`GraphnasError` otherwise."""
    formats = list(formats)
    unknown = [fmt for fmt in formats if fmt not in graphviz.FORMATS]
    if unknown or not formats:
        raise RenderError(f"unknown image format {', '.join(map(repr, unknown)) or '(none given)'}; use svg, png or "
                          f"pdf (graphviz knows {len(graphviz.FORMATS)} formats: graphviz.FORMATS)")
    path = Path(path)
    if path.suffix.lstrip(".") in {"svg", "png", "pdf", "dot"}:
        path = path.with_suffix("")
    if path.name in ("", ".", ".."):
        raise RenderError(f"picture path {str(path)!r} names a folder; give a file name without extension, e.g. "
                          f"out/best_arch")
    for fmt in ["dot", *formats]:
        writable_file(path.with_name(f"{path.name}.{fmt}"), "picture")  # a GraphnasError of one line
    return path


def render(obj: Architecture | SearchSpace, path: str | Path, formats: Iterable[str] = ("svg", "png"),
           **kwargs) -> list[Path]:
    """Write ``obj`` as ``<path>.<fmt>`` for each format (and ``<path>.dot``); returns the written files.

    Raises:
        RenderError: an unknown format, or the graphviz ``dot`` binary is missing or fails.
    """
    formats = list(formats)
    path = check_render_target(path, formats)  # unknown formats, unwritable paths: before any work
    if shutil.which("dot") is None:
        raise RenderError("graphviz's 'dot' binary is not installed; install it with "
                          "'apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' (macOS)")
    dot = to_dot(obj, **kwargs)
    written = [path.with_name(f"{path.name}.dot")]  # "run.v2" -> run.v2.dot, not run.dot
    atomic_write_text(written[0], dot.source)
    for fmt in formats:
        try:
            data = dot.pipe(format=fmt)
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as err:
            raise RenderError(f"graphviz failed to render {fmt}: {err}") from None
        out = path.with_name(f"{path.name}.{fmt}")
        atomic_write_bytes(out, data)
        written.append(out)
    return written
