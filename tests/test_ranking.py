"""Ranking metrics on hand-made score vectors: known tau/rho, ties, constant inputs, top-k, rank of best, plots."""

from __future__ import annotations

import doctest
import json
import math
import warnings

import numpy as np
import pytest

import graphnas.train.averaging
import graphnas.estimate.ranking
from graphnas.estimate.score import EstimatorError
from graphnas.estimate.ranking import (RankingWarning, kendall_tau, plot_ranking, rank_of_best_predicted, rank_report,
                              spearman_rho, top_k_overlap)


@pytest.mark.parametrize("module", [graphnas.estimate.ranking, graphnas.train.averaging])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_perfect_reversed_and_one_swap():
    up = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert kendall_tau(up, up) == pytest.approx(1.0)
    assert spearman_rho(up, up) == pytest.approx(1.0)
    assert kendall_tau(up, up[::-1]) == pytest.approx(-1.0)
    assert spearman_rho(up, up[::-1]) == pytest.approx(-1.0)
    swapped = [0.1, 0.2, 0.3, 0.5, 0.4]  # 9 concordant, 1 discordant of 10 pairs; sum d^2 = 2
    assert kendall_tau(up, swapped) == pytest.approx(0.8)
    assert spearman_rho(up, swapped) == pytest.approx(1 - 6 * 2 / (5 * 24))
    assert kendall_tau(np.array(up) * 100 - 3, swapped) == pytest.approx(0.8)  # ranks only


def test_ties_use_tau_b_and_average_ranks():
    pred, true = [1, 1, 2, 3], [1, 2, 3, 4]
    # tau-b: 5 concordant, 0 discordant, one pair tied in pred: 5 / sqrt((6 - 1) * 6)
    assert kendall_tau(pred, true) == pytest.approx(5 / math.sqrt(30))
    # pred ranks (1.5, 1.5, 3, 4) against (1, 2, 3, 4): Pearson correlation of the ranks
    assert spearman_rho(pred, true) == pytest.approx(np.corrcoef([1.5, 1.5, 3, 4], [1, 2, 3, 4])[0, 1])


def test_constant_input_is_zero_with_a_warning():
    for fn in (kendall_tau, spearman_rho):
        with pytest.warns(RankingWarning, match="pred is constant"):
            assert fn([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) == 0.0
        with pytest.warns(RankingWarning, match="true is constant"):
            assert fn([0.1, 0.2, 0.3], [0.7, 0.7, 0.7]) == 0.0


def test_top_k_overlap():
    pred = [0.9, 0.8, 0.1, 0.2, 0.5]
    true = [0.1, 0.8, 0.9, 0.2, 0.7]
    assert top_k_overlap(pred, true, 1) == 0.0  # best predicted 0, truly best 2
    assert top_k_overlap(pred, true, 2) == 0.5  # {0, 1} vs {2, 1}
    assert top_k_overlap(pred, true, 3) == pytest.approx(2 / 3)  # {0, 1, 4} vs {2, 4, 1}
    assert top_k_overlap(pred, true, 5) == 1.0
    assert top_k_overlap(true, true, 3) == 1.0


def test_top_k_overlap_ties_are_expected_values_independent_of_order():
    # 2 of 3 tied predictions fill the last 2 places: each is in with probability 2/3
    pred, true = [0.9, 0.5, 0.5, 0.5, 0.1], [0.9, 0.8, 0.1, 0.2, 0.3]
    assert top_k_overlap(pred, true, 3) == pytest.approx((1 + 2 / 3) / 3)  # true top-3: {0, 1, 4}
    perm = [4, 2, 0, 3, 1]
    assert top_k_overlap(np.take(pred, perm), np.take(true, perm), 3) == pytest.approx((1 + 2 / 3) / 3)
    assert top_k_overlap([1, 1, 1, 1], [1, 1, 1, 1], 2) == 0.5  # two random halves overlap by half


def test_rank_of_best_predicted():
    true = [0.5, 0.9, 0.7, 0.6]
    assert rank_of_best_predicted([0.1, 0.9, 0.2, 0.3], true) == 1.0
    assert rank_of_best_predicted([0.3, 0.2, 0.9, 0.1], true) == 2.0
    assert rank_of_best_predicted([0.9, 0.2, 0.3, 0.1], true) == 4.0
    assert rank_of_best_predicted([0.9, 0.2, 0.3, 0.1], [0.9, 0.9, 0.1, 0.2]) == 1.0  # true ties share rank 1
    assert rank_of_best_predicted([0.9, 0.9, 0.3, 0.1], true) == 2.5  # tied prediction: mean of ranks 4 and 1


def test_rank_report_is_flat_and_json_ready():
    pred, true = [0.1, 0.2, 0.3, 0.5, 0.4], [0.1, 0.2, 0.3, 0.4, 0.5]
    report = rank_report(pred, true, ks=(1, 3, 10))
    assert report == {"n": 5, "kendall_tau": pytest.approx(0.8), "spearman_rho": pytest.approx(0.9),
                      "rank_of_best_predicted": 2.0, "top_1_overlap": 0.0, "top_3_overlap": 1.0}
    assert json.loads(json.dumps(report)) == report
    with pytest.raises(EstimatorError, match="ks"):
        rank_report(pred, true, ks=(0,))


@pytest.mark.parametrize("pred, true, match", [
    ([1, 2, 3], [1, 2], "equal length"),
    ([[1, 2], [3, 4]], [[1, 2], [3, 4]], "1-D"),
    ([1], [1], "at least 2"),
    ([1, float("nan")], [1, 2], "finite"),
])
def test_bad_inputs_raise(pred, true, match):
    for fn in (kendall_tau, spearman_rho, rank_of_best_predicted, rank_report):
        with pytest.raises(EstimatorError, match=match):
            fn(pred, true)


def test_top_k_rejects_bad_k():
    for k in (0, 4, 1.5, True):
        with pytest.raises(EstimatorError, match=r"k must be an integer in \[1, 3\]"):
            top_k_overlap([1, 2, 3], [1, 2, 3], k)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_ranking_writes_the_file(tmp_path, suffix, magic):
    rng = np.random.default_rng(0)
    true = rng.uniform(0.5, 0.9, 30)
    pred = true + rng.normal(0, 0.05, 30)
    path = tmp_path / "sub" / f"rank{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pyplot / backend warnings
        out = plot_ranking(pred, true, path, title="tiny")
    assert out == path and path.read_bytes().startswith(magic)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    if suffix == ".svg":
        text = path.read_text()
        assert "tiny" in text and f"{kendall_tau(pred, true):.3f}" in text


def test_plot_ranking_rejects_unknown_format(tmp_path):
    with pytest.raises(EstimatorError, match=r"\.png, \.svg or \.pdf"):
        plot_ranking([1, 2], [1, 2], tmp_path / "rank.bmp")
    assert not list(tmp_path.iterdir())
