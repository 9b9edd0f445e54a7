"""Search spaces and architectures drawn in networkx: what ``SearchSpace.from_networkx`` and
``Architecture.from_networkx`` read.

**A space** is a ``networkx.DiGraph`` whose nodes are its feature maps and whose edges are its choice
edges. Node ids are ``0..n-1`` in topological order (every edge goes from a smaller id to a larger one;
node 0 is the stem's output, the last node feeds the head), as :class:`~graphnas.space.searchspace.SearchSpace` numbers them.

================  ====================================================================================
node attribute    meaning (:class:`~graphnas.space.parts.Node`)
================  ====================================================================================
``channels``      width of the feature map (required)
``reduction``     cumulative downsampling from the input image: 1, 2, 4, ... (required)
``stage``         stage index, for rendering and reports (default 0)
``concat``        node ids whose channel concatenation this node is (a template's output; optional)
``in_degree``     the node keeps exactly this many present incoming choice edges (optional)
================  ====================================================================================

================  ====================================================================================
edge attribute    meaning (:class:`~graphnas.space.parts.ChoiceEdge`)
================  ====================================================================================
``candidates``    the operator names to choose from (required); ``none`` offers the edge's absence
``kind``          ``stem`` (always present) or ``branch`` (may be absent); default: ``branch`` when
                  the candidates offer ``none``, else ``stem``
``index``         position in the choice vector, on every edge or on none; default: edges ordered by
                  target, then source (NAS-Bench-201's and DARTS's order; a chain's order)
================  ====================================================================================

Everything else (input shape, classes, stem, head, body, templates, scale, ...) is a keyword argument of
:class:`~graphnas.space.searchspace.SearchSpace`, and every check the space runs when it is built applies. Other
attributes (``resolution``, drawing positions, ...) are ignored.

**An architecture** is a DiGraph on the space's nodes with one edge per present choice edge, attribute
``op`` = the chosen operator. A branch edge left out (or labelled ``none``) is absent; a stem edge must be
there. :attr:`Architecture.graph <graphnas.space.architecture.Architecture.graph>` is such a graph (its other attributes,
``kind``, ``index``, ``stride``, ``live`` and the node attributes, are derived and not read back), so
``Architecture.from_networkx(space, arch.graph) == arch``.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import networkx as nx

from ..checks import check_int, shown
from ..errors import ArchitectureError, GraphnasError, SpaceError
from ..ops.registry import NONE
from .parts import BRANCH, STEM, ChoiceEdge, Node

if TYPE_CHECKING:
    from .searchspace import SearchSpace

__all__ = ["space_arguments", "choices_of_graph"]


def _check_graph(graph, what: str, error: type[GraphnasError]) -> None:
    """A DiGraph without cycles, or ``error`` naming an edge of a cycle."""
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise error(f"{what} must be a networkx DiGraph (one directed edge per pair of nodes), got "
                    f"{type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise error(f"{what} has no nodes")
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    path = "->".join(shown(u) for u, _ in cycle) + "->" + shown(cycle[0][0])
    raise error(f"{what} has a cycle ({path}); it must be a DAG: remove edge {shown(cycle[-1][0])}->"
                f"{shown(cycle[-1][1])} or another edge of the cycle")


def _node_ids(graph, count: int | None, what: str, error: type[GraphnasError]) -> None:
    """Node ids are ints in ``0..count-1`` (all of them when ``count`` is None: ``0..n-1``)."""
    n = graph.number_of_nodes() if count is None else count
    for node in graph.nodes:
        if isinstance(node, bool) or not isinstance(node, numbers.Integral) or not 0 <= node < n:
            raise error(f"{what} has node {shown(node)}; node ids are the integers 0..{n - 1} in topological order "
                        f"(relabel it, e.g. with networkx.convert_node_labels_to_integers)")


def _node(graph, n: int) -> tuple[Node, int | None]:
    data = graph.nodes[n]
    for key in ("channels", "reduction"):
        if key not in data:
            raise SpaceError(f"node {n} has no '{key}' attribute; give every node channels=<width> and "
                             f"reduction=<downsampling from the input: 1, 2, 4, ...>")
    channels = check_int(f"node {n}'s channels", data["channels"], 1, error=SpaceError)
    reduction = check_int(f"node {n}'s reduction", data["reduction"], 1, error=SpaceError)
    stage = check_int(f"node {n}'s stage", data.get("stage", 0), 0, error=SpaceError)
    concat = data.get("concat", ())
    if isinstance(concat, (str, bytes)) or not hasattr(concat, "__iter__"):
        raise SpaceError(f"node {n}'s concat={shown(concat)} must be a list of node ids")
    concat = tuple(check_int(f"node {n}'s concat entry", m, 0, error=SpaceError) for m in concat)
    k = data.get("in_degree")
    k = None if k is None else check_int(f"node {n}'s in_degree", k, 0, error=SpaceError)
    return Node(n, stage, channels, reduction, concat=concat), k


def _edge(u: int, v: int, data: dict) -> ChoiceEdge:
    cands = data.get("candidates")
    if isinstance(cands, (str, bytes)) or not isinstance(cands, (list, tuple)) or not cands or \
            not all(isinstance(op, str) for op in cands):
        raise SpaceError(f"edge {u}->{v} has candidates={shown(cands)}; give a non-empty list of operator names "
                         f"(candidates=[...], with 'none' where the edge may be absent)")
    kind = data.get("kind", BRANCH if NONE in cands else STEM)
    return ChoiceEdge(int(u), int(v), kind, tuple(cands))


def _edge_order(graph) -> list[tuple[int, int, dict]]:
    edges = list(graph.edges(data=True))
    given = [d for _, _, d in edges if "index" in d]
    if not given:
        return sorted(edges, key=lambda e: (e[1], e[0]))
    missing = next(((u, v) for u, v, d in edges if "index" not in d), None)
    if missing:
        raise SpaceError(f"edge {missing[0]}->{missing[1]} has no 'index' attribute but others do; give every edge "
                         f"its choice-vector position (0..{len(edges) - 1}) or none of them")
    indices = [d["index"] for d in given]
    if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in indices) or \
            sorted(indices) != list(range(len(edges))):
        raise SpaceError(f"the edges' 'index' attributes are {shown([str(i) for i in indices])}; they must number "
                         f"the {len(edges)} edges 0..{len(edges) - 1}, each once")
    return sorted(edges, key=lambda e: e[2]["index"])


def space_arguments(graph, options: dict) -> dict:
    """Keyword arguments of :class:`~graphnas.space.searchspace.SearchSpace` for a space drawn as ``graph`` (module doc).

    Args:
        graph (networkx.DiGraph): nodes with ``channels``, ``reduction`` (and optionally ``stage``, ``concat``,
            ``in_degree``), edges with ``candidates`` (and optionally ``kind``, ``index``).
        options (dict): the space's other arguments (``name``, ``input_shape``, ``stem``, ...); ``name``
            defaults to the graph's name.

    Returns:
        ``options`` with ``name``, ``nodes``, ``edges`` and ``in_degree`` filled in.

    Raises:
        SpaceError: not a DAG, node ids other than ``0..n-1``, a missing or malformed attribute, an
            ``in_degree`` given both on nodes and as an argument.
    """
    name = options.get("name")
    if name is None and isinstance(graph, nx.Graph):
        name = graph.graph.get("name")
    if not isinstance(name, str) or not name:
        raise SpaceError("a space drawn in networkx needs a name: SearchSpace.from_networkx(graph, name='...') "
                         "or graph.graph['name']")
    taken = sorted({"nodes", "edges"} & set(options))
    if taken:
        raise SpaceError(f"space '{name}': {' and '.join(taken)} come from the graph; do not pass them too")
    what = f"the graph of space '{name}'"
    _check_graph(graph, what, SpaceError)
    _node_ids(graph, None, what, SpaceError)
    nodes, in_degree = [], {}
    for n in range(graph.number_of_nodes()):
        node, k = _node(graph, n)
        nodes.append(node)
        if k is not None:
            in_degree[n] = k
    if in_degree and options.get("in_degree"):
        raise SpaceError(f"space '{name}': in_degree is given both as node attributes and as an argument; give one")
    edges = [_edge(u, v, d) for u, v, d in _edge_order(graph)]
    return {**options, "name": name, "nodes": nodes, "edges": edges,
            "in_degree": in_degree or options.get("in_degree") or {}}


def choices_of_graph(space: "SearchSpace", graph) -> list[int]:
    """The choice vector of the architecture of ``space`` drawn as ``graph`` (module doc).

    Raises:
        ArchitectureError: not a DAG, a node or an edge the space does not have, an edge without an
            ``op`` or with one that is not among its candidates, a missing stem edge, a graph labelled
            with another space's name (each one line naming the edge and the fix).
    """
    what = f"the architecture graph for space '{space.name}'"
    _check_graph(graph, what, ArchitectureError)
    named = graph.graph.get("space")
    if named is not None and named != space.name:
        raise ArchitectureError(f"the architecture graph is of space {shown(named)}, not '{space.name}'; read it with "
                                f"that space")
    _node_ids(graph, len(space.nodes), what, ArchitectureError)
    position = {e.key: i for i, e in enumerate(space.edges)}
    choices: list[int | None] = [None] * space.num_edges
    for u, v, data in graph.edges(data=True):
        i = position.get((u, v))
        if i is None:
            into = [f"{e.src}->{e.dst}" for e in space.edges if e.dst == v]
            raise ArchitectureError(f"edge {u}->{v} is not a choice edge of space '{space.name}'; remove it (the "
                                    f"space's edges into node {v}: {', '.join(into) or 'none'})")
        op = data.get("op")
        if not isinstance(op, str):
            raise ArchitectureError(f"edge {u}->{v} has op={shown(op)}; label it with the chosen operator, one of: "
                                    f"{', '.join(space.edges[i].candidates)}")
        choices[i] = space.op_index(i, op)
    for i, e in enumerate(space.edges):
        if choices[i] is None:
            if NONE not in e.candidates:
                raise ArchitectureError(f"edge {e.src}->{e.dst} is missing: it is a stem edge of space "
                                        f"'{space.name}', always present; add it with op= one of: "
                                        f"{', '.join(e.candidates)}")
            choices[i] = e.candidates.index(NONE)
    return choices
