"""to_dot() structure (styles, labels, dead edges, space templates) and render() files and errors."""

from __future__ import annotations

import re
import shutil

import pytest

from graphnas import RenderError
from graphnas.render.dag import render, to_dot

EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")
NODE = re.compile(r"^\s*(\d+) \[label=")


def edges_of(dot) -> list[tuple[str, str, dict]]:
    """``(src, dst, attributes)`` of every edge statement of a graphviz source."""
    out = []
    for line in dot.source.splitlines():
        m = EDGE.match(line)
        if m:
            attrs = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(3) or ""))
            out.append((m.group(1), m.group(2), {k: v.strip('"') for k, v in attrs.items()}))
    return out


def body_edges(dot):
    return [(s, d, a) for s, d, a in edges_of(dot) if s != "input" and d != "output"]


def test_arch_dot_styles_and_labels(tiny):
    arch = tiny.arch([1, 0, 1, 1, 1, 0, 1])  # every branch edge present
    dot = to_dot(arch)
    edges = body_edges(dot)
    assert len(edges) == 7
    for i, e in enumerate(tiny.edges):
        src, dst, attrs = edges[i]
        assert (src, dst) == (str(e.src), str(e.dst))
        assert attrs["label"] == arch.ops[i]
        assert attrs["style"] == ("dotted" if e.kind == "branch" else "solid")
        assert attrs["color"] == "black"
    assert dot.source.count("style=dotted") == 3
    # the fixed input -> node 0 edge is solid (no style given) and labelled stem
    stem = [a for s, d, a in edges_of(dot) if s == "input"]
    assert stem == [{"label": "stem", "fontsize": "9"}]
    assert arch.hash in dot.source


def test_one_node_per_space_node(tiny, st_small):
    for space in (tiny, st_small):
        dot = to_dot(space.sample(0))
        ids = [NODE.match(l).group(1) for l in dot.source.splitlines() if NODE.match(l)]
        assert sorted(ids, key=int) == [str(n.id) for n in space.nodes]
        assert f"{space.nodes[-1].channels}ch {space.nodes[-1].resolution}px" in dot.source


def test_none_edges_are_not_drawn(tiny):
    arch = tiny.arch([0, 1, 0, 0, 0, 0, 0])  # every branch edge none
    edges = body_edges(to_dot(arch))
    assert [(s, d) for s, d, _ in edges] == [("0", "1"), ("1", "2"), ("2", "3"), ("3", "4")]
    assert all(a["style"] == "solid" for _, _, a in edges)
    assert "none" not in {a["label"] for _, _, a in edges}


def test_dead_edges_are_grey(dead):
    arch = dead.arch([0, 0, 1, 0])  # e2 0->2 present but node 2 leads nowhere
    assert 2 not in arch.live_edges
    edges = {(s, d): a for s, d, a in body_edges(to_dot(arch))}
    assert set(edges) == {("0", "1"), ("1", "3"), ("0", "2")}
    assert edges[("0", "2")]["color"] == "#aaaaaa" and edges[("0", "2")]["fontcolor"] == "#aaaaaa"
    assert edges[("0", "1")]["color"] == edges[("1", "3")]["color"] == "black"
    live = dead.arch([0, 0, 1, 1])
    assert all(a["color"] == "black" for _, _, a in body_edges(to_dot(live)))


def test_space_dot_counts_candidates(tiny):
    dot = to_dot(tiny)
    labels = [a["label"] for _, _, a in body_edges(dot)]
    assert labels == ["2 ops", "2 ops", "1 ops | none", "2 ops", "1 ops | none", "1 ops", "2 ops | none"]
    styles = [a["style"] for _, _, a in body_edges(dot)]
    assert styles == ["solid", "solid", "dotted", "solid", "dotted", "solid", "dotted"]
    assert "tiny (size 96)" in dot.source


def test_title_and_rankdir(tiny):
    dot = to_dot(tiny.sample(1), title="my caption", rankdir="LR")
    assert 'label="my caption"' in dot.source and "rankdir=LR" in dot.source


def test_render_writes_dot_svg_png(tiny, tmp_path):
    arch = tiny.sample(2)
    written = render(arch, tmp_path / "sub" / "pic")
    assert [p.name for p in written] == ["pic.dot", "pic.svg", "pic.png"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert written[0].read_text() == to_dot(arch).source
    svg = written[1].read_text()
    assert "<svg" in svg and arch.hash in svg
    for op in set(arch.ops) - {"none"}:
        assert op in svg
    assert written[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_strips_a_picture_suffix(tiny, tmp_path):
    written = render(tiny, tmp_path / "space.svg", formats=["svg"])
    assert [p.name for p in written] == ["space.dot", "space.svg"]


def test_render_without_graphviz(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(RenderError) as info:
        render(tiny.sample(0), tmp_path / "x")
    assert "apt-get install graphviz" in str(info.value)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_written_files_are_readable_by_others(tmp_path):
    """Atomic writes go through a temporary file; the result has open()'s permissions, not 0600."""
    import os
    import stat

    from graphnas.utils import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
