"""The Hamming-1 graph of a search space, as a GCN-normalised sparse adjacency.

One node per architecture, numbered by its mixed-radix index (``SearchSpace.index``: edge 0 most
significant, ``stride_i = r_{i+1} * ... * r_{E-1}``); an edge between every two architectures whose
choice vectors differ in exactly one position. Every node has the same number of neighbours,
``sum(r_i - 1)``, and they are arithmetic on the index, so nothing is searched or hashed: the
neighbour of node ``idx`` (choice ``c_i`` at position ``i``) that takes candidate ``(c_i + s) mod r_i``
instead, for ``s = 1..r_i - 1``, is ::

    idx + ((c_i + s) mod r_i - c_i) * stride_i

Edge weights. ``assigned``: every edge weighs ``e^-0.5`` (GCN-NAS's constant). ``measured``: the
weight of an edge that changes position ``i`` from candidate ``a`` to ``b`` is an estimate of the
correlation of the (standardised) accuracies of two architectures that differ only there: for unit
variance, ``E[(z_u - z_v)^2] = 2 (1 - rho)``, so ``w = clip(1 - d2 / 2, 0, 1)`` with ``d2`` the mean
squared difference of such pairs. Labelled pairs at Hamming distance 1 are rare (200 labels of
NAS-Bench-201 give about 30 in all), so ``d2`` is shrunk towards an additive model's value: a ridge
regression of the standardised labels on the one-hot choices gives per-candidate effects
``theta_i``, and ``d2_model = (theta_i[a] - theta_i[b])^2``; with ``n`` observed pairs of sum ``S``,
``d2 = (S + k * d2_model) / (n + k)`` (``k = prior_pairs``). A position whose candidates do not
change the accuracy gets weights near 1, one that matters a lot gets weights near 0.

Normalisation (Kipf & Welling): ``A_hat = D^-1/2 (A + I) D^-1/2`` with ``D = 1 + sum_v w(u, v)``.
With measured weights the degree depends on the node's choices, ``D(c) = 1 + sum_i sum_{b != c_i}
W_i[c_i, b]``, so it is computed from the choices wherever it is needed; the sub-blocks used for
mini-batches (:meth:`HammingGraph.block`) are exactly the rows and columns of the full matrix.

Memory. The explicit CSR stores ``N * (deg + 1)`` entries (self-loops included), each an int64
column index and a float32 value: 12 bytes per entry, plus ``8 (N + 1)`` bytes of row pointers.
NAS-Bench-201 (5^6 = 15,625 nodes, degree 24): 4.8 MB. 6^7 = 279,936 nodes, degree 35: 123 MB
(117 MiB). 6^8 = 1,679,616 nodes, degree 40: 840 MB (801 MiB). Building needs about twice that again in temporaries,
one chunk of rows at a time. Beyond that, :meth:`HammingGraph.neighbours` and
:meth:`HammingGraph.block` compute any rows on the fly, which mini-batch training and chunked
inference use (:mod:`graphnas.predictor.fit`).
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np
import torch

from ..errors import PredictorError
from ..space.encoding import choices_of, place_values, size_of

__all__ = ["ASSIGNED_WEIGHT", "BYTES_PER_ENTRY", "HammingGraph", "hamming_graph", "radices_of", "neighbours",
           "measured_weights"]

#: GCN-NAS's constant edge weight.
ASSIGNED_WEIGHT = math.exp(-0.5)
#: Bytes per stored CSR entry: an int64 column index and a float32 value.
BYTES_PER_ENTRY = 12
#: Row chunk used when building the explicit adjacency (bounds the temporaries).
CHUNK = 1 << 16


def radices_of(space) -> np.ndarray:
    """Candidates per choice edge of a :class:`~graphnas.space.searchspace.SearchSpace` (or of a radix sequence).

    Raises:
        PredictorError: the space has in-degree constraints (its index is not a plain mixed-radix
            number, so the arithmetic above does not hold), or the radices are not positive ints.
    """
    if hasattr(space, "radices"):
        if getattr(space, "in_degree", None):
            raise PredictorError(f"space '{space.name}' has in-degree constraints; the Hamming graph needs a plain "
                                 f"mixed-radix space (one independent choice per edge), e.g. a subspace without them")
        return np.asarray(space.radices, dtype=np.int64)
    r = np.asarray(space)
    if r.ndim != 1 or len(r) == 0 or not np.issubdtype(r.dtype, np.integer) or (r < 1).any():
        raise PredictorError(f"radices must be a non-empty 1-D sequence of positive ints (candidates per edge), "
                             f"got {space!r}")
    return r.astype(np.int64)


def _ids(ids, size: int) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise PredictorError(f"node ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= size):
        raise PredictorError(f"node ids must lie in 0..{size - 1} (the space's size), got {arr.min()}..{arr.max()}")
    return arr


def neighbours(space, ids) -> np.ndarray:
    """The Hamming-1 neighbours of node ids, computed on the fly: ``(len(ids), sum(r_i - 1))`` int64.

    Columns are grouped by position (edge 0 first) and, within a position, ordered by shift
    ``s = 1..r_i - 1`` (the neighbour choosing ``(c_i + s) mod r_i``).
    """
    return HammingGraph(radices_of(space)).neighbours(ids)


def _csr(crow: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A CSR tensor from arrays built here (valid by construction: invariant checks skipped, beta warning muted)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, cols, vals, size=size, check_invariants=False)


def _check_tables(radices: np.ndarray, tables) -> list[np.ndarray]:
    if len(tables) != len(radices):
        raise PredictorError(f"edge weights need one (r_i, r_i) table per position ({len(radices)}), got {len(tables)}")
    out = []
    for i, (r, t) in enumerate(zip(radices.tolist(), tables)):
        t = np.asarray(t, dtype=np.float64)
        if t.shape != (r, r) or not np.isfinite(t).all() or (t < 0).any() or (t > 1).any() or \
                not np.allclose(t, t.T):
            raise PredictorError(f"edge-weight table {i} must be a symmetric ({r}, {r}) array in [0, 1], "
                                 f"got shape {t.shape}")
        out.append(t)
    return out


class HammingGraph:
    """The Hamming-1 graph of a mixed-radix space with GCN-normalised edge weights.

    Args:
        radices (sequence of int): candidates per choice edge (``SearchSpace.radices``).
        tables (sequence of arrays, optional): per position ``i`` a symmetric ``(r_i, r_i)`` table of
            edge weights in [0, 1]: ``tables[i][a, b]`` weighs the edge that changes position ``i``
            from candidate ``a`` to ``b`` (the diagonal is unused). Default: every edge
            :data:`ASSIGNED_WEIGHT`.
        weighting (str, optional): a label for reports (``"assigned"``, ``"measured"``, ...).

    Attributes:
        num_nodes (int): architectures, ``prod(r_i)``.
        degree (int): neighbours of every node, ``sum(r_i - 1)``.
    """

    def __init__(self, radices: Sequence[int], tables: Sequence | None = None, weighting: str | None = None) -> None:
        self.radices = radices_of(radices)
        self.num_nodes = size_of(self.radices)
        self.strides = place_values(self.radices)
        self.degree = int((self.radices - 1).sum())
        if tables is None:
            tables = [np.full((r, r), ASSIGNED_WEIGHT) for r in self.radices.tolist()]
            weighting = weighting or "assigned"
        self.tables = _check_tables(self.radices, tables)
        self.weighting = weighting or "custom"
        # Weighted degree contribution of position i when it holds candidate c: row sum off the diagonal.
        self._rowsum = [t.sum(axis=1) - np.diag(t) for t in self.tables]
        self._adjacency: torch.Tensor | None = None

    # ------------------------------------------------------------------ rows on the fly
    def choices(self, ids) -> np.ndarray:
        """Choice vectors of node ids, ``(n, E)`` int64."""
        return choices_of(self.radices, _ids(ids, self.num_nodes))

    def _neighbours(self, idx: np.ndarray, c: np.ndarray, with_weights: bool):
        cols, weights = [], []
        for i, r in enumerate(self.radices.tolist()):
            for s in range(1, r):
                new = (c[:, i] + s) % r
                cols.append(idx + (new - c[:, i]) * self.strides[i])
                if with_weights:
                    weights.append(self.tables[i][c[:, i], new])
        nb = np.stack(cols, axis=1) if cols else np.zeros((len(idx), 0), np.int64)
        if not with_weights:
            return nb
        return nb, (np.stack(weights, axis=1) if weights else np.zeros((len(idx), 0)))

    def neighbours(self, ids) -> np.ndarray:
        """Hamming-1 neighbours of ``ids``: ``(n, degree)`` int64, by position then shift (see :func:`neighbours`)."""
        idx = _ids(ids, self.num_nodes)
        return self._neighbours(idx, self.choices(idx), with_weights=False)

    def weighted_degree(self, ids) -> np.ndarray:
        """``D = 1 + sum of edge weights`` of each node (the self-loop counts 1), float64."""
        c = self.choices(ids)
        d = np.ones(len(c))
        for i, rs in enumerate(self._rowsum):
            d += rs[c[:, i]]
        return d

    def rows(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``ids`` of ``A_hat``, self-loop included: ``(cols, vals)``, both ``(n, degree + 1)``.

        ``cols`` (int64) are sorted within each row; ``vals`` (float32) are ``w(u, v) / sqrt(D_u D_v)``.
        """
        idx = _ids(ids, self.num_nodes)
        c = self.choices(idx)
        nb, w = self._neighbours(idx, c, with_weights=True)
        cols = np.concatenate([idx[:, None], nb], axis=1)
        d_u = self.weighted_degree(idx)
        d_v = self.weighted_degree(nb.reshape(-1)).reshape(nb.shape) if nb.size else np.ones(nb.shape)
        vals = np.concatenate([1.0 / d_u[:, None], w / np.sqrt(d_u[:, None] * d_v)], axis=1)
        order = np.argsort(cols, axis=1, kind="stable")
        return np.take_along_axis(cols, order, axis=1), np.take_along_axis(vals, order, axis=1).astype(np.float32)

    def block(self, row_ids, col_ids=None) -> torch.Tensor:
        """The sub-matrix ``A_hat[row_ids, col_ids]`` as a ``torch.sparse_csr_tensor``.

        Args:
            row_ids (array_like of int): target nodes (the rows, in this order).
            col_ids (array_like of int, optional): source nodes, sorted and unique, containing every
                neighbour of every row (e.g. :meth:`closure` of the rows). Columns are positions in
                ``col_ids``. Default: all nodes (global column ids).

        Raises:
            PredictorError: ``col_ids`` misses a neighbour of a row.
        """
        cols, vals = self.rows(row_ids)
        n_cols = self.num_nodes
        if col_ids is not None:
            col_ids = _ids(col_ids, self.num_nodes)
            pos = np.searchsorted(col_ids, cols)
            pos_c = np.minimum(pos, len(col_ids) - 1)
            if len(col_ids) == 0 or (col_ids[pos_c] != cols).any():
                raise PredictorError("block(): col_ids must be sorted, unique and hold every neighbour of the rows; "
                                     "pass closure(row_ids)")
            cols, n_cols = pos_c, len(col_ids)
        n, k = cols.shape
        crow = torch.arange(0, n * k + 1, k, dtype=torch.int64)
        return _csr(crow, torch.from_numpy(np.ascontiguousarray(cols.reshape(-1))),
                    torch.from_numpy(np.ascontiguousarray(vals.reshape(-1))), (n, n_cols))

    def closure(self, ids) -> np.ndarray:
        """``ids`` and all their neighbours, sorted and unique (one hop of the receptive field)."""
        idx = _ids(ids, self.num_nodes)
        return np.unique(np.concatenate([idx, self.neighbours(idx).reshape(-1)]))

    # ------------------------------------------------------------------ the whole matrix
    def nbytes(self) -> int:
        """Bytes of the explicit CSR adjacency: ``12 N (deg + 1) + 8 (N + 1)``."""
        return BYTES_PER_ENTRY * self.num_nodes * (self.degree + 1) + 8 * (self.num_nodes + 1)

    def adjacency(self, max_bytes: int = 8 << 30) -> torch.Tensor:
        """The whole ``A_hat`` as an ``(N, N)`` float32 ``torch.sparse_csr_tensor`` (built once, cached).

        Built in row chunks of :data:`CHUNK` nodes, vectorised within a chunk.

        Raises:
            PredictorError: the matrix would exceed ``max_bytes`` (default 8 GiB); use mini-batches
                (``fit_predictor(..., adj=graph, batch_size=...)``) instead.
        """
        if self._adjacency is not None:
            return self._adjacency
        if self.nbytes() > max_bytes:
            raise PredictorError(f"the Hamming graph of {self.num_nodes} nodes (degree {self.degree}) needs "
                                 f"{self.nbytes() / 2**30:.1f} GiB as CSR, more than max_bytes={max_bytes / 2**30:.1f} "
                                 f"GiB; train with mini-batches on the implicit graph instead (batch_size=...)")
        k = self.degree + 1
        cols = torch.empty(self.num_nodes * k, dtype=torch.int64)
        vals = torch.empty(self.num_nodes * k, dtype=torch.float32)
        for start in range(0, self.num_nodes, CHUNK):
            stop = min(start + CHUNK, self.num_nodes)
            c, v = self.rows(np.arange(start, stop))
            cols[start * k:stop * k] = torch.from_numpy(c.reshape(-1))
            vals[start * k:stop * k] = torch.from_numpy(v.reshape(-1))
        crow = torch.arange(0, self.num_nodes * k + 1, k, dtype=torch.int64)
        self._adjacency = _csr(crow, cols, vals, (self.num_nodes, self.num_nodes))
        self._adjacency.graphnas_symmetric = True  # its own transpose (gcn.sparse_mm's backward uses it)
        return self._adjacency

    def edge_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(edge_index [2, N (deg + 1)], edge_weight)`` of ``A_hat``: the per-edge message form (for comparison).

        Row 0 holds sources, row 1 targets (PyG's ``source_to_target`` flow); the matrix is symmetric.
        """
        adj = self.adjacency()
        crow = adj.crow_indices()
        rows = torch.repeat_interleave(torch.arange(self.num_nodes), crow[1:] - crow[:-1])
        return torch.stack([adj.col_indices(), rows]), adj.values()

    def __repr__(self) -> str:
        return (f"HammingGraph(nodes={self.num_nodes}, degree={self.degree}, radices={self.radices.tolist()}, "
                f"weighting={self.weighting!r})")


def _labels(labels, size: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(labels, Mapping):
        ids, values = list(labels.keys()), list(labels.values())
    else:
        ids, values = labels
    ids = _ids(np.asarray(ids, dtype=np.int64) if len(ids) else np.zeros(0, np.int64), size)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(ids) != len(values) or not np.isfinite(values).all():
        raise PredictorError("labels must map node ids to finite numbers, one value per id")
    if len(np.unique(ids)) != len(ids):
        raise PredictorError("labels name a node id more than once")
    return ids, values


def measured_weights(space, labels, ridge: float = 1.0, prior_pairs: float = 5.0) -> list[np.ndarray]:
    """Per (position, candidate pair) edge weights estimated from labelled architectures.

    Args:
        space (SearchSpace or sequence of int): the space, or its radices.
        labels (dict or (ids, values)): node id -> accuracy (any score, higher better), at least 3.
        ridge (float): L2 penalty of the additive model on standardised labels (default 1.0).
        prior_pairs (float): how many observed pairs the additive model's estimate counts as (default 5).

    Returns:
        One symmetric ``(r_i, r_i)`` float64 table per position, in [0, 1], diagonal 1: the estimated
        correlation ``clip(1 - d2 / 2, 0, 1)`` described in the module docstring.
    """
    r = radices_of(space)
    ids, y = _labels(labels, size_of(r))
    if len(ids) < 3 or np.ptp(y) == 0:
        raise PredictorError(f"measured edge weights need at least 3 labels that are not all equal, got {len(ids)}")
    z = (y - y.mean()) / y.std()
    graph = HammingGraph(r)
    c = graph.choices(ids)
    # Additive model: z ~ b + sum_i theta_i[c_i], ridge on the one-hot design.
    offsets = np.concatenate([[0], np.cumsum(r)[:-1]])
    design = np.zeros((len(ids), int(r.sum())))
    design[np.arange(len(ids))[:, None], offsets[None, :] + c] = 1.0
    design -= design.mean(axis=0)
    theta = np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]), design.T @ (z - z.mean()))
    # Observed labelled pairs at Hamming distance 1.
    order = np.argsort(ids)
    sorted_ids, sorted_z = ids[order], z[order]
    sums = [np.zeros((k, k)) for k in r.tolist()]
    counts = [np.zeros((k, k)) for k in r.tolist()]
    nb = graph.neighbours(ids)
    pos = np.minimum(np.searchsorted(sorted_ids, nb), len(ids) - 1)
    hit = sorted_ids[pos] == nb
    col = 0
    for i, k in enumerate(r.tolist()):
        for _ in range(1, k):
            u = np.flatnonzero(hit[:, col])
            a, b = c[u, i], graph.choices(nb[u, col])[:, i]
            d2 = (z[u] - sorted_z[pos[u, col]]) ** 2
            np.add.at(sums[i], (a, b), d2)  # each pair is seen from both ends: symmetric by construction
            np.add.at(counts[i], (a, b), 1.0)
            col += 1
    tables = []
    for i, k in enumerate(r.tolist()):
        th = theta[offsets[i]:offsets[i] + k]
        model = (th[:, None] - th[None, :]) ** 2
        d2 = (sums[i] + prior_pairs * model) / (counts[i] + prior_pairs)
        w = np.clip(1.0 - d2 / 2.0, 0.0, 1.0)
        np.fill_diagonal(w, 1.0)
        tables.append(w)
    return tables


def hamming_graph(space, weights: str | Sequence = "assigned", labels=None, **options) -> HammingGraph:
    """The Hamming-1 graph of ``space`` with ``assigned`` or ``measured`` edge weights.

    Args:
        space (SearchSpace or sequence of int): the space, or its radices.
        weights (str or sequence): ``"assigned"`` (every edge ``e^-0.5``), ``"measured"`` (from
            ``labels``, see :func:`measured_weights`) or explicit per-position tables.
        labels (dict, optional): node id -> accuracy; required for ``"measured"``.
        **options: passed to :func:`measured_weights` (``ridge``, ``prior_pairs``).

    Example::

        >>> import graphnas
        >>> g = hamming_graph(graphnas.get_space("nb201"))
        >>> g.num_nodes, g.degree, g.nbytes()
        (15625, 24, 4812508)
    """
    r = radices_of(space)
    if isinstance(weights, str):
        if weights == "assigned":
            return HammingGraph(r, None, "assigned")
        if weights == "measured":
            if labels is None:
                raise PredictorError("weights='measured' needs labels (node id -> accuracy)")
            return HammingGraph(r, measured_weights(r, labels, **options), "measured")
        raise PredictorError(f"unknown edge weighting {weights!r}; use 'assigned', 'measured' or per-position tables")
    return HammingGraph(r, weights, "custom")
