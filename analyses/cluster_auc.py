"""ROC AUC by ranks and its percentile CI from a bootstrap over clusters (videos)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def auc_score(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank formula (ties count one half).

    Parameters
    ----------
    y_true : ndarray of shape (n,)
        1 for positives, anything else negative.
    y_score : ndarray of shape (n,)

    Returns
    -------
    float
        ``(sum of positive ranks - n1 (n1 + 1) / 2) / (n1 n0)``; NaN when a class is absent.
    """
    y_true = np.asarray(y_true)
    n_positive = int(np.sum(y_true == 1))
    n_negative = y_true.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[y_true == 1].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def video_bootstrap_ci(
    y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray, *, n_resamples: int, rng: np.random.Generator,
) -> tuple[float, float, int]:
    """Percentile 95% CI of the AUC resampling whole videos (clusters) with replacement.

    Parameters
    ----------
    y_true, y_score : ndarray of shape (n,)
        Predictions are held fixed (no refitting).
    groups : ndarray of shape (n,)
        Cluster (video) id per row.
    n_resamples : int
    rng : numpy.random.Generator
        Each resample draws as many videos as there are, with replacement (``rng.integers``).

    Returns
    -------
    ci_low, ci_high : float
        2.5th and 97.5th percentiles; NaN when fewer than 2 resamples were usable.
    n_used : int
        Resamples holding both classes (the others are dropped).
    """
    videos = np.unique(groups)
    rows = [np.flatnonzero(groups == video) for video in videos]
    values = []
    for _ in range(n_resamples):
        take = np.concatenate([rows[i] for i in rng.integers(0, videos.size, size=videos.size)])
        value = auc_score(y_true[take], y_score[take])
        if not np.isnan(value):
            values.append(value)
    if len(values) < 2:
        return float("nan"), float("nan"), len(values)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high), len(values)
