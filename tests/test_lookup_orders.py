"""Answer orders of a lookup table: triple-collocation reliabilities, shrinkage scores, the table's record of its
order and the checks of its rows."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import graphnas
from graphnas.errors import LookupTableError
from graphnas.lookup import LookupTable
from graphnas.lookup.orders import DEFAULT_ORDER, MIN_OUT_OF_SAMPLE, answer_scores, reliabilities
from graphnas.lookup.store import rewrite_digest


def measures(n, rho_y, rho_q, rho_r, seed=0):
    """Truth and three measures of it with independent errors and the given correlations with it."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)

    def noisy(rho):
        return rho * a + np.sqrt(1 - rho ** 2) * rng.standard_normal(n)

    return a, noisy(rho_y), noisy(rho_q), noisy(rho_r)


@pytest.mark.parametrize("rho_y,rho_q", [(0.6, 0.85), (0.9, 0.7)])
def test_triple_collocation_recovers_each_measures_reliability(rho_y, rho_q):
    _, y, q, r = measures(4000, rho_y, rho_q, 0.6)
    est = reliabilities(y, q, r)
    assert est["fallback"] is None and est["out_of_sample"] == 4000
    assert abs(est["labels"] - rho_y) < 0.04 and abs(est["predictions"] - rho_q) < 0.04
    # monotone transforms of any measure change nothing: the estimate works on ranks
    again = reliabilities(np.exp(y), q ** 3, -r)
    assert np.isclose(again["labels"], est["labels"]) and np.isclose(again["predictions"], est["predictions"])


def test_reliabilities_fall_back_with_few_out_of_sample_values_or_a_weak_instrument():
    _, y, q, r = measures(500, 0.7, 0.8, 0.6)
    few = np.full(500, np.nan)
    few[: MIN_OUT_OF_SAMPLE - 1] = q[: MIN_OUT_OF_SAMPLE - 1]
    assert "needs 20" in reliabilities(y, few, r)["fallback"]
    weak = np.random.default_rng(1).standard_normal(500)
    est = reliabilities(y, q, weak)
    assert est["labels"] is None and "too weakly" in est["fallback"]


def test_shrinkage_keeps_predictions_of_unmeasured_rows_and_pulls_noisy_labels_towards_predictions():
    n = 3000
    a, y, q, r = measures(n, 0.5, 0.9, 0.6, seed=2)
    predicted = q.copy()
    measured = np.full(n, np.nan)
    labelled = np.arange(0, n, 3)
    measured[labelled] = y[labelled]
    oos = np.full(n, np.nan)
    oos[labelled] = q[labelled]
    tier, score, info = answer_scores("shrinkage", predicted, measured, oos, r)
    assert info["name"] == "shrinkage" and info["asked"] == "shrinkage" and (tier == 0).all()
    rest = np.isnan(measured)
    assert np.array_equal(score[rest], predicted[rest])
    # the shrunk labels rank the labelled rows closer to the truth than the labels do
    from graphnas.estimate.ranking import kendall_tau

    assert kendall_tau(score[labelled], a[labelled]) > kendall_tau(y[labelled], a[labelled]) + 0.1
    assert abs(info["reliability"]["labels"] - 0.5) < 0.1
    # measured-first: measured rows in tier 1 with their measurement
    tier, score, info = answer_scores("measured-first", predicted, measured, oos, r)
    assert info == {"name": "measured-first", "asked": "measured-first"}
    assert np.array_equal(tier, (~rest).astype(int)) and np.array_equal(score[labelled], y[labelled])
    with pytest.raises(LookupTableError, match="unknown answer order 'best'"):
        answer_scores("best", predicted)


@pytest.fixture(scope="module")
def nb201():
    return graphnas.get_space("nb201")


def _inputs(space, seed=0, labelled=3000, noise=0.5):
    """Predictions tied to the parameter count (as real ones are), noisy labels of a third, out-of-sample values."""
    from graphnas.cost.model import batch_costs
    from graphnas.space.encoding import choices_of

    rng = np.random.default_rng(seed)
    params = batch_costs(space, choices_of(space, np.arange(space.size)))[:, 1]
    truth = np.log(params) / np.log(params).std() + rng.standard_normal(space.size)
    predicted = truth + 0.5 * rng.standard_normal(space.size)
    ids = rng.choice(space.size, labelled, replace=False)
    measured = np.full(space.size, np.nan)
    measured[ids] = truth[ids] + noise * 3 * rng.standard_normal(labelled)
    oos = np.full(space.size, np.nan)
    oos[ids[:600]] = truth[ids[:600]] + 0.5 * rng.standard_normal(600)
    return predicted, measured, oos


def test_a_shrinkage_table_records_its_order_and_answers_in_one_ranking(tmp_path, nb201):
    predicted, measured, oos = _inputs(nb201)
    table = LookupTable.build(tmp_path / "s.db", nb201, predicted, measured=measured, out_of_sample=oos)
    assert DEFAULT_ORDER == "shrinkage" and table.order == "shrinkage"
    rel = table.meta["order"]["reliability"]
    assert 0.05 <= rel["labels"] < rel["predictions"] <= 0.99
    rows = table.query(top=50)
    assert any(r.measured is None for r in rows) and any(r.measured is not None for r in rows)
    tier, score, _ = answer_scores("shrinkage", predicted, measured, oos, _params(nb201))
    want = np.lexsort((np.arange(nb201.size), -score))[:50]
    assert [r.index for r in rows] == want.tolist()
    table.verify()
    table.close()
    reopened = LookupTable.open(tmp_path / "s.db", nb201)
    assert reopened.order == "shrinkage" and reopened.query(top=3) == rows[:3]
    reopened.close()
    first = LookupTable.build(tmp_path / "m.db", nb201, predicted, measured=measured, out_of_sample=oos,
                              order="measured-first")
    assert first.order == "measured-first" and all(r.measured is not None for r in first.query(top=20))
    first.close()


def _params(space):
    from graphnas.cost.model import batch_costs
    from graphnas.space.encoding import choices_of

    return batch_costs(space, choices_of(space, np.arange(space.size)))[:, 1]


def test_shrinkage_without_out_of_sample_values_falls_back_and_says_why(tmp_path, nb201):
    predicted, measured, _ = _inputs(nb201)
    with LookupTable.build(tmp_path / "f.db", nb201, predicted, measured=measured) as table:
        assert table.order == "measured-first"
        assert table.meta["order"]["asked"] == "shrinkage"
        assert "out-of-sample" in table.meta["order"]["reliability"]["fallback"]


def test_a_shrinkage_table_with_a_measured_first_row_is_damaged(tmp_path, nb201):
    predicted, measured, oos = _inputs(nb201)
    path = tmp_path / "t.db"
    LookupTable.build(path, nb201, predicted, measured=measured, out_of_sample=oos).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE archs SET tier = 1 WHERE idx = (SELECT MIN(idx) FROM archs WHERE measured IS NOT NULL)")
    conn.close()
    rewrite_digest(path)
    with pytest.raises(LookupTableError, match="tier 1 but the table ranks in one tier"):
        LookupTable.open(path, nb201)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE archs SET tier = 0")
        conn.execute("UPDATE archs SET score = score + 1 WHERE idx = (SELECT MIN(idx) FROM archs WHERE measured IS "
                     "NULL)")
    conn.close()
    rewrite_digest(path)
    with pytest.raises(LookupTableError, match="score"):
        LookupTable.open(path, nb201).verify()


def test_a_resumed_build_with_another_order_is_refused(tmp_path, nb201):
    predicted, measured, oos = _inputs(nb201)
    path = tmp_path / "r.db"
    LookupTable.build(path, nb201, predicted, measured=measured, out_of_sample=oos).close()
    with pytest.raises(LookupTableError):
        LookupTable.build(path, nb201, predicted, measured=measured, out_of_sample=oos, order="measured-first")


def test_labels_about_as_reliable_as_the_predictions_rank_first():
    n = 3000
    a, y, q, r = measures(n, 0.97, 0.9, 0.6, seed=3)
    measured = np.full(n, np.nan)
    measured[::3] = y[::3]
    oos = np.full(n, np.nan)
    oos[::3] = q[::3]
    tier, score, info = answer_scores("shrinkage", q, measured, oos, r)
    assert info["name"] == "measured-first" and info["asked"] == "shrinkage" and "as reliable" in info["why"]
    assert np.array_equal(tier, np.isfinite(measured).astype(int)) and np.array_equal(score[::3], y[::3])


def test_shrinkage_combines_a_label_with_its_out_of_sample_prediction_and_ranks_past_every_prediction():
    n = 2000
    a, y, q, r = measures(n, 0.6, 0.9, 0.6, seed=4)
    labelled = np.arange(0, n, 2)
    measured = np.full(n, np.nan)
    measured[labelled] = y[labelled]
    oos = np.full(n, np.nan)
    oos[labelled] = q[labelled] + 0.3 * np.random.default_rng(5).standard_normal(len(labelled))
    _, base, info = answer_scores("shrinkage", q, measured, oos, r)
    assert info["name"] == "shrinkage"
    # a labelled row's estimate follows its out-of-sample prediction, not the fitted one (which saw its label)
    v = int(labelled[np.argsort(q[labelled])[len(labelled) // 2]])
    moved = oos.copy()
    moved[v] += 1.0
    _, again, _ = answer_scores("shrinkage", q, measured, moved, r)
    rest = np.isnan(measured)
    assert np.array_equal(again[rest], base[rest])  # (the others move a little: one value of the estimate changed)
    assert again[v] - base[v] > 10 * np.abs(np.delete(again - base, v)).max()
    # without one it falls back to the fitted prediction
    fitted = oos.copy()
    fitted[v] = np.nan
    assert not np.isclose(answer_scores("shrinkage", q, measured, fitted, r)[1][v], base[v])
    # a row whose label and out-of-sample prediction are both the highest ranks above every prediction, not tied
    top = int(labelled[0])
    best_y, best_q = measured.copy(), oos.copy()
    best_y[top], best_q[top] = y.max() + 3, q.max() + 3
    _, score, _ = answer_scores("shrinkage", q, best_y, best_q, r)
    assert score[top] > q.max() and np.argmax(score) == top
