"""Validation of a search space's structure, run once when a :class:`~graphnas.space.searchspace.SearchSpace` is built.

The checks are methods of :class:`StructureChecks`, a mixin of ``SearchSpace``, so that the space
module holds what a space *does* (sizes, sampling, ranking, subspaces) and this one what it must
*be*: templates that partition the nodes, a body whose blocks chain shape to shape, edges that go
forward inside one template with operators that fit, and satisfiable in-degree constraints. Every
failure is a :class:`~graphnas.errors.SpaceError` naming the part and the fix.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import indegree
from ..errors import SpaceError
from ..ops.registry import NONE, get_op
from .parts import BRANCH, STEM, Cell, ChoiceEdge, Fixed, Template

__all__ = ["StructureChecks"]


class StructureChecks:
    """Mixin of :class:`~graphnas.space.searchspace.SearchSpace`: the checks ``__post_init__`` runs."""

    def _check_templates(self) -> tuple[Template, ...]:
        """Validate the templates (default: one of every node); fills ``_node_template``."""
        n = len(self.nodes)
        name = self.name
        templates = (Template("cell", tuple(range(n))),) if self.templates is None else tuple(self.templates)
        if not templates:
            raise SpaceError(f"space '{name}': templates is empty; give at least one Template or leave it None")
        owner: dict[int, int] = {}
        for t, tmpl in enumerate(templates):
            if not isinstance(tmpl, Template):
                raise SpaceError(f"space '{name}': template {t} is {tmpl!r}; use graphnas.space.searchspace.Template")
            ids = tuple(tmpl.nodes)
            if list(ids) != sorted(set(ids)) or any(not 0 <= i < n for i in ids):
                raise SpaceError(f"space '{name}': template '{tmpl.name}' must list distinct node ids of 0..{n - 1} "
                                 f"in increasing order, got {list(ids)}")
            if not 1 <= tmpl.inputs < len(ids):
                raise SpaceError(f"space '{name}': template '{tmpl.name}' has {len(ids)} nodes and {tmpl.inputs} "
                                 f"inputs; it needs 1..{len(ids) - 1} inputs and an output node after them")
            if tmpl.preprocess is not None:
                get_op(tmpl.preprocess)
            for i in ids:
                if i in owner:
                    raise SpaceError(f"space '{name}': node {i} is in templates '{templates[owner[i]].name}' and "
                                     f"'{tmpl.name}'; every node belongs to exactly one template")
                owner[i] = t
        missing = [i for i in range(n) if i not in owner]
        if missing:
            raise SpaceError(f"space '{name}': node(s) {', '.join(map(str, missing))} belong to no template; "
                             f"add them to one")
        self._node_template = owner
        for tmpl in templates:
            for i in tmpl.nodes:
                members = self.nodes[i].concat
                if not members:
                    continue
                if i != tmpl.nodes[-1]:
                    raise SpaceError(f"space '{name}': node {i} concatenates nodes but is not the output of "
                                     f"template '{tmpl.name}'; only a template's last node may concatenate")
                if any(m not in tmpl.nodes or m >= i for m in members) or len(set(members)) != len(members):
                    raise SpaceError(f"space '{name}': node {i} concatenates {list(members)}; list distinct earlier "
                                     f"nodes of template '{tmpl.name}'")
                width = sum(self.nodes[m].channels for m in members)
                reds = {self.nodes[m].reduction for m in members}
                if width != self.nodes[i].channels or reds != {self.nodes[i].reduction}:
                    raise SpaceError(f"space '{name}': node {i} concatenates nodes of {width} channels in total at "
                                     f"reductions {sorted(reds)}, but has {self.nodes[i].channels} channels at "
                                     f"x{self.nodes[i].reduction}; make it the sum of their channels at their "
                                     f"reduction")
        return templates

    def _check_body(self) -> tuple:
        """Validate the body; returns ``(item, (c_in, red_in), (c_out, red_out))`` per block.

        ``(c_in, red_in)`` is the previous block's output (the stem's for the first block). Also fills
        ``cell_inputs``: per block, ``((source block, c, reduction), ...)`` for each input node of a Cell
        (source ``-1`` is the stem), ``()`` for a Fixed block.
        """
        if not self.body:
            raise SpaceError(f"space '{self.name}': the body is empty; give at least one Cell")
        h = self.input_shape[1]
        shape, blocks, outs, cell_inputs = (self.stem.channels, self.stem.reduction), [], [], []
        stem_out = (self.stem_out_channels, self.stem.reduction)
        for k, item in enumerate(self.body):
            if isinstance(item, Cell):
                if not 0 <= item.template < len(self.templates):
                    raise SpaceError(f"space '{self.name}': body block {k} instantiates template {item.template}, "
                                     f"but the space has templates 0..{len(self.templates) - 1}")
                tmpl = self.templates[item.template]
                sources = []
                for j, node in enumerate(tmpl.nodes[:tmpl.inputs]):
                    src = k - tmpl.inputs + j
                    c_src, red_src = outs[src] if src >= 0 else stem_out
                    start = (item.channels * self.nodes[node].channels, item.reduction * self.nodes[node].reduction)
                    self._check_cell_input(k, tmpl, node, src, (c_src, red_src), start)
                    sources.append((src, c_src, red_src))
                cell_inputs.append(tuple(sources))
                last = self.nodes[tmpl.nodes[-1]]
                c_in = shape[0]
                out = (item.channels * last.channels, item.reduction * last.reduction)
                deepest = item.reduction * max(self.nodes[i].reduction for i in tmpl.nodes)
            elif isinstance(item, Fixed):
                get_op(item.op)
                c_in = shape[0]
                if item.reduction % shape[1]:
                    raise SpaceError(f"space '{self.name}': body block {k} ({item.op}) goes from reduction "
                                     f"x{shape[1]} to x{item.reduction}; reductions must grow by an integer factor")
                out = (item.channels, item.reduction)
                deepest = item.reduction
                cell_inputs.append(())
            else:
                raise SpaceError(f"space '{self.name}': body block {k} is {item!r}; use Cell or Fixed")
            if deepest > h:
                raise SpaceError(f"space '{self.name}': resolution {h} is too small for reduction x{deepest}; "
                                 f"use a resolution of at least {deepest}")
            blocks.append((item, (c_in, shape[1]), out))
            shape = out
            outs.append(out)
        self.cell_inputs = tuple(cell_inputs)
        return tuple(blocks)

    def _check_cell_input(self, k: int, tmpl: Template, node: int, src: int, have: tuple[int, int],
                          start: tuple[int, int]) -> None:
        """Check that the output of block ``src`` (``have`` = channels, reduction) can feed input ``node``."""
        if tmpl.preprocess is None:
            if src < 0 and start[1] != have[1]:
                raise SpaceError(f"space '{self.name}': the stem reduces x{have[1]} but node {node} is at reduction "
                                 f"x{start[1]}; make the stem's stride (and pool) match node {node}")
            if start != have:
                raise SpaceError(f"space '{self.name}': body block {k} starts at {start[0]} channels, "
                                 f"reduction x{start[1]}, but the block before ends at {have[0]} channels, "
                                 f"x{have[1]}; make them equal")
            return
        stride = start[1] // have[1]
        if start[1] % have[1] or not get_op(tmpl.preprocess).fits(have[0], start[0], stride):
            where = "the stem" if src < 0 else f"block {src}"
            raise SpaceError(f"space '{self.name}': body block {k}'s input node {node} ({start[0]} ch, x{start[1]}) "
                             f"cannot be fed from {where} ({have[0]} ch, x{have[1]}) by '{tmpl.preprocess}'; "
                             f"change the cells' channels or reductions")

    @property
    def stem_out_channels(self) -> int:
        """Channels the stem hands the body: the first cell's input width when that cell does not preprocess
        its inputs (the stem projects to it), else ``stem.channels``."""
        first = self.body[0]
        if isinstance(first, Cell) and 0 <= first.template < len(self.templates):
            tmpl = self.templates[first.template]
            if tmpl.preprocess is None:
                return first.channels * self.nodes[tmpl.nodes[0]].channels
        return self.stem.channels

    def _check_edge(self, e: ChoiceEdge) -> ChoiceEdge:
        n = len(self.nodes)
        if not (0 <= e.src < e.dst < n):
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} must go forward between nodes 0..{n - 1}")
        if e.kind not in (STEM, BRANCH):
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} has kind '{e.kind}'; use 'stem' or 'branch'")
        src, dst = self.nodes[e.src], self.nodes[e.dst]
        tmpl = self.templates[self._node_template[e.src]]
        if self._node_template[e.dst] != self._node_template[e.src]:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} joins templates '{tmpl.name}' and "
                             f"'{self.templates[self._node_template[e.dst]].name}'; edges stay inside one template")
        if e.dst in tmpl.nodes[:tmpl.inputs] or dst.concat:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} enters node {e.dst}, an input or "
                             f"concatenation node of template '{tmpl.name}', which takes no choice edges")
        stride = dst.reduction // src.reduction
        if dst.reduction % src.reduction or stride < 1:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} goes from reduction x{src.reduction} to "
                             f"x{dst.reduction}; reductions must grow by an integer factor along edges")
        cands = []
        for op in dict.fromkeys(e.candidates):
            if op == NONE:
                cands.append(op)
                continue
            spec = get_op(op)
            if spec.fits(src.channels, dst.channels, stride):
                cands.append(op)
            elif not self.drop_unfit:
                raise SpaceError(f"space '{self.name}': operator '{op}' cannot join node {e.src} ({src.channels} ch) "
                                 f"to node {e.dst} ({dst.channels} ch) at stride {stride}; remove it from that edge "
                                 f"or build the space with drop_unfit=True")
        if e.kind == STEM and NONE in cands:
            raise SpaceError(f"space '{self.name}': stem edge {e.src}->{e.dst} offers 'none'; make it a branch edge")
        if e.kind == BRANCH:
            if NONE not in cands:
                raise SpaceError(f"space '{self.name}': branch edge {e.src}->{e.dst} must offer 'none'")
            cands.remove(NONE)
            cands.insert(0, NONE)
        if not cands:
            raise SpaceError(f"space '{self.name}': edge {e.src}->{e.dst} has no candidate operator left")
        return replace(e, candidates=tuple(cands))

    def _check_in_degree(self) -> dict[int, int]:
        """Validate ``in_degree`` (node -> k); returns it as a dict sorted by node."""
        out = {}
        for node, k in sorted(dict(self.in_degree).items()):
            if isinstance(node, bool) or not isinstance(node, (int, np.integer)) or not 0 <= node < len(self.nodes):
                raise SpaceError(f"space '{self.name}': in_degree names node {node!r}; "
                                 f"nodes are 0..{len(self.nodes) - 1}")
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
                raise SpaceError(f"space '{self.name}': in_degree of node {node} is {k!r}; give a count >= 0")
            out[int(node)] = int(k)
        return out

    def _make_groups(self) -> tuple[indegree.Group, ...]:
        """One group per constrained node (its incoming edges) and per other edge, by first position."""
        flags = [tuple(op == NONE for op in e.candidates) for e in self.edges]
        groups, taken = [], set()
        for node, k in self.in_degree.items():
            edges = [i for i, e in enumerate(self.edges) if e.dst == node]
            group = indegree.make_group(node, edges, k, [flags[i] for i in edges])
            if group.size == 0:
                forced = sum(1 for i in edges if not any(flags[i]))
                real = sum(1 for i in edges if not all(flags[i]))
                raise SpaceError(f"space '{self.name}': node {node} must keep exactly {k} present incoming edges, "
                                 f"but {real} of its {len(edges)} choice edges offer an operator and {forced} "
                                 f"cannot be 'none'; change in_degree or the edges' candidates")
            groups.append(group)
            taken.update(edges)
        groups += [indegree.make_group(None, [i], None, [flags[i]]) for i in range(len(self.edges)) if i not in taken]
        return tuple(sorted(groups, key=lambda g: g.edges[0]))
