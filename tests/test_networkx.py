"""networkx as an input: SearchSpace.from_networkx and Architecture.from_networkx (graphnas.space.networkx_input)."""

from __future__ import annotations

import doctest

import networkx as nx
import numpy as np
import pytest
import torch

import graphnas
import graphnas.space.searchspace
from graphnas import Architecture, ArchitectureError, Head, SearchSpace, SpaceError, Stem
from graphnas.space.registry import space_info

SPACES = ("st_nas", "nb201", "fairnas", "darts")


@pytest.fixture(scope="module", params=SPACES)
def space(request):
    return graphnas.get_space(request.param, **space_info(request.param).cpu_scale)


def drawn(space: SearchSpace, index: bool = True) -> nx.DiGraph:
    """``space``'s template DAG with the attributes SearchSpace.from_networkx reads."""
    g = nx.DiGraph(name=space.name)
    for n in space.nodes:
        g.add_node(n.id, stage=n.stage, channels=n.channels, reduction=n.reduction, concat=list(n.concat),
                   **({"in_degree": space.in_degree[n.id]} if n.id in space.in_degree else {}))
    for i, e in enumerate(space.edges):
        g.add_edge(e.src, e.dst, kind=e.kind, candidates=list(e.candidates), **({"index": i} if index else {}))
    return g


def rebuilt(space: SearchSpace, graph: nx.DiGraph) -> SearchSpace:
    return SearchSpace.from_networkx(graph, input_shape=space.input_shape, num_classes=space.num_classes,
                                     stem=space.stem, head=space.head, body=space.body, templates=space.templates,
                                     prune_dead=space.prune_dead, scale=space.scale)


def test_architecture_graph_round_trips(space):
    for seed in range(25):
        arch = space.sample(seed)
        again = Architecture.from_networkx(space, arch.graph)
        assert again == arch and again.hash == arch.hash
        # Only the edges and their ops are read: a bare graph of (src, dst, op) gives the same architecture.
        bare = nx.DiGraph()
        bare.add_edges_from((u, v, {"op": op}) for u, v, op in arch.graph.edges(data="op"))
        assert Architecture.from_networkx(space, bare) == arch


def test_subspace_architectures_round_trip(space):
    sub = space.subspace(fixed={i: space.edges[i].candidates[-1] for i in range(0, space.num_edges, 3)})
    arch = sub.sample(1)
    assert Architecture.from_networkx(sub, arch.graph) == arch
    with pytest.raises(ArchitectureError, match=f"is of space \"{sub.name}\", not '{space.name}'"):
        Architecture.from_networkx(space, arch.graph)


def test_a_space_drawn_in_networkx_is_the_space(space):
    """Every built-in space's template, drawn with its attributes, builds the same space (same fingerprint)."""
    again = rebuilt(space, drawn(space))
    assert again == space and again.fingerprint == space.fingerprint and again.size == space.size
    assert again.in_degree == space.in_degree and [n.concat for n in again.nodes] == [n.concat for n in space.nodes]
    arch = space.sample(3)
    assert again.from_ops(arch.ops).hash == arch.hash


def test_default_edge_order_is_by_target_then_source():
    nb201 = graphnas.get_space("nb201", **space_info("nb201").cpu_scale)
    g = drawn(nb201, index=False)
    assert rebuilt(nb201, g).fingerprint == nb201.fingerprint         # NAS-Bench-201's order is (target, source)
    for _, _, d in g.edges(data=True):
        del d["kind"]                                                  # inferred: every edge offers 'none'
    assert rebuilt(nb201, g).fingerprint == nb201.fingerprint


def tiny_graph() -> nx.DiGraph:
    """A hand-drawn space: a stride-2 chain with one skip, as a tutorial would draw it."""
    g = nx.DiGraph(name="drawn")
    g.add_node(0, stage=0, channels=8, reduction=1)
    g.add_node(1, stage=0, channels=8, reduction=1)
    g.add_node(2, stage=1, channels=16, reduction=2)
    g.add_edge(0, 1, candidates=["mbconv_k3_e3", "identity"])
    g.add_edge(1, 2, candidates=["mbconv_k3_e3", "mbconv_k5_e3"])
    g.add_edge(0, 2, candidates=["none", "mbconv_k3_e1"])
    return g


def test_hand_drawn_space_compiles_and_trains_one_step():
    space = SearchSpace.from_networkx(tiny_graph(), input_shape=(3, 16, 16), num_classes=4, stem=Stem(8),
                                      head=Head(32))
    assert space.name == "drawn" and space.size == 8
    assert [(e.src, e.dst, e.kind) for e in space.edges] == [(0, 1, "stem"), (0, 2, "branch"), (1, 2, "stem")]
    arch_graph = nx.DiGraph()
    arch_graph.add_edge(0, 1, op="identity")
    arch_graph.add_edge(1, 2, op="mbconv_k5_e3")
    arch_graph.add_edge(0, 2, op="mbconv_k3_e1")
    arch = Architecture.from_networkx(space, arch_graph)
    assert arch.ops == ("identity", "mbconv_k3_e1", "mbconv_k5_e3")
    net = graphnas.nets.compile(arch).train()
    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and all(not torch.equal(a, p) for a, p in zip(before, net.parameters()))
    arch_graph.remove_edge(0, 2)                                       # a branch edge left out is 'none'
    assert Architecture.from_networkx(space, arch_graph).ops[1] == "none"


def test_doctest():
    result = doctest.DocTestRunner().run(doctest.DocTestFinder().find(SearchSpace.from_networkx,
                                                                      globs=vars(graphnas.space.searchspace))[0])
    assert result.attempted >= 4 and result.failed == 0


@pytest.fixture(scope="module")
def small():
    return SearchSpace.from_networkx(tiny_graph(), input_shape=(3, 16, 16), stem=Stem(8))


@pytest.mark.parametrize("edit, match", [
    (lambda g: g.add_edge(1, 2, op="mbconv_k7_e6"),
     r"operator 'mbconv_k7_e6' is not a candidate of edge 2 \(1->2\) in space 'drawn'; candidates: mbconv_k3_e3, "),
    (lambda g: g.add_edge(2, 3, op="identity"), r"node 3; node ids are the integers 0..2"),
    (lambda g: g.add_edge(1, 1, op="identity"), r"has a cycle \(1->1\); it must be a DAG: remove edge 1->1"),
    (lambda g: (g.add_edge(2, 0, op="identity")), r"has a cycle \(0->1->2->0\).*remove edge 2->0"),
    (lambda g: g.remove_edge(1, 2), r"edge 1->2 is missing: it is a stem edge of space 'drawn', always present; add it "
                                    r"with op= one of: mbconv_k3_e3, mbconv_k5_e3"),
    (lambda g: g.add_edge(0, 2), r"edge 0->2 has op=NULL; label it with the chosen operator, one of: none, "),
    (lambda g: g.graph.update(space="nb201"), r"graph is of space \"nb201\", not 'drawn'"),
])
def test_architecture_graph_errors_are_one_line(small, edit, match):
    g = nx.DiGraph()
    g.add_edge(0, 1, op="identity")
    g.add_edge(1, 2, op="mbconv_k3_e3")
    assert Architecture.from_networkx(small, g).ops == ("identity", "none", "mbconv_k3_e3")
    edit(g)
    with pytest.raises(ArchitectureError, match=match) as err:
        Architecture.from_networkx(small, g)
    assert "\n" not in str(err.value)


def test_an_edge_the_space_lacks_is_named():
    g = nx.DiGraph()
    g.add_nodes_from([(i, dict(channels=8, reduction=1)) for i in range(4)])
    g.add_edges_from([(0, 1), (1, 2), (2, 3)], candidates=["identity", "mbconv_k3_e3"])
    g.add_edge(1, 3, candidates=["none", "identity"])
    chain = SearchSpace.from_networkx(g, "chain4", input_shape=(3, 8, 8), stem=Stem(8))
    arch = nx.DiGraph([(0, 1), (1, 2), (2, 3), (0, 3)])
    nx.set_edge_attributes(arch, "identity", "op")
    with pytest.raises(ArchitectureError, match=r"edge 0->3 is not a choice edge of space 'chain4'; remove it \(the "
                                                r"space's edges into node 3: 1->3, 2->3\)"):
        Architecture.from_networkx(chain, arch)


def test_in_degree_constraints_are_checked():
    darts = graphnas.get_space("darts", **space_info("darts").cpu_scale)
    g = nx.DiGraph(darts.sample(0).graph)
    u, v = next((u, v) for u, v in g.edges if v == 2)
    g.remove_edge(u, v)
    with pytest.raises(ArchitectureError, match="node 2 of space 'darts' has 1 present incoming edge.*needs exactly 2"):
        Architecture.from_networkx(darts, g)


def space_error(graph, **options) -> str:
    options = {"input_shape": (3, 16, 16), "stem": Stem(8), **options}
    with pytest.raises(SpaceError) as err:
        SearchSpace.from_networkx(graph, **options)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_space_graph_errors_are_one_line():
    g = tiny_graph()
    del g.nodes[2]["channels"]
    assert "node 2 has no 'channels' attribute; give every node channels=<width>" in space_error(g)
    g = tiny_graph()
    g.nodes[1]["reduction"] = "1"
    assert "node 1's reduction='1' must be an integer >= 1" in space_error(g)
    g = nx.relabel_nodes(tiny_graph(), {0: "in", 1: "mid", 2: "out"})
    assert "has node \"in\"; node ids are the integers 0..2 in topological order" in space_error(g)
    g = tiny_graph()
    g.add_edge(2, 1, candidates=["identity"])
    assert "has a cycle (1->2->1); it must be a DAG: remove edge 2->1" in space_error(g)
    g = tiny_graph()
    g.edges[0, 2]["candidates"] = "mbconv_k3_e1"
    assert "edge 0->2 has candidates=\"mbconv_k3_e1\"; give a non-empty list of operator names" in space_error(g)
    g = tiny_graph()
    g.edges[0, 1]["index"] = 0
    assert "has no 'index' attribute but others do" in space_error(g)
    g = tiny_graph()
    nx.set_edge_attributes(g, 1, "index")
    assert "they must number the 3 edges 0..2, each once" in space_error(g)
    g = tiny_graph()
    g.edges[0, 2]["kind"] = "stem"                                      # the space's own check runs
    assert "stem edge 0->2 offers 'none'; make it a branch edge" in space_error(g)
    g = tiny_graph()
    g.edges[1, 2]["candidates"] = ["identity"]                          # identity cannot halve the resolution
    assert "operator 'identity' cannot join node 1 (8 ch) to node 2 (16 ch) at stride 2" in space_error(g)
    g = tiny_graph()
    g.graph.pop("name")
    assert "needs a name: SearchSpace.from_networkx(graph, name='...')" in space_error(g)
    assert "do not pass them too" in space_error(tiny_graph(), edges=[])
    assert "must be a networkx DiGraph" in space_error(nx.Graph(tiny_graph()), name="undirected")
    g = tiny_graph()
    g.nodes[2]["in_degree"] = 1
    assert "given both as node attributes and as an argument" in space_error(g, in_degree={2: 1})
    assert SearchSpace.from_networkx(g, input_shape=(3, 16, 16), stem=Stem(8)).in_degree == {2: 1}


def test_node_ids_may_be_numpy_integers():
    g = nx.relabel_nodes(tiny_graph(), {i: np.int64(i) for i in range(3)})
    space = SearchSpace.from_networkx(g, input_shape=(3, 16, 16), stem=Stem(8))
    assert space.size == 8 and Architecture.from_networkx(space, space.sample(0).graph) == space.sample(0)
