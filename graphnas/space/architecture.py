"""Architecture: one point of a search space, as a choice vector and as a networkx DAG.

An :class:`Architecture` is data, never a module: a reference to its :class:`~graphnas.space.searchspace.SearchSpace`
and a tuple of choice indices, one per choice edge. Everything else is derived from those two:
the operator names, the DAG (nodes = feature maps, edges = chosen operators), the JSON text, the
stable content hash, the Gray-code bits and the Hamming-1 neighbours.

The encoding helpers (:func:`gray_encode`, :func:`gray_bits`, :func:`gray_widths`) are pure
functions over arrays so predictors can encode millions of choice vectors at once.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import TYPE_CHECKING, Iterator, Sequence

import networkx as nx
import numpy as np

from ..errors import ArchitectureError
from .networkx_input import choices_of_graph
from ..ops.registry import NONE
from .liveness import live_row  # the one liveness walk: one architecture is its one-row case

if TYPE_CHECKING:
    from .searchspace import SearchSpace

__all__ = ["Architecture", "gray_encode", "gray_decode", "gray_widths", "gray_bits", "FORMAT"]

#: The ``format`` tag of architecture JSON files.
FORMAT = "graphnas.architecture/1"


def gray_encode(index):
    """Reflected binary Gray code of non-negative ints (scalar or array): ``i ^ (i >> 1)``.

    Consecutive indices differ in exactly one bit.

    >>> [gray_encode(i) for i in range(5)]
    [0, 1, 3, 2, 6]
    """
    return index ^ (index >> 1)


def gray_decode(code):
    """Inverse of :func:`gray_encode` (scalar or array)."""
    index = code
    shift = code >> 1
    while np.any(shift):
        index = index ^ shift
        shift = shift >> 1
    return index


def gray_widths(radices) -> np.ndarray:
    """Bits per position, ``ceil(log2(n))`` for ``n`` candidates (0 for a single candidate).

    >>> gray_widths([1, 2, 5, 8]).tolist()
    [0, 1, 3, 3]
    """
    radices = np.asarray(radices, dtype=np.int64)
    return np.array([int(r - 1).bit_length() for r in radices], dtype=np.int64)


def gray_bits(choices, radices) -> np.ndarray:
    """Gray-code bit features of choice vectors.

    Args:
        choices (array_like): ``(N, E)`` or ``(E,)`` choice indices.
        radices (array_like): ``(E,)`` candidates per position.

    Returns:
        ``(N, sum(widths))`` (or ``(sum(widths),)``) array of 0/1 as ``uint8``, most significant
        bit first within each position.
    """
    choices = np.asarray(choices, dtype=np.int64)
    squeeze = choices.ndim == 1
    choices = np.atleast_2d(choices)
    widths = gray_widths(radices)
    codes = gray_encode(choices)
    cols = []
    for j, w in enumerate(widths.tolist()):
        for b in range(w - 1, -1, -1):
            cols.append((codes[:, j] >> b) & 1)
    out = np.stack(cols, axis=1).astype(np.uint8) if cols else np.zeros((len(choices), 0), np.uint8)
    return out[0] if squeeze else out


def _short(value, limit: int = 80) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (for messages about untrusted input)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _parse_int(digits: str) -> int:
    """JSON integers for :meth:`Architecture.from_json`: no architecture field needs more than 30 digits."""
    if len(digits.lstrip("-")) > 30:
        raise ArchitectureError(f"malformed architecture JSON (an integer of {len(digits.lstrip('-'))} digits); "
                                f"expected the output of Architecture.to_json()")
    return int(digits)


class Architecture:
    """One architecture of a search space.

    Args:
        space (SearchSpace): the space it belongs to.
        choices (sequence of int): one candidate index per choice edge.

    Raises:
        ArchitectureError: wrong length, a non-integer, an index out of range (the message names
            the edge and its candidates), or a node with an in-degree constraint that has the wrong
            number of present incoming edges (the message names the node and the count it needs).
    """

    def __init__(self, space: "SearchSpace", choices: Sequence[int]) -> None:
        values = list(np.asarray(choices).reshape(-1).tolist()) if not isinstance(choices, (list, tuple)) \
            else list(choices)
        if len(values) != space.num_edges:
            raise ArchitectureError(f"choice vector has {len(values)} entries but space '{space.name}' has "
                                    f"{space.num_edges} choice edges")
        for i, c in enumerate(values):
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
                raise ArchitectureError(f"choice {i} is {c!r}; choices must be integer candidate indices")
            if not 0 <= c < space.radices[i]:
                e = space.edges[i]
                raise ArchitectureError(f"choice {i} = {c} is out of range for edge {e.src}->{e.dst}, which has "
                                        f"{len(e.candidates)} candidates (0..{len(e.candidates) - 1}: "
                                        f"{', '.join(e.candidates)})")
        if space.in_degree:
            space.check_in_degree(values)
        self.space = space
        self.choices: tuple[int, ...] = tuple(int(c) for c in values)

    # ------------------------------------------------------------------ derived views
    @cached_property
    def ops(self) -> tuple[str, ...]:
        """The chosen operator name of every choice edge (``'none'`` for an absent branch edge)."""
        return tuple(e.candidates[c] for e, c in zip(self.space.edges, self.choices))

    @cached_property
    def live_edges(self) -> tuple[int, ...]:
        """Choice-edge positions that compute something, in execution order (by target, then source).

        An edge is live when it is not ``none``, its source is reachable from an input node of its
        template (node 0 in a one-template space) and its target reaches the template's output node
        (or a node the output concatenates) over present edges. Dead edges are neither built nor
        costed, unless the space sets ``prune_dead=False`` (every present edge is then live).
        """
        space = self.space
        live = [i for i, bit in enumerate(live_row(space, self.choices)[0]) if bit]
        return tuple(sorted(live, key=lambda i: (space.edges[i].dst, space.edges[i].src)))

    @cached_property
    def live_inputs(self) -> tuple[tuple[int, ...], ...]:
        """Per template, the input positions ``j`` whose node a live edge reads (or the output concatenates).

        A cell's preprocessing module for input ``j`` is built, run and costed only when ``j`` is listed.
        """
        read = live_row(self.space, self.choices)[1]
        return tuple(tuple(j for j, node in enumerate(t.nodes[:t.inputs]) if read[node]) for t in self.space.templates)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The DAG: every node of the space (attributes ``stage``, ``channels``, ``reduction``,
        ``resolution``) and one edge per present choice edge (attributes ``op``, ``kind``, ``index``,
        ``stride``, ``live``). Treat it as read-only; it is cached."""
        g = nx.DiGraph(space=self.space.name, hash=self.hash)
        for n in self.space.nodes:
            g.add_node(n.id, stage=n.stage, channels=n.channels, reduction=n.reduction, resolution=n.resolution)
        live = set(self.live_edges)
        for i, (e, op) in enumerate(zip(self.space.edges, self.ops)):
            if op != NONE:
                g.add_edge(e.src, e.dst, op=op, kind=e.kind, index=i, stride=self.space.stride(i), live=i in live)
        return g

    @cached_property
    def hash(self) -> str:
        """Stable content hash (16 hex digits): the space's structural fingerprint and the operator names.

        Identical across processes and runs, and across scales of the same space.
        """
        blob = json.dumps([self.space.fingerprint, list(self.ops)])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def gray_code(self) -> np.ndarray:
        """Gray-code bits of the choice vector, ``(sum(ceil(log2 n_i)),)`` uint8."""
        return gray_bits(self.choices, self.space.radices)

    # ------------------------------------------------------------------ Hamming geometry
    def hamming(self, other: "Architecture") -> int:
        """Number of choice edges on which two architectures of the same space differ."""
        self.space.check(other)
        return sum(a != b for a, b in zip(self.choices, other.choices))

    def neighbours(self) -> Iterator["Architecture"]:
        """All architectures at Hamming distance 1: ``sum(n_i - 1)`` of them, edge by edge.

        With an in-degree constraint, changing one choice can only swap the operator of a present
        edge into a constrained node (making an edge present or absent would change the node's count),
        so absent edges into such nodes have no neighbours; an architecture may have none at all.
        """
        space = self.space
        base = list(self.choices)
        constrained = {i: g for g in space.groups if g.k is not None for i in g.edges} if space.in_degree else {}
        for i, r in enumerate(space.radices.tolist()):
            g = constrained.get(i)
            flags = g.is_none[g.edges.index(i)] if g is not None else None
            for c in range(r):
                if c != base[i] and (flags is None or not (flags[c] or flags[base[i]])):
                    yield Architecture(space, base[:i] + [c] + base[i + 1:])

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "space": self.space.name,
            "fingerprint": self.space.fingerprint,
            "scale": dict(self.space.scale),
            "hash": self.hash,
            "choices": list(self.choices),
            "ops": list(self.ops),
        }

    def to_json(self) -> str:
        """JSON text that :meth:`from_json` (or ``space.from_json``) reads back."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict, space: "SearchSpace") -> "Architecture":
        """Validate a dict written by :meth:`to_dict` against ``space`` and build the architecture."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ArchitectureError(f"not a graphnas architecture: expected a JSON object with "
                                    f"\"format\": \"{FORMAT}\", \"space\" and \"ops\"")
        named = data.get("space")
        if named != space.name:
            hint = f"load it with --space {named}" if isinstance(named, str) and named.isprintable() \
                and len(named) <= 200 else "its \"space\" must name a space"
            raise ArchitectureError(f"architecture is for space {_short(named)}, not '{space.name}'; {hint}")
        ops = data.get("ops")
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            raise ArchitectureError("architecture JSON: \"ops\" must be a list of operator names")
        for i, op in enumerate(ops):
            if not op.isprintable() or len(op) > 100:  # never echo control characters or a megabyte in a message
                raise ArchitectureError(f"architecture JSON: operator {i} {_short(op)} is not an operator name; "
                                        f"use the names `graphnas spaces` lists")
        if data.get("fingerprint") not in (None, space.fingerprint):
            # Same name, different structure: name the first edge that differs if the lengths agree.
            raise ArchitectureError(f"architecture was written for a different version of space '{space.name}' "
                                    f"(fingerprint {_short(data.get('fingerprint'))}, this space has "
                                    f"{space.fingerprint}); rebuild it with this space's edges")
        arch = space.from_ops(ops)
        if "choices" in data and (not isinstance(data["choices"], list) or data["choices"] != list(arch.choices)):
            raise ArchitectureError(f"architecture JSON: \"choices\" {_short(data['choices'])} disagree with \"ops\" "
                                    f"(which give {_short(list(arch.choices))}); fix or drop \"choices\"")
        return arch

    @classmethod
    def from_json(cls, text: str, space: "SearchSpace") -> "Architecture":
        """Parse JSON text (see :meth:`to_json`); malformed text raises :class:`ArchitectureError`."""
        fix = "expected the output of Architecture.to_json()"
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError:
                raise ArchitectureError(f"architecture JSON is not UTF-8 text (binary?); {fix}") from None
        if not isinstance(text, str):
            raise ArchitectureError(f"architecture JSON must be text, got {type(text).__name__}; {fix}")
        try:
            data = json.loads(text, parse_int=_parse_int)
        except json.JSONDecodeError as err:
            raise ArchitectureError(f"malformed architecture JSON ({err.msg} at line {err.lineno} column "
                                    f"{err.colno}); {fix}") from None
        except ArchitectureError:  # from _parse_int
            raise
        except RecursionError:  # [[[[...]]]] or {"a": {"a": ...}} nested deeper than the parser's stack
            raise ArchitectureError(f"malformed architecture JSON (nested too deeply); {fix}") from None
        except ValueError as err:  # what else the parser refuses
            raise ArchitectureError(f"malformed architecture JSON ({_short(str(err))}); {fix}") from None
        return cls.from_dict(data, space)

    @classmethod
    def from_networkx(cls, space: "SearchSpace", graph: nx.DiGraph) -> "Architecture":
        """The architecture of ``space`` drawn as a networkx DiGraph: one edge per present choice edge,
        labelled with its operator (attribute ``op``); a branch edge left out is ``none``. The inverse
        of :attr:`graph`: ``Architecture.from_networkx(arch.space, arch.graph) == arch``.

        Raises:
            ArchitectureError: a cycle, a node or edge the space does not have, an ``op`` that is not a
                candidate of its edge, a missing stem edge, or a broken in-degree constraint (one line
                naming the edge and the fix).
        """
        return cls(space, choices_of_graph(space, graph))

    # ------------------------------------------------------------------ identity
    def __eq__(self, other) -> bool:
        return (isinstance(other, Architecture) and self.choices == other.choices
                and self.space.fingerprint == other.space.fingerprint)

    def __hash__(self) -> int:
        return hash((self.space.fingerprint, self.choices))

    def __repr__(self) -> str:
        return f"Architecture(space={self.space.name!r}, hash={self.hash}, choices={list(self.choices)})"
