"""Architecture: choice vector <-> DAG <-> JSON, hashing, Gray code, Hamming geometry, validation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

import graphnas
from graphnas import Architecture, ArchitectureError, gray_bits, gray_encode, gray_widths
from graphnas.nets import compile
from graphnas.space.architecture import FORMAT, gray_decode

from conftest import CPU_SCALE, TINY_RADICES


def ops_from_graph(arch):
    """Rebuild the op list from the DAG alone (edge attributes), 'none' where the DAG has no edge."""
    g = arch.graph
    return [g.edges[e.src, e.dst]["op"] if g.has_edge(e.src, e.dst) else "none" for e in arch.space.edges]


# ---------------------------------------------------------------------- round trips
def test_round_trip_every_tiny_arch(tiny):
    archs = list(tiny.enumerate())
    assert len(archs) == 96
    for arch in archs:
        from_dag = tiny.from_ops(ops_from_graph(arch))
        assert from_dag.choices == arch.choices
        text = arch.to_json()
        for back in (tiny.from_json(text), Architecture.from_json(text, tiny)):
            assert back == arch
            assert back.choices == arch.choices
            assert back.ops == arch.ops
            assert back.hash == arch.hash
        data = json.loads(text)
        assert data["format"] == FORMAT
        assert data["space"] == "tiny"
        assert data["choices"] == list(arch.choices)
        assert data["ops"] == list(arch.ops)
        assert data["hash"] == arch.hash


def test_round_trip_st_nas(st_small):
    for seed in range(10):
        arch = st_small.sample(seed)
        back = st_small.from_json(arch.to_json())
        assert back.choices == arch.choices and back.ops == arch.ops and back.hash == arch.hash
        assert st_small.from_ops(ops_from_graph(arch)).choices == arch.choices
        assert isinstance(arch.choices, tuple) and all(type(c) is int for c in arch.choices)


def test_ops_are_the_chosen_candidates(tiny):
    arch = tiny.arch([1, 1, 0, 1, 1, 0, 2])
    assert arch.ops == ("identity", "mbconv_k5_e3", "none", "mbconv_k3_e1", "mbconv_k3_e1", "mbconv_k3_e3",
                        "mbconv_k3_e1")


def test_numpy_choices_are_accepted(tiny):
    a = tiny.arch(np.array([1, 0, 1, 0, 1, 0, 2], dtype=np.int32))
    b = tiny.arch((1, 0, 1, 0, 1, 0, 2))
    assert a == b and a.hash == b.hash and a.choices == (1, 0, 1, 0, 1, 0, 2)


# ---------------------------------------------------------------------- hashing
def test_hash_stable_across_builds(make_tiny):
    s1, s2 = make_tiny(), make_tiny()
    assert s1 is not s2
    for choices in ([0] * 7, [1, 1, 1, 1, 1, 0, 2], [1, 0, 1, 0, 0, 0, 1]):
        a, b = s1.arch(choices), s2.arch(choices)
        assert a.hash == b.hash
        assert len(a.hash) == 16 and int(a.hash, 16) >= 0
        assert a == b and hash(a) == hash(b)


def test_hash_differs_between_archs(tiny):
    hashes = [a.hash for a in tiny.enumerate()]
    assert len(set(hashes)) == len(hashes) == 96


def test_hash_depends_on_space_structure(make_tiny):
    a = make_tiny("tiny").arch([0] * 7)
    b = make_tiny("tiny2").arch([0] * 7)
    assert a.ops == b.ops
    assert a.hash != b.hash
    assert a != b


def test_hash_same_in_subprocess(st_small):
    arch = st_small.sample(3)
    code = (
        "import graphnas\n"
        f"s = graphnas.get_space('st_nas', **{CPU_SCALE!r})\n"
        f"print(s.arch({list(arch.choices)!r}).hash)\n"
        f"print(graphnas.get_space('st_nas').from_ops({list(arch.ops)!r}).hash)\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    assert out.stdout.split() == [arch.hash, arch.hash]


def test_hash_equal_across_scales(st_small, st_paper):
    other = graphnas.get_space("st_nas", resolution=64, width=0.5, num_classes=7, in_channels=3, stem_stride=2)
    assert st_small.fingerprint == st_paper.fingerprint == other.fingerprint
    for seed in range(5):
        small = st_small.sample(seed)
        paper = st_paper.from_ops(small.ops)
        assert paper.choices == small.choices
        assert paper.hash == small.hash == other.from_ops(small.ops).hash
        # a JSON written at CPU scale loads at paper scale
        assert st_paper.from_json(small.to_json()).hash == small.hash


# ---------------------------------------------------------------------- Gray code
def popcount(x: int) -> int:
    return bin(int(x)).count("1")


def test_gray_encode_consecutive_indices_differ_in_one_bit():
    idx = np.arange(1024)
    codes = gray_encode(idx)
    assert sorted(codes.tolist()) == list(range(1024))  # a permutation of the 10-bit codes
    for i in range(1023):
        assert popcount(codes[i] ^ codes[i + 1]) == 1, i
        assert gray_encode(i) == int(codes[i])
    assert [gray_encode(i) for i in range(8)] == [0, 1, 3, 2, 6, 7, 5, 4]


def test_gray_decode_inverts_encode():
    idx = np.arange(1024, dtype=np.int64)
    assert np.array_equal(gray_decode(gray_encode(idx)), idx)
    for i in (0, 1, 2, 5, 1023, 2**40 + 12345):
        assert gray_decode(gray_encode(i)) == i


def test_gray_widths_are_ceil_log2():
    radices = [1, 2, 3, 4, 5, 8, 9, 10, 11, 16, 17]
    assert gray_widths(radices).tolist() == [0 if n == 1 else math.ceil(math.log2(n)) for n in radices]
    assert gray_widths(radices).tolist() == [0, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5]


def test_space_gray_widths(tiny, st_small):
    assert tiny.gray_widths.tolist() == [1, 1, 1, 1, 1, 0, 2]
    # st_nas: 9, 10 or 11 candidates per edge -> 4 bits each
    assert st_small.gray_widths.tolist() == [4] * 54
    assert st_small.sample(0).gray_code().shape == (216,)


def test_gray_bits_msb_first():
    # gray(5) = 7 = 111, gray(2) = 3 = 011, gray(4) = 6 = 110
    assert gray_bits([[5], [2], [4]], [8]).tolist() == [[1, 1, 1], [0, 1, 1], [1, 1, 0]]
    bits = gray_bits([1, 0, 3], [2, 1, 5])
    assert bits.dtype == np.uint8
    assert bits.tolist() == [1, 0, 1, 0]  # edge 0: '1'; edge 1: no bits; edge 2: gray(3) = 2 = '010'


def test_gray_bits_of_enumerated_space_are_distinct(tiny):
    archs = list(tiny.enumerate())
    choices = np.array([a.choices for a in archs])
    bits = gray_bits(choices, tiny.radices)
    assert bits.shape == (96, 7)
    assert set(np.unique(bits).tolist()) <= {0, 1}
    assert len({row.tobytes() for row in bits}) == 96
    for a, row in zip(archs, bits):
        assert np.array_equal(a.gray_code(), row)
    assert tiny.arch([1, 0, 1, 0, 1, 0, 2]).gray_code().tolist() == [1, 0, 1, 0, 1, 1, 1]


def test_gray_code_of_adjacent_candidates_differs_in_one_bit(st_small):
    arch = st_small.sample(5)
    base = arch.gray_code()
    for i, r in enumerate(st_small.radices.tolist()):
        c = arch.choices[i]
        for d in (c - 1, c + 1):
            if 0 <= d < r:
                choices = list(arch.choices)
                choices[i] = d
                assert int(np.sum(st_small.arch(choices).gray_code() != base)) == 1


# ---------------------------------------------------------------------- Hamming geometry
def test_hamming(tiny, st_small):
    a = tiny.arch([0, 0, 0, 0, 0, 0, 0])
    b = tiny.arch([1, 0, 1, 0, 0, 0, 2])
    assert a.hamming(a) == 0
    assert a.hamming(b) == b.hamming(a) == 3
    assert a.hamming(tiny.arch([1, 1, 1, 1, 1, 0, 1])) == 6
    x, y = st_small.sample(1), st_small.sample(2)
    assert x.hamming(y) == int(np.sum(np.array(x.choices) != np.array(y.choices)))
    with pytest.raises(ArchitectureError, match="st_nas"):
        a.hamming(x)


@pytest.mark.parametrize("which", ["tiny", "st_small"])
def test_neighbours(which, request):
    space = request.getfixturevalue(which)
    expected = int(sum(r - 1 for r in space.radices.tolist()))
    if which == "st_small":
        assert expected == 9 * 15 + 8 * 4 + 10 * 17 + 9 * 18 == 499
    else:
        assert expected == 1 + 1 + 1 + 1 + 1 + 0 + 2
    for seed in range(3):
        arch = space.sample(seed)
        nbrs = list(arch.neighbours())
        assert len(nbrs) == expected
        assert all(arch.hamming(n) == 1 for n in nbrs)
        assert len({n.choices for n in nbrs}) == expected
        assert arch.choices not in {n.choices for n in nbrs}


# ---------------------------------------------------------------------- the DAG
def test_graph_nodes_and_edges(tiny):
    arch = tiny.arch([0, 1, 0, 1, 1, 0, 1])
    g = arch.graph
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    expected_nodes = {0: (0, 8, 1, 8), 1: (0, 8, 1, 8), 2: (1, 16, 2, 4), 3: (1, 16, 2, 4), 4: (2, 16, 4, 2)}
    assert sorted(g.nodes) == [0, 1, 2, 3, 4]
    for n, (stage, ch, red, res) in expected_nodes.items():
        attrs = g.nodes[n]
        assert (attrs["stage"], attrs["channels"], attrs["reduction"], attrs["resolution"]) == (stage, ch, red, res)
    # e2 (0->2) chose 'none': no edge
    assert set(g.edges) == {(0, 1), (1, 2), (2, 3), (1, 3), (3, 4), (2, 4)}
    expected_edges = {
        (0, 1): ("mbconv_k3_e3", "stem", 0, 1),
        (1, 2): ("mbconv_k5_e3", "stem", 1, 2),
        (2, 3): ("mbconv_k3_e1", "stem", 3, 1),
        (1, 3): ("mbconv_k3_e1", "branch", 4, 2),
        (3, 4): ("mbconv_k3_e3", "stem", 5, 2),
        (2, 4): ("avg_pool_3x3", "branch", 6, 2),
    }
    for (s, d), (op, kind, index, stride) in expected_edges.items():
        attrs = g.edges[s, d]
        assert (attrs["op"], attrs["kind"], attrs["index"], attrs["stride"]) == (op, kind, index, stride)
        assert attrs["live"] is True


def test_graph_has_edges_only_for_present_choices(st_small):
    for seed in range(5):
        arch = st_small.sample(seed)
        g = arch.graph
        present = {(e.src, e.dst) for e, op in zip(st_small.edges, arch.ops) if op != "none"}
        assert set(g.edges) == present
        assert g.number_of_nodes() == 20
        for (s, d), attrs in g.edges.items():
            i = st_small.edge_index(s, d)
            assert attrs["op"] == arch.ops[i] != "none"
            assert attrs["kind"] == st_small.edges[i].kind
        for n in st_small.nodes:
            assert g.nodes[n.id]["resolution"] == 32 // n.reduction
            assert g.nodes[n.id]["channels"] == n.channels
            assert g.nodes[n.id]["stage"] == n.stage


def test_live_edges_exclude_dead_end(dead):
    arch = dead.arch([0, 0, 1, 0])  # 0->2 present, 2->3 none: node 2 cannot reach the output
    assert arch.ops == ("mbconv_k3_e1", "mbconv_k3_e1", "mbconv_k3_e1", "none")
    assert arch.live_edges == (0, 1)
    assert arch.graph.edges[0, 2]["live"] is False
    assert arch.graph.edges[0, 1]["live"] is True
    net = compile(arch)
    assert set(net.body[0].edges.keys()) == {"e0", "e1"}


def test_live_edges_exclude_unreachable_source(dead):
    arch = dead.arch([0, 0, 0, 1])  # 0->2 none, 2->3 identity: node 2 is never computed
    assert arch.live_edges == (0, 1)
    assert arch.graph.edges[2, 3]["live"] is False
    assert set(compile(arch).body[0].edges.keys()) == {"e0", "e1"}


def test_live_edges_in_execution_order(dead):
    arch = dead.arch([0, 0, 1, 1])
    # sorted by (target, source): 0->1, 0->2, 1->3, 2->3
    assert arch.live_edges == (0, 2, 1, 3)
    assert set(compile(arch).body[0].edges.keys()) == {"e0", "e1", "e2", "e3"}


def test_live_edges_exclude_deep_dead_end(chain):
    arch = chain.arch([0, 0, 1, 1, 0])  # 0->2->3 present, 3->4 none: neither side edge reaches the output
    assert arch.live_edges == (0, 1)
    assert [arch.graph.edges[e]["live"] for e in ((0, 2), (2, 3))] == [False, False]
    assert set(compile(arch).body[0].edges.keys()) == {"e0", "e1"}


def test_live_edges_exclude_deep_unreachable_source(chain):
    arch = chain.arch([0, 0, 0, 1, 1])  # 0->2 none: 2->3 and 3->4 are never computed
    assert arch.live_edges == (0, 1)
    assert [arch.graph.edges[e]["live"] for e in ((2, 3), (3, 4))] == [False, False]
    assert set(compile(arch).body[0].edges.keys()) == {"e0", "e1"}
    full = chain.arch([0, 0, 1, 1, 1])
    assert full.live_edges == (0, 2, 3, 1, 4)  # by (target, source): 0->1, 0->2, 2->3, 1->4, 3->4


def test_live_edges_empty_when_output_unreachable(unreach):
    arch = unreach.arch([0, 0, 0])
    assert arch.live_edges == ()
    assert arch.graph.edges[0, 1]["live"] is False


# ---------------------------------------------------------------------- bad input
@pytest.fixture
def good(tiny):
    return tiny.arch([1, 0, 1, 0, 1, 0, 2])


def test_malformed_json(tiny):
    with pytest.raises(ArchitectureError, match="malformed architecture JSON"):
        tiny.from_json('{"format": "graphnas.architecture/1", "ops": [')
    with pytest.raises(ArchitectureError, match="not a graphnas architecture"):
        tiny.from_json("[1, 2, 3]")
    with pytest.raises(ArchitectureError, match="not a graphnas architecture"):
        tiny.from_json('{"space": "tiny", "ops": []}')


def test_json_of_another_space(tiny, dead):
    text = dead.arch([0, 0, 1, 1]).to_json()
    with pytest.raises(ArchitectureError, match="for space 'dead', not 'tiny'"):
        tiny.from_json(text)


def test_json_of_another_version_of_the_space(good):
    data = good.to_dict()
    data["fingerprint"] = "0" * 16
    with pytest.raises(ArchitectureError, match="different version of space 'tiny'"):
        good.space.from_json(json.dumps(data))


def test_json_op_not_a_candidate(good):
    data = good.to_dict()
    data["ops"][0] = "max_pool_3x3"
    data.pop("choices")
    with pytest.raises(ArchitectureError, match=r"'max_pool_3x3' is not a candidate of edge 0 \(0->1\)"):
        good.space.from_json(json.dumps(data))
    data["ops"][0] = "conv_9x9"
    with pytest.raises(ArchitectureError, match="'conv_9x9' is not a candidate"):
        good.space.from_json(json.dumps(data))


def test_json_ops_not_a_list(good):
    data = good.to_dict()
    data["ops"] = "identity"
    with pytest.raises(ArchitectureError, match='"ops" must be a list'):
        good.space.from_json(json.dumps(data))


def test_json_wrong_number_of_ops(good):
    data = good.to_dict()
    data["ops"] = data["ops"][:-1]
    data.pop("choices")
    with pytest.raises(ArchitectureError, match="needs 7 operators"):
        good.space.from_json(json.dumps(data))


def test_json_choices_disagree_with_ops(good):
    data = good.to_dict()
    data["choices"][0] = 0  # ops[0] is 'identity' = candidate 1
    with pytest.raises(ArchitectureError, match='"choices" .* disagree with "ops"'):
        good.space.from_json(json.dumps(data))
    data.pop("choices")  # ops alone are enough
    assert good.space.from_json(json.dumps(data)) == good


@pytest.mark.parametrize("choices", [5, None])
def test_json_choices_not_a_list(good, choices):
    data = good.to_dict()
    data["choices"] = choices
    with pytest.raises(ArchitectureError, match='"choices"'):
        good.space.from_json(json.dumps(data))


def test_op_not_a_candidate_from_ops(tiny):
    ops = list(tiny.arch([0] * 7).ops)
    ops[2] = "identity"  # 0->2 crosses a reduction: identity is not offered
    with pytest.raises(ArchitectureError, match="'identity' is not a candidate of edge 2 .*candidates: none, "
                                                "mbconv_k3_e1"):
        tiny.from_ops(ops)
    with pytest.raises(ArchitectureError, match="needs 7 operators"):
        tiny.from_ops("identity")


@pytest.mark.parametrize("choices, message", [
    ([2, 0, 0, 0, 0, 0, 0], r"choice 0 = 2 is out of range for edge 0->1, which has 2 candidates"),
    ([0, 0, 0, 0, 0, 1, 0], r"choice 5 = 1 is out of range for edge 3->4, which has 1 candidates"),
    ([0, 0, 0, 0, 0, 0, 3], r"choice 6 = 3 is out of range for edge 2->4"),
    ([0, 0, 0, 0, 0, 0, -1], r"choice 6 = -1 is out of range"),
    ([0] * 6, r"choice vector has 6 entries but space 'tiny' has 7 choice edges"),
    ([0] * 8, r"choice vector has 8 entries"),
    ([], r"choice vector has 0 entries"),
    ([0, 0, 0.0, 0, 0, 0, 0], r"choice 2 is 0.0; choices must be integer"),
    ([0, "1", 0, 0, 0, 0, 0], r"choice 1 is '1'; choices must be integer"),
    ([0, 0, 0, True, 0, 0, 0], r"choice 3 is True; choices must be integer"),
    ([None, 0, 0, 0, 0, 0, 0], r"choice 0 is None"),
    (np.array([0, 0, 0, 0, 0, 0, 0.5]), r"choice 0 is 0.0|choice 6 is 0.5"),
])
def test_bad_choice_vectors(tiny, choices, message):
    with pytest.raises(ArchitectureError, match=message):
        tiny.arch(choices)


def test_errors_are_graphnas_errors(tiny):
    with pytest.raises(graphnas.GraphnasError):
        tiny.arch([9] * 7)
    with pytest.raises(ValueError):
        tiny.from_json("nope")


def test_radices_fixture_matches(tiny):
    assert tiny.radices.tolist() == TINY_RADICES
