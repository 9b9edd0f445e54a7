"""Named predictor recipes: the option sets of :func:`~graphnas.predictor.fit.predict_space` that the benchmarks
measured, so callers ask for one by name rather than repeating a dozen options.

* ``"gcn-nas"``: GCN-NAS's recipe as graphnas implements it, ``predict_space``'s defaults: Gray-code features,
  one GCN of two 128-wide layers, 600 epochs (patience 200), MSE + 1 x pairwise ranking loss.
* ``"accurate"``: the recipe of the label-budget benchmark (BENCHMARKS.md, "predictor-labels"): one-hot
  features with the analytic cost columns and, where the space is a small cell, the path encoding;
  ranking loss x10; 300 epochs (patience 100) per member; an average of 5 members, cross-fitted (member ``k``
  holds the ``k``-th fifth of the labels out for early stopping, so every label gets one out-of-sample
  prediction, which a lookup table's shrinkage order combines with it). About 5x the seconds of one
  ``gcn-nas`` fit, and ahead of it at every label budget measured on NAS-Bench-201.
* ``"fast"``: one member of ``"accurate"`` (a random tenth held out), a fifth of its time. A job's predictor
  (:data:`~graphnas.predictor.fit.SEARCH_OPTIONS`) has its inputs and loss with half the epochs, since a
  lookup table or a search fits several times.

``+path`` is dropped where the space has no path encoding (:func:`recipe` checks): a chain of 21 blocks
has far more paths-by-operators than :data:`~graphnas.predictor.inputs.MAX_PATH_COLUMNS`.
"""

from __future__ import annotations

from ..errors import PredictorError

__all__ = ["RECIPES", "recipe", "available"]

RECIPES: dict[str, dict] = {
    "gcn-nas": {"features": "gray"},
    "accurate": {"features": "onehot+cost+path", "rank_weight": 10.0, "ensemble": 5, "cross_fit": True, "epochs": 300,
                 "patience": 100, "eval_every": 5},
    "fast": {"features": "onehot+cost+path", "rank_weight": 10.0, "epochs": 300, "patience": 100, "eval_every": 5},
}


def _has_path(space) -> bool:
    from .inputs import extra_width

    try:
        extra_width(space, "path")
    except PredictorError:
        return False
    return True


def available(features: str, space) -> str:
    """``features`` without the extra inputs ``space`` cannot give: ``+path`` where it has no path encoding, both
    ``+cost`` and ``+path`` for bare radices. A subspace with ``parent_choices`` (the gcn search's segment) gives
    its whole space's inputs."""
    from .inputs import host_of

    host = host_of(space)
    parts = features.split("+")
    if not hasattr(host, "edges"):
        parts = [p for p in parts if p not in ("cost", "path")]
    elif "path" in parts and not _has_path(host):
        parts.remove("path")
    return "+".join(parts) or "onehot"


def recipe(name: str, space=None) -> dict:
    """A copy of recipe ``name``'s :func:`~graphnas.predictor.fit.predict_space` options, fitted to ``space``.

    Args:
        name (str): a key of :data:`RECIPES`.
        space (SearchSpace, optional): drops the extra inputs the space cannot give (:func:`available`).

    Raises:
        PredictorError: an unknown name.
    """
    if name not in RECIPES:
        raise PredictorError(f"unknown predictor recipe {name!r}; use one of {', '.join(RECIPES)}")
    out = dict(RECIPES[name])
    if space is not None:
        out["features"] = available(out["features"], space)
    return out
