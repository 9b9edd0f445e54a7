"""Ranking metrics: how well do estimated accuracies order architectures like the true ones?

Every function takes ``pred`` (estimated scores) and ``true`` (ground truth, e.g. stand-alone test
accuracy), one value per architecture in the same order, higher is better. Both must be 1-D, of
equal length >= 2 and finite; anything else raises :class:`~graphnas.estimate.score.EstimatorError`.

Ties are handled exactly rather than broken by position:

* Kendall's tau is tau-b and Spearman's rho uses average ranks (``scipy.stats``).
* Top-k overlap and the rank of the best predicted architecture are *expectations over uniformly
  random tie-breaking*, so listing tied architectures in another order never changes them.
* A constant ``pred`` or ``true`` carries no ranking: tau and rho are then defined as 0.0 (no better
  than a random order) and a :class:`RankingWarning` says so, which keeps tables NaN-free.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .score import EstimatorError
from ..render.figures import new_figure, plot_format, save_figure
from .groundtruth import load_ground_truth  # the labels rankings are scored on (re-exported here)

__all__ = ["RankingWarning", "kendall_tau", "spearman_rho", "top_k_overlap", "rank_of_best_predicted",
           "rank_report", "bootstrap_ci", "plot_ranking", "load_ground_truth"]


class RankingWarning(UserWarning):
    """A rank correlation was asked of a constant vector; it is reported as 0.0."""


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if p.ndim != 1 or t.ndim != 1 or len(p) != len(t):
        raise EstimatorError(f"pred and true must be 1-D and of equal length, got shapes {p.shape} and {t.shape}: "
                             "pass one score per architecture, in the same order")
    if len(p) < 2:
        raise EstimatorError(f"ranking needs at least 2 architectures, got {len(p)}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise EstimatorError("pred and true must be finite (no NaN or inf): drop the architectures without a score")
    return p, t


def _correlation(fn, name: str, pred, true) -> float:
    p, t = _pair(pred, true)
    if np.ptp(p) == 0 or np.ptp(t) == 0:
        which = "pred" if np.ptp(p) == 0 else "true"
        warnings.warn(f"{name}: {which} is constant, so it ranks nothing; reported as 0.0", RankingWarning,
                      stacklevel=3)
        return 0.0
    return float(fn(p, t)[0])


def kendall_tau(pred, true) -> float:
    """Kendall's tau-b between ``pred`` and ``true`` (ties corrected), in [-1, 1]; 0.0 for a constant input.

    >>> round(kendall_tau([1, 2, 3, 4], [10, 20, 40, 30]), 6)  # (5 concordant - 1 discordant) / 6 pairs
    0.666667
    """
    from scipy.stats import kendalltau
    return _correlation(kendalltau, "kendall_tau", pred, true)


def spearman_rho(pred, true) -> float:
    """Spearman's rho (Pearson correlation of average ranks), in [-1, 1]; 0.0 for a constant input.

    >>> round(spearman_rho([1, 2, 3, 4], [10, 20, 40, 30]), 6)  # 1 - 6 * 2 / (4 * 15)
    0.8
    """
    from scipy.stats import spearmanr
    return _correlation(spearmanr, "spearman_rho", pred, true)


def _top_k_chance(scores: np.ndarray, k: int) -> np.ndarray:
    """Probability that each item is among the top ``k`` when ties are broken uniformly at random."""
    order = np.sort(scores)[::-1]
    threshold = order[k - 1]
    above = scores > threshold
    tied = scores == threshold
    chance = above.astype(float)
    chance[tied] = (k - above.sum()) / tied.sum()
    return chance


def _check_k(k, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise EstimatorError(f"k must be an integer in [1, {n}] (the number of architectures), got {k!r}")
    return int(k)


def top_k_overlap(pred, true, k: int) -> float:
    """Fraction of the truly best ``k`` architectures that are among the ``k`` predicted best.

    With ties at the k-th place, the expected fraction over random tie-breaking (of both orders).

    >>> top_k_overlap([0.9, 0.8, 0.1, 0.2], [0.1, 0.8, 0.9, 0.2], k=2)  # true top-2 {2, 1}, predicted {0, 1}
    0.5
    >>> top_k_overlap([1, 1, 1, 1], [4, 3, 2, 1], k=2)  # a constant prediction picks at random
    0.5
    """
    p, t = _pair(pred, true)
    k = _check_k(k, len(p))
    return float((_top_k_chance(p, k) * _top_k_chance(t, k)).sum() / k)


def rank_of_best_predicted(pred, true) -> float:
    """True rank (1 = best) of the architecture ``pred`` rates highest.

    Rank is 1 + the number of architectures truly better (ties share the better rank); when several
    architectures tie for the best prediction, the mean of their ranks.

    >>> rank_of_best_predicted([0.9, 0.5, 0.7], [0.5, 0.9, 0.7])  # predicted best is truly worst
    3.0
    >>> rank_of_best_predicted([0.9, 0.9, 0.1], [0.2, 0.8, 0.9])  # ranks 3 and 2, tied prediction
    2.5
    """
    p, t = _pair(pred, true)
    best = np.flatnonzero(p == p.max())
    ranks = [1 + int((t > t[i]).sum()) for i in best]
    return float(np.mean(ranks))


def rank_report(pred, true, ks=(1, 5, 10)) -> dict:
    """The ranking metrics in one flat, JSON-ready dict.

    Keys: ``n``, ``kendall_tau``, ``spearman_rho``, ``rank_of_best_predicted`` and ``top_<k>_overlap``
    for each ``k`` in ``ks`` not larger than ``n`` (a larger ``k`` would trivially score 1).

    >>> report = rank_report([1, 2, 3, 4], [1, 2, 4, 3], ks=(1, 2, 8))
    >>> sorted(report)
    ['kendall_tau', 'n', 'rank_of_best_predicted', 'spearman_rho', 'top_1_overlap', 'top_2_overlap']
    >>> report["top_1_overlap"], report["top_2_overlap"], report["rank_of_best_predicted"]
    (0.0, 1.0, 2.0)
    """
    p, t = _pair(pred, true)
    report = {"n": len(p), "kendall_tau": kendall_tau(p, t), "spearman_rho": spearman_rho(p, t),
              "rank_of_best_predicted": rank_of_best_predicted(p, t)}
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise EstimatorError(f"ks must hold integers >= 1, got {k!r}")
        if k <= len(p):
            report[f"top_{int(k)}_overlap"] = top_k_overlap(p, t, k)
    return report


def bootstrap_ci(pred, true, k: int = 5, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap intervals of Kendall tau, Spearman rho and top-``k`` overlap over the architectures.

    ``pred`` is one score per architecture, or a 2-D array with one row per evaluation point (supernet seeds,
    checkpoints): each metric is then the median over the rows, as a table reports it. Each resample draws
    ``len(true)`` architectures with replacement (the same ones for every row; ties from repeats are handled
    as the metrics handle any tie); the interval is the central ``level`` share of the ``resamples`` values.
    It measures how much the figure depends on which architectures were ranked, not the noise of the ground
    truth's own accuracies (:func:`~graphnas.estimate.groundtruth.ground_truth_stats` gives that).

    Returns:
        dict: ``{"kendall_tau": (low, high), "spearman_rho": (low, high), "top_<k>_overlap": (low, high)}``.

    >>> ci = bootstrap_ci(range(20), range(20), k=5, resamples=200)
    >>> [round(v, 6) for v in ci["kendall_tau"]], ci["top_5_overlap"][1]
    ([1.0, 1.0], 1.0)
    """
    from scipy.stats import kendalltau, spearmanr

    rows = np.asarray(pred, dtype=float)
    rows = rows[None, :] if rows.ndim == 1 else rows
    if rows.ndim != 2 or len(rows) == 0:
        raise EstimatorError(f"pred must be 1-D or 2-D (one row per evaluation point), got shape {rows.shape}")
    t = _pair(rows[0], true)[1]
    for row in rows[1:]:
        _pair(row, t)
    k = _check_k(k, len(t))
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 10:
        raise EstimatorError(f"resamples must be an integer >= 10, got {resamples!r}")
    if not 0 < level < 1:
        raise EstimatorError(f"level must lie in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    names = ("kendall_tau", "spearman_rho", f"top_{k}_overlap")
    values: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(resamples):
        idx = rng.integers(0, len(t), len(t))
        ts = t[idx]
        per = []
        for row in rows:
            ps = row[idx]
            flat = np.ptp(ps) == 0 or np.ptp(ts) == 0
            per.append((0.0 if flat else float(kendalltau(ps, ts)[0]), 0.0 if flat else float(spearmanr(ps, ts)[0]),
                        float((_top_k_chance(ps, k) * _top_k_chance(ts, k)).sum() / k)))
        for name, column in zip(names, np.median(np.array(per), axis=0)):
            values[name].append(float(column))
    tail = 100 * (1 - level) / 2
    return {name: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) for name, v in values.items()}


def plot_ranking(pred, true, path, title: str | None = None) -> Path:
    """Scatter of estimated against true accuracy, tau and rho in the title, written atomically.

    Args:
        pred (sequence of float): estimated scores.
        true (sequence of float): true scores.
        path (str or Path): output file; its suffix (``.png``, ``.svg``, ``.pdf``) picks the format.
        title (str, optional): first title line (default: ``"estimated vs true accuracy"``).

    Returns:
        Path: ``path``. Drawn on matplotlib's Agg canvas without pyplot, so no global backend or figure
        state changes.
    """
    p, t = _pair(pred, true)
    path = Path(path)
    fmt = plot_format(path, "a ranking plot", EstimatorError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankingWarning)
        tau, rho = kendall_tau(p, t), spearman_rho(p, t)
    fig = new_figure(4.5, 4.0)
    ax = fig.add_subplot()
    ax.scatter(t, p, s=14, alpha=0.75, edgecolors="none")
    best = int(np.argmax(p))
    ax.scatter([t[best]], [p[best]], s=60, facecolors="none", edgecolors="tab:red", label="predicted best")
    ax.set_xlabel("true accuracy")
    ax.set_ylabel("estimated accuracy")
    ax.set_title(f"{title or 'estimated vs true accuracy'}\nKendall tau {tau:.3f}, Spearman rho {rho:.3f} (n={len(p)})",
                 fontsize=9)
    return save_figure(fig, ax, path, fmt)
