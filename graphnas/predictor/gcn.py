"""Accuracy predictors over the Hamming graph: a GCN (GCN-NAS) and an MLP baseline.

``GCNPredictor``: ``L`` PyG :class:`~torch_geometric.nn.GCNConv` layers (default two of 128 units),
each ``dropout -> GCNConv -> ReLU``, then ``dropout -> Linear(., 1)``. The layers are built with
``normalize=False``: the adjacency handed to ``forward`` is already ``D^-1/2 (A + I) D^-1/2``
(:class:`~graphnas.predictor.hamming.HammingGraph`), a ``torch.sparse_csr_tensor``, so each layer is
one sparse-dense product ``A_hat (H W) + b`` (PyG's fused ``message_and_aggregate`` path,
``torch.sparse.mm``), never per-edge messages over an edge list. Its backward multiplies by
``A_hat^T``, which is ``A_hat`` itself for the whole (symmetric) graph and is computed once per
cached block otherwise (:func:`sparse_mm`), instead of torch's transpose on every step. ``adj`` may also be a list of
rectangular blocks, one per layer (``A_hat[targets_l, sources_l]``), for receptive-field training.

``MLPPredictor``: the same widths, dropout and head with ``Linear`` layers instead of
``GCNConv`` (no graph), on the same features; ``forward`` ignores ``adj``.

Defaults, from single-seed runs on NAS-Bench-201 with 1,000 labels (Gray features, ranking loss,
300 epochs): width 128 gave tau 0.725, width 512 0.697 at four times the cost, so 128; dropout
0.1 (0.5 gave 0.614 against 0.630 without the ranking loss, at 150 epochs). BENCHMARKS.md has the
multi-seed figures of the defaults.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

with warnings.catch_warnings():  # PyG's pooling modules call the deprecated torch.jit.script at import
    warnings.simplefilter("ignore", FutureWarning)
    from torch_geometric.nn import GCNConv

from ..errors import PredictorError

__all__ = ["GCNPredictor", "MLPPredictor", "sparse_mm", "HIDDEN", "DROPOUT"]

HIDDEN = (128, 128)
DROPOUT = 0.1


def _widths(in_features: int, hidden: Sequence[int]) -> list[int]:
    hidden = list(hidden)
    if in_features < 1 or not hidden or any(int(h) < 1 for h in hidden):
        raise PredictorError(f"a predictor needs in_features >= 1 and at least one hidden width >= 1, got "
                             f"in_features={in_features}, hidden={hidden}")
    return [int(in_features)] + [int(h) for h in hidden]


def _transpose(adj: torch.Tensor) -> torch.Tensor:
    """``adj^T`` as CSR: ``adj`` itself when marked symmetric, else computed once and kept on the tensor."""
    if getattr(adj, "graphnas_symmetric", False):
        return adj
    cached = getattr(adj, "graphnas_transpose", None)
    if cached is None:
        cached = adj.t().to_sparse_csr()
        adj.graphnas_transpose = cached
    return cached


class _SpMM(torch.autograd.Function):
    """``adj @ x`` for a constant CSR ``adj``; the backward multiplies by ``adj^T``, which is ``adj`` for the
    symmetric Hamming adjacency (torch's own backward would transpose the CSR, a sort, on every step:
    1.5 s of a 2.0 s backward for 6^7 nodes)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, torch.sparse.mm(_transpose(ctx.adj), grad)


def sparse_mm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adj @ x`` for a constant ``torch.sparse_csr_tensor`` ``adj`` and a dense ``x``, differentiable in ``x``."""
    return _SpMM.apply(adj, x)


class _GCNConv(GCNConv):
    """PyG's GCNConv whose fused sparse product uses :func:`sparse_mm` on a CSR adjacency."""

    def message_and_aggregate(self, adj_t, x: torch.Tensor) -> torch.Tensor:
        if isinstance(adj_t, torch.Tensor) and adj_t.layout == torch.sparse_csr:
            return sparse_mm(adj_t, x)
        return super().message_and_aggregate(adj_t, x)


class GCNPredictor(nn.Module):
    """Graph convolutional regressor: one score per node of the Hamming graph.

    Args:
        in_features (int): feature columns (:func:`~graphnas.predictor.features.feature_width`).
        hidden (sequence of int): widths of the GCN layers (default ``(128, 128)``).
        dropout (float): dropout before every layer and the head (default 0.1).
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = HIDDEN, dropout: float = DROPOUT) -> None:
        super().__init__()
        w = _widths(in_features, hidden)
        self.convs = nn.ModuleList(_GCNConv(a, b, normalize=False) for a, b in zip(w[:-1], w[1:]))
        self.head = nn.Linear(w[-1], 1)
        self.dropout = float(dropout)

    @property
    def num_layers(self) -> int:
        """Graph hops a prediction depends on."""
        return len(self.convs)

    def forward(self, x: torch.Tensor, adj) -> torch.Tensor:
        """Scores ``[n_targets]``.

        Args:
            x (Tensor): ``[n, in_features]`` features of the (source) nodes.
            adj (Tensor or list of Tensor): the normalised ``(n, n)`` sparse adjacency, or one
                sparse block per layer (``[n_out_l, n_in_l]``, the last one's rows are the targets).
        """
        adjs = list(adj) if isinstance(adj, (list, tuple)) else [adj] * len(self.convs)
        if len(adjs) != len(self.convs):
            raise PredictorError(f"GCNPredictor has {len(self.convs)} layers but got {len(adjs)} adjacency blocks")
        for conv, a in zip(self.convs, adjs):
            x = F.relu(conv(F.dropout(x, self.dropout, self.training), a))
        return self.head(F.dropout(x, self.dropout, self.training)).squeeze(-1)


class MLPPredictor(nn.Module):
    """Multi-layer perceptron on the node features alone (the baseline).

    Args:
        in_features (int): feature columns.
        hidden (sequence of int): hidden widths (default ``(128, 128)``).
        dropout (float): dropout before every layer and the head (default 0.1).
    """

    num_layers = 0

    def __init__(self, in_features: int, hidden: Sequence[int] = HIDDEN, dropout: float = DROPOUT) -> None:
        super().__init__()
        w = _widths(in_features, hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(w[:-1], w[1:]))
        self.head = nn.Linear(w[-1], 1)
        self.dropout = float(dropout)

    def forward(self, x: torch.Tensor, adj=None) -> torch.Tensor:
        """Scores ``[n]``; ``adj`` is ignored."""
        for layer in self.layers:
            x = F.relu(layer(F.dropout(x, self.dropout, self.training)))
        return self.head(F.dropout(x, self.dropout, self.training)).squeeze(-1)
