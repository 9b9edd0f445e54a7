"""Accuracy prediction over a whole (sub)space from a few labelled architectures (GCN-NAS style).

Label a few architectures with a cheap estimator (supernet accuracy, a short training run, a
benchmark table), then let a graph network over the space's Hamming-1 graph predict the rest:

* :mod:`~graphnas.predictor.hamming`: the graph (one node per architecture, numbered by
  ``SearchSpace.index``; an edge per single-choice change), GCN-normalised, as a
  ``torch.sparse_csr_tensor`` or computed on the fly for any batch of nodes;
* :mod:`~graphnas.predictor.features`: Gray-code (or one-hot) node features, with the free inputs of
  :mod:`~graphnas.predictor.inputs` (analytic cost, a small cell's path encoding) joined by ``+``;
* :mod:`~graphnas.predictor.gcn`: :class:`GCNPredictor` (PyG ``GCNConv`` on the sparse adjacency)
  and the :class:`MLPPredictor` baseline;
* :mod:`~graphnas.predictor.fit`: the transductive training recipe and :func:`predict_space`;
* :mod:`~graphnas.predictor.recipes`: named option sets (``gcn-nas``, ``accurate``, ``fast``) that the
  label-budget benchmark measured;
* :mod:`~graphnas.predictor.rescore`: :func:`label_fit_rescore`, the label -> fit -> re-score loop
  that the gcn search and lookup labelling run.

Example::

    >>> import graphnas
    >>> from graphnas.predictor import predict_space
    >>> space = graphnas.get_space("nb201")
    >>> # labels = {space.index(arch): accuracy, ...}   # a few hundred
    >>> # pred, history = predict_space(space, labels)  # pred[i]: space.from_index(i)'s score
"""

from .features import FEATURES, feature_width, gray_features, node_features, onehot_features, parse_features
from .inputs import EXTRAS, cost_columns, path_columns
from .fit import (MIN_LABELS_TO_VALIDATE, SEARCH_OPTIONS, fit_predictor, for_labels, job_options, out_of_sample_array,
                  predict_all, predict_space, subgraph_forward)
from .gcn import GCNPredictor, MLPPredictor
from .hamming import (ASSIGNED_WEIGHT, BYTES_PER_ENTRY, HammingGraph, hamming_graph, measured_weights, neighbours,
                      radices_of)
from .recipes import RECIPES, available, recipe
from .rescore import Labelled, label_fit_rescore

__all__ = [
    "HammingGraph", "hamming_graph", "measured_weights", "neighbours", "radices_of",
    "ASSIGNED_WEIGHT", "BYTES_PER_ENTRY", "FEATURES", "feature_width", "gray_features", "onehot_features",
    "node_features", "parse_features", "EXTRAS", "cost_columns", "path_columns", "GCNPredictor", "MLPPredictor", "fit_predictor", "predict_space", "predict_all",
    "subgraph_forward", "SEARCH_OPTIONS", "MIN_LABELS_TO_VALIDATE", "job_options", "for_labels", "Labelled", "label_fit_rescore",
    "RECIPES", "recipe", "available", "out_of_sample_array",
]
