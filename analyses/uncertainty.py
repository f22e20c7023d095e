"""Excerpt-level (cluster) bootstrap of pooled out-of-fold scores: CIs, and paired differences between probers.

Performances of the same excerpt share their music and part of their labels, so rows are not independent; the
bootstrap resamples whole excerpts (groups) with replacement and never single rows. Predictions are held
fixed: the intervals cover evaluation-set sampling (which excerpts happened to be rated), not refitting
variability. The statistic on a resample is computed from per-group sums weighted by how often each group was
drawn, which equals recomputing it on the concatenated rows (see :func:`group_bootstrap_indices`).

Multiple-testing and permutation helpers live in :mod:`analyses.multiple_testing` and
:mod:`analyses.permutation` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyses._resampling import GroupResampler, check_n_resamples, draw_groups, nan_sd, percentile_interval
from analyses._scoring import as_generator, check_ids, json_floats
from analyses.multiple_testing import BenjaminiHochbergResult, benjamini_hochberg
from analyses.permutation import PermutationTestResult, permutation_rows, permutation_test_r2, permute_within_groups
from analyses.probe_metrics import pooled_r2_many

__all__ = [
    "BenjaminiHochbergResult", "GroupBootstrapResult", "PairedBootstrapResult", "PermutationTestResult",
    "benjamini_hochberg", "group_bootstrap_ci", "group_bootstrap_indices", "paired_group_bootstrap",
    "permutation_rows", "permutation_test_r2", "permute_within_groups", "pooled_r2_many",
]


@dataclass(frozen=True, slots=True)
class GroupBootstrapResult:
    """Percentile bootstrap CI of a pooled per-dimension score, resampling whole groups.

    Attributes
    ----------
    metric : str
        ``"r2"`` or ``"pearson"``, pooled over all rows given.
    dimensions : tuple of str
    statistic : ndarray of shape (n_dimensions,)
        The score on the original rows.
    ci_low, ci_high : ndarray of shape (n_dimensions,)
        Percentile interval bounds.
    standard_error : ndarray of shape (n_dimensions,)
        Sd (``ddof=1``) of the bootstrap distribution.
    bootstrap_distribution : ndarray of shape (n_resamples, n_dimensions)
    n_undefined : ndarray of shape (n_dimensions,), int
        Resamples where the score is undefined (NaN Pearson: constant column); left out of the interval.
    n_resamples, n_groups, n_rows : int
    confidence_level : float
    seed : int or None
        The int seed given (None when a Generator was passed in).
    method : str
        ``"percentile"``.
    protocol : str
    """

    metric: str
    dimensions: tuple[str, ...]
    statistic: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    standard_error: np.ndarray
    bootstrap_distribution: np.ndarray
    n_undefined: np.ndarray
    n_resamples: int
    n_groups: int
    n_rows: int
    confidence_level: float
    seed: int | None
    method: str
    protocol: str

    def to_dict(self, include_distribution: bool = False) -> dict:
        """JSON form (NaN as None, nothing rounded); the distribution only when asked."""
        return _to_dict(self, ("statistic", "ci_low", "ci_high", "standard_error"), include_distribution)


@dataclass(frozen=True, slots=True)
class PairedBootstrapResult:
    """Bootstrap of the difference ``a - b`` in a pooled score of two probers on the same rows.

    Attributes
    ----------
    metric : str
    dimensions : tuple of str
    statistic : ndarray of shape (n_dimensions,)
        ``statistic_a - statistic_b`` on the original rows.
    statistic_a, statistic_b : ndarray of shape (n_dimensions,)
    ci_low, ci_high : ndarray of shape (n_dimensions,)
        Percentile interval of the difference.
    pvalue : ndarray of shape (n_dimensions,)
        Two-sided bootstrap p-value for "no difference" (see :func:`paired_group_bootstrap`).
    bootstrap_distribution : ndarray of shape (n_resamples, n_dimensions)
        Differences on each resample (both probers scored on the same resampled groups).
    n_undefined : ndarray of shape (n_dimensions,), int
    n_resamples, n_groups, n_rows : int
    confidence_level : float
    seed : int or None
    method : str
    protocol : str
    """

    metric: str
    dimensions: tuple[str, ...]
    statistic: np.ndarray
    statistic_a: np.ndarray
    statistic_b: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pvalue: np.ndarray
    bootstrap_distribution: np.ndarray
    n_undefined: np.ndarray
    n_resamples: int
    n_groups: int
    n_rows: int
    confidence_level: float
    seed: int | None
    method: str
    protocol: str

    def to_dict(self, include_distribution: bool = False) -> dict:
        """JSON form (NaN as None, nothing rounded); the distribution only when asked."""
        arrays = ("statistic", "statistic_a", "statistic_b", "ci_low", "ci_high", "pvalue")
        return _to_dict(self, arrays, include_distribution)


def group_bootstrap_indices(
    groups: Sequence | np.ndarray, n_resamples: int, seed: int | np.random.Generator
) -> list[np.ndarray]:
    """Row indices of each bootstrap resample: whole groups drawn with replacement, concatenated.

    Uses the same draws as :func:`group_bootstrap_ci` and :func:`paired_group_bootstrap` with the same seed,
    so ``score(y_true[idx], y_pred[idx])`` for each returned ``idx`` reproduces their distributions.

    Returns
    -------
    list of ndarray, length n_resamples
        Each holds the rows of ``n_groups`` drawn groups (a group drawn k times appears k times).
    """
    codes = check_ids("groups", groups, np.asarray(groups).shape[0])
    draws = draw_groups(codes, check_n_resamples(n_resamples), as_generator(seed))
    members = [np.flatnonzero(codes == group) for group in range(codes.max() + 1)]
    return [np.concatenate([members[group] for group in draw]) for draw in draws]


def group_bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: Sequence | np.ndarray,
    *,
    metric: str = "r2",
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
    dimensions: Sequence[str] | None = None,
) -> GroupBootstrapResult:
    """Percentile bootstrap CI of pooled R2 (or Pearson r) per dimension, resampling whole excerpts.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_rows, n_dimensions)
        Labels on [0, 1] and out-of-fold predictions.
    groups : sequence, length n_rows
        Excerpt id of each row; the resampling unit.
    metric : {"r2", "pearson"}, default="r2"
    n_resamples : int, default=2000
    confidence_level : float, default=0.95
    seed : int or numpy.random.Generator, default=0
    dimensions : sequence of str, optional
        Default :data:`datamodules.dimensions.DIMENSIONS` (19 columns).

    Returns
    -------
    GroupBootstrapResult

    Raises
    ------
    ValueError
        On bad shapes, NaN/inf, fewer than 2 groups, unknown ``metric``, ``n_resamples < 1`` or
        ``confidence_level`` outside (0, 1).

    Notes
    -----
    Each resample draws ``n_groups`` groups uniformly with replacement; the score is recomputed on their rows
    (so resamples vary in size with the group sizes). The interval is the percentile interval
    ``[q(alpha/2), q(1 - alpha/2)]`` of the bootstrap distribution, ``alpha = 1 - confidence_level``
    (Efron & Tibshirani 1993, ch. 13). Percentile, not BCa: simple, transformation-respecting, and close to
    nominal at PercePiano's 83 cross-validated excerpts; like any percentile interval of a skewed statistic
    it under-covers with few groups (in our simulation of a planted R2 with excerpt-level error: about 0.91
    at 40 excerpts, 0.94-0.95 at 60 or more, for nominal 0.95).

    References
    ----------
    Field, C. A. & Welsh, A. H. (2007). Bootstrapping clustered data. J. R. Stat. Soc. B 69(3), 369-390.
    doi:10.1111/j.1467-9868.2007.00593.x
    """
    setup = GroupResampler(y_true, groups, metric, n_resamples, confidence_level, seed, dimensions, y_pred)
    (y_pred,) = setup.predictions
    counts = setup.counts()
    distribution = setup.score(y_pred, counts)
    low, high, n_undefined = percentile_interval(distribution, setup.confidence_level)
    return GroupBootstrapResult(
        metric=setup.metric,
        dimensions=setup.dimensions,
        statistic=setup.score(y_pred, None),
        ci_low=low,
        ci_high=high,
        standard_error=nan_sd(distribution),
        bootstrap_distribution=distribution,
        n_undefined=n_undefined,
        n_resamples=setup.n_resamples,
        n_groups=setup.n_groups,
        n_rows=setup.n_rows,
        confidence_level=setup.confidence_level,
        seed=setup.seed,
        method="percentile",
        protocol=setup.protocol("pooled"),
    )


def paired_group_bootstrap(
    y_true: np.ndarray,
    y_pred_a: np.ndarray,
    y_pred_b: np.ndarray,
    groups: Sequence | np.ndarray,
    *,
    metric: str = "r2",
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
    dimensions: Sequence[str] | None = None,
) -> PairedBootstrapResult:
    """Paired excerpt bootstrap of the difference in pooled R2 (or Pearson r) between probers a and b.

    Both probers are scored on the same resampled groups in every resample. Parameters are as for
    :func:`group_bootstrap_ci`, with ``y_pred_a`` and ``y_pred_b`` of shape ``(n_rows, n_dimensions)``.

    Returns
    -------
    PairedBootstrapResult

    Notes
    -----
    The two-sided p-value inverts the percentile interval, with the +1 correction of Monte Carlo p-values
    (Davison & Hinkley 1997, ch. 4): ``p = min(1, 2 * min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (1 + B))`` over the ``B``
    defined resampled differences ``d*``; ``p < 1 - confidence_level`` about when the interval excludes 0.
    Identical predictions give difference 0, an interval [0, 0] and p = 1.
    """
    setup = GroupResampler(y_true, groups, metric, n_resamples, confidence_level, seed, dimensions, y_pred_a, y_pred_b)
    y_pred_a, y_pred_b = setup.predictions
    counts = setup.counts()
    distribution = setup.score(y_pred_a, counts) - setup.score(y_pred_b, counts)
    low, high, n_undefined = percentile_interval(distribution, setup.confidence_level)
    defined = setup.n_resamples - n_undefined
    below = np.sum(distribution <= 0, axis=0)
    above = np.sum(distribution >= 0, axis=0)
    pvalue = np.minimum(1.0, 2.0 * (1 + np.minimum(below, above)) / (1 + defined))
    statistic_a, statistic_b = setup.score(y_pred_a, None), setup.score(y_pred_b, None)
    return PairedBootstrapResult(
        metric=setup.metric,
        dimensions=setup.dimensions,
        statistic=statistic_a - statistic_b,
        statistic_a=statistic_a,
        statistic_b=statistic_b,
        ci_low=low,
        ci_high=high,
        pvalue=pvalue,
        bootstrap_distribution=distribution,
        n_undefined=n_undefined,
        n_resamples=setup.n_resamples,
        n_groups=setup.n_groups,
        n_rows=setup.n_rows,
        confidence_level=setup.confidence_level,
        seed=setup.seed,
        method="percentile",
        protocol=setup.protocol("paired difference a - b in pooled"),
    )


def _to_dict(result, arrays: tuple[str, ...], include_distribution: bool) -> dict:
    payload = {name: getattr(result, name) for name in result.__slots__ if name != "bootstrap_distribution"}
    for name in arrays:
        payload[name] = json_floats(payload[name])
    payload["dimensions"] = list(result.dimensions)
    payload["n_undefined"] = result.n_undefined.tolist()
    if include_distribution:
        payload["bootstrap_distribution"] = json_floats(result.bootstrap_distribution)
    return payload
