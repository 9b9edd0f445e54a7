"""The per-edge term table and the bit-parallel liveness under both cost models: one architecture is the one-row case."""

from __future__ import annotations

import numpy as np
import pytest

import graphnas
from graphnas import Cost, arch_cost
from graphnas.cost.latency import LatencyModel
from graphnas.space.liveness import live_masks, live_row, liveness
from graphnas.cost.model import FIELDS, batch_cost, batch_costs, cost_table, entry_cost
from graphnas.cost.terms import PARTS, arch_entries, term_sum, term_sums, term_table, terms
from graphnas.cost.timing import Measurement
from graphnas.errors import GraphnasError
from graphnas.space.registry import space_info, space_names


def builtin(name: str):
    return graphnas.get_space(name, **space_info(name).cpu_scale)


def draws(space, n: int, seed: int = 0) -> np.ndarray:
    """``n`` choice vectors sampled from the space."""
    archs = [space.sample(seed * 1000 + k) for k in range(n)]
    return np.array([a.choices for a in archs])


# ---------------------------------------------------------------------- liveness
def reference_liveness(arch) -> tuple[list[int], tuple]:
    """The definition, by reachability sets (independent of the bit-parallel walk): live edge positions, and per
    template the inputs whose node a live edge reads or the output takes."""
    space = arch.space
    present = [i for i, op in enumerate(arch.ops) if op != "none"]
    if space.prune_dead:
        fwd, back = set(space.input_nodes), set(space.output_nodes)
        for i in sorted(present, key=lambda i: (space.edges[i].dst, space.edges[i].src)):
            if space.edges[i].src in fwd:
                fwd.add(space.edges[i].dst)
        for i in sorted(present, key=lambda i: (-space.edges[i].src, -space.edges[i].dst)):
            if space.edges[i].dst in back:
                back.add(space.edges[i].src)
        present = [i for i in present if space.edges[i].src in fwd and space.edges[i].dst in back]
    read = {space.edges[i].src for i in present} | set(space.output_nodes)
    return sorted(present), tuple(tuple(j for j, node in enumerate(t.nodes[:t.inputs]) if node in read)
                                  for t in space.templates)


@pytest.mark.parametrize("name", space_names())
def test_liveness_equals_its_definition_for_every_batch_size(name):
    space = builtin(name)
    choices = draws(space, 130)
    for rows in (1, 7, 8, 9, 64, 65, 130):  # the bit packing's byte and word boundaries
        live, read = liveness(space, choices[:rows])
        assert live.shape == (rows, space.num_edges) and read.shape == (rows, len(space.nodes))
        for r in range(rows):
            arch = space.arch(choices[r])
            assert (sorted(arch.live_edges), arch.live_inputs) == reference_liveness(arch), (name, r)
            assert np.flatnonzero(live[r]).tolist() == sorted(arch.live_edges), (name, rows, r)
            got = tuple(tuple(j for j, node in enumerate(t.nodes[:t.inputs]) if read[r, node])
                        for t in space.templates)
            assert got == arch.live_inputs, (name, rows, r)
            assert live_row(space, arch.choices) == (live[r].astype(int).tolist(), read[r].astype(int).tolist())


def test_liveness_of_hand_built_spaces_with_dead_and_unreachable_edges(dead, unreach, chain, tiny):
    for space in (dead, unreach, chain, tiny):
        archs = list(space.enumerate())
        live, _ = liveness(space, np.array([a.choices for a in archs]))
        assert [np.flatnonzero(row).tolist() for row in live] == [sorted(a.live_edges) for a in archs]
        assert [(sorted(a.live_edges), a.live_inputs) for a in archs] == [reference_liveness(a) for a in archs]
    masks = live_masks(unreach, [[0, 0, 0], [0, 1, 1]], nodes=[0, 0])  # node 0 (the stem's output), asked twice
    assert masks.shape == (2, 5)
    assert not masks[0].any() and masks[1].all()  # no edge reaches the output: nothing runs, nothing is read


def test_liveness_of_no_rows(tiny):
    live, read = liveness(tiny, np.zeros((0, tiny.num_edges), dtype=np.int64))
    assert live.shape == (0, tiny.num_edges) and read.shape == (0, len(tiny.nodes))
    assert batch_costs(tiny, np.zeros((0, tiny.num_edges), dtype=np.int64)).shape == (0, 3)


# ---------------------------------------------------------------------- one term table, two kinds of leaf
@pytest.mark.parametrize("name", ["darts", "nb201", "spos_quant", "st_nas"])
def test_cost_table_leaves_are_the_closed_forms_of_the_terms_entries(name):
    space = builtin(name)
    t, table = terms(space), cost_table(space)
    assert table.fields == FIELDS and cost_table(space) is table  # kept with the space
    for i, row in enumerate(t.edges):
        for c, entries in enumerate(row):
            want = sum((entry_cost(space, e) for e in entries), Cost())
            assert table.edges[i][c] == (want.madds, want.params, want.bitops)
            assert table.edges[i][c].madds == want.madds
    assert table.fixed == (lambda c: (c.madds, c.params, c.bitops))(graphnas.cost.fixed_costs(space))
    assert all(a == (0, 0, 0) for a in table.adds)  # additions have no multiply-adds and no parameters


@pytest.mark.parametrize("name", ["darts", "nb201", "spos_quant", "st_nas"])
def test_one_architecture_is_the_one_row_case_of_the_batch(name):
    space = builtin(name)
    choices = draws(space, 40, seed=2)
    every = batch_costs(space, choices)
    assert every.dtype == np.int64
    for row, c in zip(every.tolist(), choices):
        arch = space.arch(c)
        assert arch_cost(arch) == Cost(*row)
        assert batch_costs(space, [c]).tolist() == [row]
    assert batch_cost(space, choices, "bitops").tolist() == every[:, 2].tolist()
    if name == "spos_quant":
        assert every[:, 2].min() > 0  # quantised operators count BitOps


def test_latency_leaves_are_measured_entries_over_the_same_terms(tiny):
    t = terms(tiny)
    keys = sorted({e.key for row in t.edges for c in row for e in c} | {e.key for e in t.fixed}
                  | {e.key for n in t.adds for e in n})
    ms = {k: 0.1 + 0.01 * j for j, k in enumerate(keys)}
    model = LatencyModel.for_space(tiny, {k: Measurement(v, 0.0, 3, True) for k, v in ms.items()}, c0=0.5, c1=0.02)
    table = model.table(tiny)
    assert table.fields == ("ms", "calls") and model.table(tiny) is table
    for i, row in enumerate(t.edges):
        for c, entries in enumerate(row):
            assert table.edges[i][c].ms == pytest.approx(sum(ms[e.key] for e in entries))
            assert table.edges[i][c].calls == len(entries)
    archs = list(tiny.enumerate())
    batch = term_sums(tiny, table, np.array([a.choices for a in archs]))
    for arch, row in zip(archs, batch):  # the prediction: the entries the architecture runs, plus the correction
        used = arch_entries(tiny, arch.choices)
        total, calls = model.parts(arch)
        assert total == pytest.approx(sum(ms[e.key] for e in used)) and (total, calls) == pytest.approx(tuple(row))
        assert model.latency(arch) == pytest.approx(total + 0.5 + 0.02 * calls)


def test_a_leaf_of_a_term_no_architecture_runs_stays_out_of_the_sum(tiny):
    def leaf(entries, part):
        assert part in PARTS
        return (float("nan") if part == "add" else float(len(entries)),)

    table = term_table(tiny, leaf, ("n",))
    archs = list(tiny.enumerate())
    sums = term_sums(tiny, table, np.array([a.choices for a in archs]))[:, 0]
    merging = [len(a.live_edges) != len({tiny.edges[i].dst for i in a.live_edges}) for a in archs]
    assert any(merging) and not all(merging)
    assert np.isnan(sums[merging]).all() and np.isfinite(sums[~np.array(merging)]).all()
    one = [term_sum(tiny, table, a.choices)[0] for a in archs]  # the one-row case agrees, NaN where used
    np.testing.assert_array_equal(one, sums)


def test_unknown_metric_is_refused(tiny):
    with pytest.raises(GraphnasError, match="unknown cost metric 'flops'; choose one of madds, params, bitops"):
        batch_cost(tiny, [tiny.sample(0).choices], "flops")
