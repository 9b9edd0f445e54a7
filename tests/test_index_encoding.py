"""graphnas.space.encoding: one vectorised numbering of choice vectors, the same as SearchSpace.index."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphnas
from graphnas.errors import ArchitectureError, GraphnasError, SpaceError
from graphnas.lookup import build_lookup_table
from graphnas.space.encoding import choices_of, indices_of, place_values, size_of
from graphnas.predictor import HammingGraph
from graphnas.space.registry import space_info


def test_place_values_and_the_formula():
    assert place_values([3, 2, 4]).tolist() == [8, 4, 1]
    assert place_values([5]).tolist() == [1] and place_values([]).tolist() == []
    radices = [3, 1, 4, 2]
    ids = np.arange(math.prod(radices))
    c = choices_of(radices, ids)
    # edge 0 most significant: idx = ((c0 * r1 + c1) * r2 + c2) * r3 + c3
    assert ((((c[:, 0] * 1 + c[:, 1]) * 4 + c[:, 2]) * 2 + c[:, 3]) == ids).all()
    assert [tuple(r) for r in c.tolist()] == sorted({tuple(r) for r in c.tolist()})  # lexicographic order
    assert indices_of(radices, c).tolist() == ids.tolist()
    assert indices_of([], np.zeros((3, 0), int)).tolist() == [0, 0, 0] and choices_of([], [0]).shape == (1, 0)


@pytest.mark.parametrize("name", ["proxyless", "fairnas", "nb201"])
def test_indices_are_space_index_near_the_int64_limit(name):
    """proxyless has 2.2e17 architectures: the vectorised indices equal the space's Python-int ones."""
    space = graphnas.get_space(name, **space_info(name).cpu_scale)
    archs = [space.sample(s) for s in range(50)] + [space.from_index(space.size - 1), space.from_index(0)]
    choices = np.array([a.choices for a in archs])
    idx = indices_of(space, choices)
    assert idx.dtype == np.int64 and idx.tolist() == [space.index(a) for a in archs]
    assert choices_of(space, idx).tolist() == choices.tolist()


def test_in_degree_spaces_use_their_constrained_ranking():
    darts = graphnas.get_space("darts", **space_info("darts").cpu_scale)
    archs = [darts.sample(s) for s in range(10)]
    idx = indices_of(darts, np.array([a.choices for a in archs]))
    assert idx.tolist() == [darts.index(a) for a in archs]
    assert [tuple(r) for r in choices_of(darts, idx).tolist()] == [a.choices for a in archs]
    with pytest.raises(ArchitectureError, match="needs exactly 2"):
        indices_of(darts, np.zeros((1, darts.num_edges), int))       # every edge 'none'


def test_bad_input_is_one_clear_line():
    with pytest.raises(ArchitectureError, match=r"row 1: choice 2 on edge 1 is outside 0..1"):
        indices_of([3, 2], [[0, 0], [1, 2]])
    with pytest.raises(ArchitectureError, match=r"\(N, 2\) integer array.*shape \(2, 3\)"):
        indices_of([3, 2], np.zeros((2, 3), int))
    with pytest.raises(ArchitectureError, match="index 6 is outside the space of radices \\[3, 2\\] \\(0..5\\)"):
        choices_of([3, 2], [0, 6])
    with pytest.raises(ArchitectureError, match="integers"):
        choices_of([3, 2], [0.5])
    with pytest.raises(SpaceError, match=r"radices must be a 1-D sequence of positive ints .*got \[0, 3\]"):
        choices_of([0, 3], [0])


def test_spaces_beyond_int64_fail_with_one_line(tmp_path):
    st_nas = graphnas.get_space("st_nas", **space_info("st_nas").cpu_scale)
    assert st_nas.size > np.iinfo(np.int64).max
    for call in (lambda: size_of(st_nas), lambda: choices_of(st_nas, [0]),
                 lambda: indices_of(st_nas, [st_nas.sample(0).choices]),
                 lambda: build_lookup_table(st_nas, tmp_path / "t.db", np.zeros(1), progress=False)):
        with pytest.raises(SpaceError) as err:
            call()
        text = str(err.value)
        assert isinstance(err.value, GraphnasError) and "\n" not in text
        assert "space 'st_nas' has 3.316e+54 architectures, more than a 64-bit index holds" in text
        assert "space.subspace(fixed=...)" in text
    assert not (tmp_path / "t.db").exists()
    assert size_of([2] * 62 + [1]) == 2 ** 62                     # 2^63 - 1 is the largest index
    with pytest.raises(SpaceError, match=r"the space of 64 radices \[2, 2, 2, 2, 2, 2, 2, 2, \.\.\.\] has 1.845e\+19"):
        HammingGraph([2] * 64)
    with pytest.raises(SpaceError, match="9.223e"):
        size_of([2] * 63)
