"""Inter-rater reliability of the PercePiano labels, per dimension, and the R2 ceiling it implies.

Input is long format: one row per rating (``ratings`` of shape ``(n_ratings, n_dimensions)`` on the 1-7 scale,
NaN where missing) with the key and rater of each row, as in :class:`datamodules.inputs.ratings.RatingTable`.
Every key has its own panel of raters. A rater may have rated a key more than once; ``repeats`` says what a panel
member is:

- ``"mean"`` (default): a panel member is a rater; their repeated ratings of a key are averaged cell-wise first,
  so every pair that alpha compares comes from two different raters.
- ``"keep"``: a panel member is a rating row, as ``labels.json`` averages them (a rater who rated a key twice
  counts twice). Alpha then also pairs a rater's repeats; split-half still keeps a rater's repeats in one half.

The statistics live in :mod:`analyses.krippendorff_alpha` and :mod:`analyses.split_half`, on the panels of
:mod:`analyses.rating_panel`; :func:`reliability` runs both and states the noise ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses.krippendorff_alpha import AlphaResult, alpha_from_panel
from analyses.rating_panel import RatingPanel, fields_to_dict
from analyses.split_half import SplitHalfReliabilityResult, spearman_brown, split_half_from_panel


@dataclass(frozen=True, slots=True)
class ReliabilityResult:
    """Alpha, split-half reliability and the implied R2 ceiling per dimension.

    Attributes
    ----------
    dimensions : tuple of str, length n_dimensions
    alpha : AlphaResult
    split_half : SplitHalfReliabilityResult
    noise_ceiling : ndarray of shape (n_dimensions,)
        Highest expected R2 of any model of the mean label: its split-half reliability (CI: ``split_half``'s).
    noise_ceiling_from_alpha : ndarray of shape (n_dimensions,)
        The same ceiling from alpha stepped up to ``split_half.n_panel`` raters by Spearman-Brown.
    n_keys, n_raters, n_ratings, n_repeated_pairs : int
        Keys and raters with ratings, rating rows, and (key, rater) pairs rated more than once.
    repeats : str
    seed : int or None
        The integer seed (None when a Generator was passed).
    """

    dimensions: tuple[str, ...]
    alpha: AlphaResult
    split_half: SplitHalfReliabilityResult
    noise_ceiling: np.ndarray
    noise_ceiling_from_alpha: np.ndarray
    n_keys: int
    n_raters: int
    n_ratings: int
    n_repeated_pairs: int
    repeats: str
    seed: int | None

    def to_dict(self) -> dict:
        payload = fields_to_dict(self)
        payload["dimensions"] = list(self.dimensions)
        return payload


def reliability(
    ratings: np.ndarray,
    key_index: np.ndarray,
    rater_index: np.ndarray,
    *,
    dimensions: tuple[str, ...] | None = None,
    repeats: str = "mean",
    n_splits: int = 100,
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> ReliabilityResult:
    """Alpha, split-half reliability and noise ceilings of every dimension.

    Parameters
    ----------
    ratings : ndarray of shape (n_ratings, n_dimensions)
        Ratings on the 1-7 scale, NaN where missing (dividing by 7 changes no statistic here).
    key_index, rater_index : ndarray of shape (n_ratings,), int
        Key and rater of each rating row.
    dimensions : tuple of str, optional
        Dimension names (default ``dim0, dim1, ...``).
    repeats : {"mean", "keep"}, default="mean"
        What a panel member is (see the module docstring).
    n_splits, n_resamples : int, default=100, 1000
        Random half splits per key; bootstrap resamples of keys (0 gives NaN CIs).
    confidence_level : float, default=0.95
    seed : int or numpy.random.Generator, default=0

    Returns
    -------
    ReliabilityResult

    Notes
    -----
    If a label is ``y = T + e`` with ``T`` the panel-independent true score and ``e`` rater noise, the best model
    predicts ``T`` and reaches, in expectation, ``R2 = 1 - var(e) / var(y) = rho_yy``, the label's reliability
    (also ``corr(T, y) ** 2``). ``noise_ceiling`` is the split-half estimate of ``rho_yy``. Alpha (interval) estimates
    single-rating reliability (one-way ICC); ``noise_ceiling_from_alpha = spearman_brown(alpha, n_panel)``.

    References
    ----------
    Lage-Castellanos A. et al. (2019). Methods for computing the maximum performance of computational models of
    fMRI responses. PLoS Comput. Biol. 15(3): e1006397. doi:10.1371/journal.pcbi.1006397
    """
    rng = np.random.default_rng(seed)
    panel = RatingPanel.build(ratings, key_index, rater_index, repeats)
    alpha = alpha_from_panel(panel, n_resamples, confidence_level, rng)
    split_half = split_half_from_panel(panel, n_splits, n_resamples, confidence_level, rng)
    n_dimensions = panel.sums.shape[2]
    return ReliabilityResult(
        dimensions=tuple(dimensions) if dimensions is not None else tuple(f"dim{i}" for i in range(n_dimensions)),
        alpha=alpha,
        split_half=split_half,
        noise_ceiling=split_half.statistic,
        noise_ceiling_from_alpha=spearman_brown(alpha.statistic, split_half.n_panel),
        n_keys=panel.sums.shape[0],
        n_raters=int(np.unique(rater_index).size),
        n_ratings=int(np.asarray(ratings).shape[0]),
        n_repeated_pairs=panel.n_repeated_pairs,
        repeats=repeats,
        seed=int(seed) if isinstance(seed, (int, np.integer)) else None,
    )
