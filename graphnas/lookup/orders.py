"""The answer order of a lookup table: how measured and predicted accuracies rank together.

* ``"measured-first"``: every measured architecture ranks above every unmeasured one, by its measured
  value; the rest by prediction (GCN-NAS's last step: the best *measured* architecture within the limit).
  Right when the measurements are the truth; with noisy labels the highest measured value is the one with
  the luckiest noise (the winner's curse).
* ``"shrinkage"`` (default): one ranking; an unmeasured architecture is ranked by its prediction, a
  measured one by the best estimate of its accuracy from its measurement *and* its prediction, each
  weighted by how reliable the table estimates it to be. On NAS-Bench-201 with 1,000 labels as noisy as
  supernet scores (tau 0.45) and the ``accurate`` predictor it cut measured-first's answer percentile from
  13% to 7% of the cells under the limit truly better (random labels) and from 16% to 9% (labels on the
  predicted front); with labels at tau 0.7, from 3.1% to 1.1% (front); with exact labels it mostly falls
  back to measured-first (``tools/bench_lookup_noisy.py``, BENCHMARKS.md "lookup-nb201-noisy").

**The estimate.** Work on normal scores (ranks mapped through the inverse normal distribution function), so
the long tail of failed architectures does not dominate: ``z_p`` of the predictions over all rows, and
``z_y`` of the measurements mapped to the same scale (the measured rows' ``z_p`` values, in the order of
their measurements). With the truth ``a`` standard normal, ``z_y = rho_y a + noise`` and ``z_p = rho_p a + noise``
(independent noises), the posterior mean of ``a`` is::

    unmeasured:  rho_p z_p
    measured:    (l_y z_y + l_p z_q) / (1 + l_y rho_y + l_p rho_p),   l = rho / (1 - rho^2)

where ``z_q`` is the measured row's *out-of-sample* prediction (its rank among them, mapped onto the same scale as
the labels' ranks): the fitted prediction of a labelled row has seen its label and carries part of its noise,
which the formula would count twice (the winner's curse again). A row without an out-of-sample value uses its
fitted prediction. The ``accurate`` recipe cross-fits its ensemble so that every label has one
(:func:`graphnas.predictor.predict_space`, ``cross_fit``); one GCN holds out a tenth.

The reliabilities ``rho_y`` (of the labels) and ``rho_p`` (of the predictions) are estimated by *triple
collocation*: three measures of the same accuracy with independent errors determine each one's correlation
with the truth from their three pairwise correlations, ``rho_y^2 = r_yq r_yr / r_qr`` and ``rho_q^2 = r_yq r_qr /
r_yr``. The three are the labels ``y``, the predictor's *out-of-sample* predictions ``q`` of labelled
architectures (those its validation split held out) and the analytic parameter count ``r`` (free,
independent of both noises). Correlations are Kendall tau's Gaussian equivalents ``sin(pi tau / 2)``. Where
the estimate cannot be made (fewer than :data:`MIN_OUT_OF_SAMPLE` out-of-sample predictions, an instrument
correlated with neither below :data:`MIN_INSTRUMENT_TAU`, a reliability outside (0, 1]), the table falls
back to ``measured-first`` and records why. Estimates are clipped to [0.05, 0.99].

The predictor's errors are not fully independent of the parameter count's (it sees the same costs), and its
out-of-sample values come from members whose early stopping chose their state on those same labels; both
bias ``rho_q`` up (BENCHMARKS.md, "lookup-nb201-noisy", compares the estimates with the truth).

**When labels are trusted.** The Gaussian model is right on average but not in the top tail, where a table's
answers come from: the highest of thousands of predictions is mostly over-predicted, by more than a single
correlation says. With exact labels on NAS-Bench-201 the one ranking let such cells beat the measured ones
(answers at 2.7% of the cells where measured-first's were at 1%, in an early run). So where the labels are
estimated about as reliable as the predictions or more (``rho_y + TRUST_MARGIN >= rho_q``; exact labels came out
at 0.94-0.99 against 0.95-0.99) the shrinkage order ranks measured rows first, as measured-first does, and says so in
``meta['order']['why']``; only labels clearly noisier than the predictions are shrunk (10 of 12 exact-label
tables of the benchmark fell back; the two others, labels estimated at 0.94 and 0.96 against predictions at
0.99, answered at 0.32% and 2.8% where measured-first answered at 0.08% and 1.0%).

The score stored for the order is in accuracy units: the posterior mean divided by ``rho_p`` and mapped back
through the predictions' own normal-score-to-accuracy curve, so an unmeasured row's score is its prediction
and a measured row's its shrunk estimate.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import LookupTableError

__all__ = ["ORDERS", "DEFAULT_ORDER", "MIN_OUT_OF_SAMPLE", "MIN_INSTRUMENT_TAU", "TRUST_MARGIN", "reliabilities",
           "answer_scores"]

ORDERS = ("shrinkage", "measured-first")
DEFAULT_ORDER = "shrinkage"
MIN_OUT_OF_SAMPLE = 20
MIN_INSTRUMENT_TAU = 0.1
#: Labels estimated within this of the predictions' reliability (or above it) are trusted: measured-first.
TRUST_MARGIN = 0.03
_CLIP = (0.05, 0.99)


def _normal_scores(x: np.ndarray) -> np.ndarray:
    from scipy.stats import norm, rankdata

    return norm.ppf((rankdata(x) - 0.5) / len(x))


def _rho(x, y) -> float:
    from ..estimate.ranking import kendall_tau

    tau = kendall_tau(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return float("nan") if not np.isfinite(tau) else math.sin(math.pi * tau / 2)


def reliabilities(measured_values, out_of_sample, instrument) -> dict:
    """Triple-collocation estimates of the labels' and the predictions' correlation with the truth (module doc).

    Args:
        measured_values (array): the labels ``y`` of the measured architectures.
        out_of_sample (array): their out-of-sample predictions ``q``, NaN where none.
        instrument (array): a third measure with independent errors (the parameter count) of the same architectures.

    Returns:
        dict with ``labels`` (``rho_y``), ``predictions`` (``rho_q``), ``out_of_sample`` (how many ``q``), the three
        pairwise correlations, and ``fallback`` (``None``, or why no estimate was made).
    """
    y = np.asarray(measured_values, dtype=np.float64)
    q = np.asarray(out_of_sample, dtype=np.float64)
    r = np.asarray(instrument, dtype=np.float64)
    have = np.isfinite(q)
    out = {"labels": None, "predictions": None, "out_of_sample": int(have.sum()), "r_yq": None, "r_yr": None,
           "r_qr": None, "fallback": None}
    if have.sum() < MIN_OUT_OF_SAMPLE:
        out["fallback"] = (f"{int(have.sum())} out-of-sample predictions of labelled architectures; the estimate "
                           f"needs {MIN_OUT_OF_SAMPLE}")
        return out
    r_yq, r_yr, r_qr = _rho(y[have], q[have]), _rho(y, r), _rho(q[have], r[have])
    out.update(r_yq=r_yq, r_yr=r_yr, r_qr=r_qr)
    floor = math.sin(math.pi * MIN_INSTRUMENT_TAU / 2)
    if not all(np.isfinite([r_yq, r_yr, r_qr])) or min(abs(r_yr), abs(r_qr)) < floor:
        out["fallback"] = (f"the parameter count ranks the labels and predictions too weakly (correlations "
                           f"{r_yr:.2f}, {r_qr:.2f}) to separate the label noise from the prediction error")
        return out
    ry2, rq2 = r_yq * r_yr / r_qr, r_yq * r_qr / r_yr
    if not (0 < ry2 and 0 < rq2):
        out["fallback"] = (f"the labels, predictions and parameter count disagree in sign (correlations {r_yq:.2f}, "
                           f"{r_yr:.2f}, {r_qr:.2f}): no reliability estimate")
        return out
    out["labels"] = float(np.clip(math.sqrt(ry2), *_CLIP))
    out["predictions"] = float(np.clip(math.sqrt(rq2), *_CLIP))
    return out


def answer_scores(order: str, predicted, measured=None, out_of_sample=None, instrument=None):
    """``(tier, score, info)`` of every row for answer order ``order`` (module doc).

    Args:
        order (str): ``"shrinkage"`` or ``"measured-first"``.
        predicted (array): every row's prediction.
        measured (array, optional): measurements, NaN where unknown.
        out_of_sample (array, optional): out-of-sample predictions of measured rows, NaN elsewhere.
        instrument (array, optional): every row's parameter count (only measured rows are read).

    Returns:
        ``tier`` (int64: 1 ranks above 0), ``score`` (float64, within a tier higher first) and a JSON-able
        ``info`` for the table's meta: ``name`` (the order used), ``asked`` (the order asked for) and, for
        shrinkage, the :func:`reliabilities` estimate.
    """
    if order not in ORDERS:
        raise LookupTableError(f"unknown answer order {order!r}; use one of {', '.join(ORDERS)}")
    predicted = np.asarray(predicted, dtype=np.float64)
    n = len(predicted)
    known = np.zeros(n, dtype=bool) if measured is None else np.isfinite(np.asarray(measured, dtype=np.float64))
    info: dict = {"name": "measured-first", "asked": order}
    if order == "shrinkage" and known.any() and not known.all():
        y = np.asarray(measured, dtype=np.float64)[known]
        q = np.full(n, np.nan) if out_of_sample is None else np.asarray(out_of_sample, dtype=np.float64)
        if q.shape != (n,) or (instrument is not None and np.shape(instrument) != (n,)):
            raise LookupTableError(f"out_of_sample and instrument must give one value per row ({n})")
        r = np.zeros(n) if instrument is None else np.asarray(instrument, dtype=np.float64)
        est = reliabilities(y, q[known], r[known])
        info["reliability"] = est
        if est["fallback"] is None and est["labels"] + TRUST_MARGIN >= est["predictions"]:
            info["why"] = (f"the labels are estimated about as reliable as the predictions or more ({est['labels']:.2f} "
                           f"vs {est['predictions']:.2f}): measured values rank first")
        elif est["fallback"] is None:
            info["name"] = "shrinkage"
            return np.zeros(n, dtype=np.int64), _shrunk(predicted, known, y, q[known], est["labels"],
                                                        est["predictions"]), info
    elif order == "shrinkage" and known.all():
        info["why"] = "every row is measured"
    tier = known.astype(np.int64)
    score = predicted.copy()
    if known.any():
        score[known] = np.asarray(measured, dtype=np.float64)[known]
    return tier, score, info


def _shrunk(predicted: np.ndarray, known: np.ndarray, y: np.ndarray, q: np.ndarray, ry: float,
            rp: float) -> np.ndarray:
    zp = _normal_scores(predicted)
    order = np.argsort(zp, kind="stable")
    zy = np.empty(len(y))
    zy[np.argsort(y, kind="stable")] = np.sort(zp[known])  # the labels' ranks on the predictions' scale
    # a measured row's prediction: its out-of-sample value where it has one (its error independent of the label's
    # noise), its ranks placed on the same scale as the labels' (one member's values spread wider than the
    # ensemble's mean); else the fitted one
    zq = zp[known].copy()
    held = np.flatnonzero(np.isfinite(q))
    zq[held[np.argsort(q[held], kind="stable")]] = np.sort(zq[held])
    ly, lp = ry / (1 - ry ** 2), rp / (1 - rp ** 2)
    post = (ly * zy + lp * zq) / (1 + ly * ry + lp * rp)
    score = predicted.copy()
    score[known] = _extrapolated(post / rp, zp[order], predicted[order])
    return score


def _extrapolated(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` continued linearly past both ends (slope over the outer 1% of points), so an estimate above
    every prediction ranks above it instead of tying with it."""
    out = np.interp(x, xp, fp)
    k = max(2, len(xp) // 100)
    for end, beyond in ((slice(-k, None), x > xp[-1]), (slice(None, k), x < xp[0])):
        dx = xp[end][-1] - xp[end][0]
        slope = (fp[end][-1] - fp[end][0]) / dx if dx > 0 else 0.0
        edge = xp[-1] if end.start is not None else xp[0]
        out[beyond] = np.interp(edge, xp, fp) + slope * (x[beyond] - edge)
    return out
