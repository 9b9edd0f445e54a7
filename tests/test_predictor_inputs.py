"""Free per-architecture inputs of the predictor (analytic cost, path encoding) and ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphnas
from graphnas import ChoiceEdge, Node, SearchSpace, Stem
from graphnas.cost.model import batch_costs
from graphnas.errors import PredictorError
from graphnas.predictor import feature_width, node_features, predict_space
from graphnas.predictor.features import parse_features
from graphnas.space.encoding import choices_of


@pytest.fixture(scope="module")
def nb201():
    return graphnas.get_space("nb201", resolution=8, channels=4, cells_per_stage=1)


def chain(n_edges: int) -> SearchSpace:
    nodes = [Node(i, 0, 8, 1) for i in range(n_edges + 1)]
    edges = [ChoiceEdge(i, i + 1, "stem", ("mbconv_k3_e1", "mbconv_k3_e3", "identity")) for i in range(n_edges)]
    return SearchSpace(f"chain{n_edges}", nodes, edges, input_shape=(1, 8, 8), num_classes=10, stem=Stem(8))


def test_feature_specs_parse_and_refuse_clearly():
    assert parse_features("onehot+cost") == ("onehot", ("cost",))
    assert parse_features("cost+path") == (None, ("cost", "path"))
    for bad in ("onehot+gray", "onehot+cost+cost", "onehot+flops", ""):
        with pytest.raises(PredictorError, match="unknown feature kind"):
            parse_features(bad)


def test_cost_columns_are_the_standardised_log_costs_the_same_in_any_chunk(nb201):
    everything = node_features(nb201, None, "onehot+cost")
    assert everything.shape == (nb201.size, 30 + 2) == (nb201.size, feature_width(nb201, "onehot+cost"))
    cost = everything[:, 30:].double()
    assert cost.mean(0).abs().max() < 1e-5 and (cost.std(0, unbiased=False) - 1).abs().max() < 1e-4
    raw = np.log1p(batch_costs(nb201, choices_of(np.asarray(nb201.radices), np.arange(nb201.size)))[:, [1, 0]])
    # an affine map of log(1 + params), log(1 + MAdds): the order is the analytic cost's
    assert np.corrcoef(raw[:, 0], cost[:, 0].numpy())[0, 1] > 0.9999
    assert np.corrcoef(raw[:, 1], cost[:, 1].numpy())[0, 1] > 0.9999
    ids = np.array([3, 77, 15000])
    assert torch.equal(node_features(nb201, ids, "onehot+cost"), everything[ids])
    with pytest.raises(PredictorError, match="need the SearchSpace itself"):
        node_features(np.asarray(nb201.radices), ids, "gray+cost")


def test_path_encoding_marks_each_input_output_path_by_its_operators(nb201):
    assert feature_width(nb201, "path") == 4 ** 3 + 4 ** 2 + 4 ** 2 + 4  # paths of 3, 2, 2 and 1 real operators
    ops = [e.candidates for e in nb201.edges]
    conv = nb201.from_ops(["nor_conv_3x3"] * 6)
    empty = nb201.from_ops(["none"] * 6)
    cut = nb201.from_ops(["nor_conv_3x3", "none", "skip_connect", "none", "nor_conv_3x3", "avg_pool_3x3"])
    x = node_features(nb201, [nb201.index(a) for a in (conv, empty, cut)], "path")
    assert x[0].sum() == 4 and x[1].sum() == 0
    assert x[2].sum() == 2  # 0-1-2-3 (conv, skip, pool) and 0-1-3 (conv, conv); 0-2-3 and 0-3 are cut
    assert ops[0].index("nor_conv_3x3") > 0
    assert feature_width(chain(3), "path") == 27
    with pytest.raises(PredictorError, match="would have 6,561 columns"):
        node_features(chain(8), [0], "path")


def test_an_ensemble_averages_its_members_and_refuses_a_bad_count():
    space = chain(4)
    rng = np.random.default_rng(0)
    labels = {int(i): float(rng.random()) for i in rng.choice(space.size, 24, replace=False)}
    options = dict(features="onehot+cost", epochs=20, eval_every=5, hidden=(16, 16))
    both, history = predict_space(space, labels, seed=3, ensemble=2, calibrate=False, **options)
    one, h1 = predict_space(space, labels, seed=3, calibrate=False, **options)
    two, h2 = predict_space(space, labels, seed=4, calibrate=False, **options)
    assert np.allclose(both, (one + two) / 2) and len(history["members"]) == 2
    # out of sample: each member's validation nodes, averaged where both held a node out
    held = {**{v: [x] for v, x in h1["out_of_sample"].items()}}
    for v, x in h2["out_of_sample"].items():
        held.setdefault(v, []).append(x)
    assert history["out_of_sample"].keys() == held.keys() and len(held) >= 2
    assert all(np.isclose(history["out_of_sample"][v], np.mean(xs)) for v, xs in held.items())
    assert set(h1["out_of_sample"]) == set(h1["val_ids"].tolist()) <= set(labels)
    # calibrated (the default): the same order, in the labels' units (least-squares line of labels on predictions)
    cal, hist = predict_space(space, labels, seed=3, ensemble=2, **options)
    assert np.allclose(cal, hist["calibration"]["intercept"] + hist["calibration"]["slope"] * both)
    ids = np.array(sorted(labels))
    y = np.array([labels[i] for i in ids])
    assert abs(np.mean(cal[ids]) - np.mean(y)) < 1e-9 and hist["calibration"]["slope"] > 0
    line = hist["calibration"]
    assert hist["out_of_sample"].keys() == history["out_of_sample"].keys()
    assert all(np.isclose(hist["out_of_sample"][v], line["intercept"] + line["slope"] * x)
               for v, x in history["out_of_sample"].items())
    with pytest.raises(PredictorError, match="ensemble"):
        predict_space(space, labels, ensemble=0, **options)


def test_a_cross_fitted_ensemble_holds_every_label_out_of_exactly_one_member():
    space = chain(4)
    rng = np.random.default_rng(1)
    labels = {int(i): float(rng.random()) for i in rng.choice(space.size, 30, replace=False)}
    options = dict(features="onehot+cost", epochs=10, eval_every=5, hidden=(16, 16), calibrate=False)
    pred, history = predict_space(space, labels, seed=2, ensemble=3, cross_fit=True, **options)
    folds = [set(h["val_ids"].tolist()) for h in history["members"]]
    assert sorted(len(f) for f in folds) == [10, 10, 10] and set().union(*folds) == set(labels)
    assert history["out_of_sample"].keys() == set(labels)
    # the out-of-sample value of a label is the prediction of the one member that held it out
    member, _ = predict_space(space, labels, seed=3, val_ids=sorted(folds[1]), **options)
    assert all(np.isclose(history["out_of_sample"][v], member[v]) for v in folds[1])
    with pytest.raises(PredictorError, match="cross_fit needs an ensemble"):
        predict_space(space, labels, cross_fit=True, **options)
    with pytest.raises(PredictorError, match="val_ids must be distinct labelled nodes"):
        predict_space(space, labels, val_ids=[next(i for i in range(space.size) if i not in labels)], **options)


def test_too_few_labels_to_hold_out_drop_the_validation_split_and_the_folds():
    from graphnas.predictor import MIN_LABELS_TO_VALIDATE, for_labels, job_options
    from graphnas.predictor.recipes import recipe

    accurate = recipe("accurate")
    assert for_labels(accurate, MIN_LABELS_TO_VALIDATE) == accurate
    few = for_labels(accurate, MIN_LABELS_TO_VALIDATE - 1)
    assert few["val_fraction"] == 0.0 and "cross_fit" not in few and accurate["cross_fit"] is True
    assert job_options(accurate, 12) == for_labels({**job_options(accurate, 100)}, 12)
    # the accurate recipe then fits on 12 labels (its folds would hold out 2-3 labels a member)
    space = chain(3)
    labels = {int(i): float(i % 7) / 10 for i in range(12)}
    pred, history = predict_space(space, labels, **{**few, "epochs": 5, "hidden": (8, 8)})
    assert pred.shape == (space.size,) and history["out_of_sample"] == {}
