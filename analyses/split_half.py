"""Split-half reliability of the key means, Spearman-Brown-corrected to the full panel: the R2 ceiling."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from analyses.rating_panel import RatingPanel, check_protocol, fields_to_dict, key_weights, percentile_ci


@dataclass(frozen=True, slots=True)
class SplitHalfReliabilityResult:
    """Spearman-Brown-corrected split-half reliability of the key means, per dimension.

    Attributes
    ----------
    statistic, ci_low, ci_high : ndarray of shape (n_dimensions,)
        Reliability of the full-panel mean and its percentile bootstrap CI over keys.
    half_correlation, half_correlation_std : ndarray of shape (n_dimensions,)
        Pearson r between half-panel means across keys: mean and standard deviation over splits.
    spearman_brown_factor, n_panel, n_half : ndarray of shape (n_dimensions,)
        ``n_panel / n_half``: harmonic means of the full-panel and half-panel sizes (see Notes of
        :func:`split_half_reliability`).
    n_keys_used : ndarray of shape (n_dimensions,), int64
        Fewest keys entering the correlation in any split (keys with both halves rated).
    n_splits, n_resamples : int
    confidence_level : float
    repeats : str
    """

    statistic: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    half_correlation: np.ndarray
    half_correlation_std: np.ndarray
    spearman_brown_factor: np.ndarray
    n_panel: np.ndarray
    n_half: np.ndarray
    n_keys_used: np.ndarray
    n_splits: int
    n_resamples: int
    confidence_level: float
    repeats: str

    def to_dict(self) -> dict:
        return fields_to_dict(self)


def spearman_brown(correlation: np.ndarray | float, factor: np.ndarray | float) -> np.ndarray:
    """Reliability of a panel ``factor`` times as large: ``factor * r / (1 + (factor - 1) * r)``."""
    correlation, factor = np.asarray(correlation, dtype=np.float64), np.asarray(factor, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return factor * correlation / (1.0 + (factor - 1.0) * correlation)


def split_half_reliability(
    ratings: np.ndarray,
    key_index: np.ndarray,
    rater_index: np.ndarray,
    *,
    repeats: str = "mean",
    n_splits: int = 100,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> SplitHalfReliabilityResult:
    """Split-half reliability of the key means, Spearman-Brown-corrected to the full panel.

    Parameters are those of :func:`analyses.reliability.reliability`.

    Notes
    -----
    In each split, the raters of every key are shuffled independently and the first ``floor(m_k / 2)`` of the key's
    ``m_k`` raters form half A, the rest half B (one split per key serves all dimensions). Half means average the
    half's panel values; Pearson ``r_s`` correlates half-A with half-B means over keys whose halves both hold a
    rating of that dimension. With ``r = mean_s r_s`` the reliability of the full-panel mean is the Spearman-Brown
    step-up ``rho = k r / (1 + (k - 1) r)`` with ``k = n_panel / n_half``: ``n_panel`` is the harmonic mean over keys
    of the number of panel values in the dimension, ``n_half`` the harmonic mean of the half sizes over splits,
    used keys and both halves. Harmonic means because the noise variance of a mean of ``m`` values is
    ``sigma2 / m``; with equal halves ``k = 2`` and this is the textbook ``2 r / (1 + r)``. The CI is the
    percentile interval of ``rho`` over resamples of keys with replacement, each recomputing every split's ``r``
    from reweighted per-key sums (splits and ``k`` fixed).

    References
    ----------
    Spearman C. (1910). Correlation calculated from faulty data. Br. J. Psychol. 3(3): 271-295.
    doi:10.1111/j.2044-8295.1910.tb00206.x
    Brown W. (1910). Some experimental results in the correlation of mental abilities. Br. J. Psychol. 3(3):
    296-322. doi:10.1111/j.2044-8295.1910.tb00207.x
    """
    panel = RatingPanel.build(ratings, key_index, rater_index, repeats)
    return split_half_from_panel(panel, n_splits, n_resamples, confidence_level, np.random.default_rng(seed))


def split_half_from_panel(
    panel: RatingPanel, n_splits: int, n_resamples: int, confidence_level: float, rng: np.random.Generator
) -> SplitHalfReliabilityResult:
    check_protocol(n_splits=n_splits, n_resamples=n_resamples, confidence_level=confidence_level)
    n_keys, n_slots, n_dimensions = panel.sums.shape
    splittable = panel.n_members >= 2
    if not splittable.any():
        raise ValueError("no key has two or more raters: split-half reliability is undefined")
    weights = key_weights(n_keys, n_resamples, rng)
    valid = np.arange(n_slots) < panel.n_members[:, None]  # (n_keys, n_slots)
    half_size = np.where(splittable, panel.n_members // 2, 0)
    point, boot = np.empty((n_splits, n_dimensions)), np.empty((n_resamples, n_splits, n_dimensions))
    n_used, inverse_half = np.empty((n_splits, n_dimensions), dtype=np.int64), np.zeros(n_dimensions)
    for start in range(0, n_splits, 16):
        stop = min(start + 16, n_splits)
        draw = np.where(valid, rng.random((stop - start, n_keys, n_slots)), np.inf)
        in_a = draw.argsort(axis=2).argsort(axis=2) < half_size[:, None]
        in_b = valid & splittable[:, None] & ~in_a
        stats, used, inverse = _half_stats(panel, in_a, in_b)  # stats (n_keys, s, n_dims * 6)
        point[start:stop] = _correlation(stats.sum(axis=0), n_dimensions)
        totals = weights @ stats.reshape(n_keys, -1)  # (n_resamples, s * n_dims * 6)
        boot[:, start:stop] = _correlation(totals.reshape(n_resamples, stop - start, n_dimensions * 6), n_dimensions)
        n_used[start:stop], inverse_half = used, inverse_half + inverse
    n_panel = _harmonic_panel_size(panel.counts)
    n_half = 2.0 * n_used.sum(axis=0) / inverse_half
    factor = n_panel / n_half
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r_mean, r_std = np.nanmean(point, axis=0), np.nanstd(point, axis=0)
        boot_rho = spearman_brown(np.nanmean(boot, axis=1), factor)
    ci_low, ci_high = percentile_ci(boot_rho, confidence_level, n_dimensions)
    return SplitHalfReliabilityResult(
        spearman_brown(r_mean, factor), ci_low, ci_high, r_mean, r_std, factor, n_panel, n_half,
        n_used.min(axis=0), n_splits, n_resamples, confidence_level, panel.repeats,
    )


def _half_stats(panel: RatingPanel, in_a: np.ndarray, in_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per key and split: [used, x, y, x2, y2, xy] of the half means; also used-key counts and sum of 1/size."""
    halves = []
    for mask in (in_a, in_b):
        mask = mask[:, :, None, :].astype(np.float64)  # (s, n_keys, 1, n_slots)
        halves.append(((mask @ panel.sums)[:, :, 0], (mask @ panel.counts)[:, :, 0]))  # (s, n_keys, n_dims) each
    (sum_a, count_a), (sum_b, count_b) = halves
    used = (count_a > 0) & (count_b > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x, y = np.where(used, sum_a / count_a, 0.0), np.where(used, sum_b / count_b, 0.0)
        inverse = np.where(used, 1.0 / count_a + 1.0 / count_b, 0.0).sum(axis=(0, 1))
    stats = np.stack([used.astype(np.float64), x, y, x * x, y * y, x * y], axis=-1)  # (s, n_keys, n_dims, 6)
    return stats.transpose(1, 0, 2, 3).reshape(used.shape[1], used.shape[0], -1), used.sum(axis=1), inverse


def _correlation(totals: np.ndarray, n_dimensions: int) -> np.ndarray:
    """Pearson r from summed [n, x, y, x2, y2, xy], ``totals`` of shape ``(..., n_dimensions * 6)``."""
    totals = totals.reshape(*totals.shape[:-1], n_dimensions, 6)
    n, x, y, xx, yy, xy = np.moveaxis(totals, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xy - x * y / n) / np.sqrt((xx - x * x / n) * (yy - y * y / n))


def _harmonic_panel_size(counts: np.ndarray) -> np.ndarray:
    """Harmonic mean over keys of the panel values per dimension, ``counts`` (n_keys, n_slots, n_dims)."""
    size = counts.sum(axis=1)  # (n_keys, n_dims)
    rated = size > 0
    return rated.sum(axis=0) / np.where(rated, 1.0 / np.where(rated, size, 1.0), 0.0).sum(axis=0)
