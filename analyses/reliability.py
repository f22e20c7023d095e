"""Inter-rater reliability of the PercePiano labels, per dimension, and the R2 ceiling it implies.

Input is long format: one row per rating (``ratings`` of shape ``(n_ratings, n_dimensions)`` on the 1-7 scale,
NaN where missing) with the key and rater of each row, as in :class:`datamodules.ratings.RatingTable`. Every key has
its own panel of raters. A rater may have rated a key more than once; ``repeats`` says what a panel member is:

- ``"mean"`` (default): a panel member is a rater; their repeated ratings of a key are averaged cell-wise first,
  so every pair that alpha compares comes from two different raters.
- ``"keep"``: a panel member is a rating row, as ``labels.json`` averages them (a rater who rated a key twice
  counts twice). Alpha then also pairs a rater's repeats; split-half still keeps a rater's repeats in one half.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import krippendorff
import numpy as np

REPEATS = ("mean", "keep")
#: Largest ``n_units * n_distinct_values ** 2`` handed to ``krippendorff.alpha`` (its working array, 128 MiB).
PACKAGE_MAX_ELEMENTS = 2**24


@dataclass(frozen=True, slots=True)
class AlphaResult:
    """Krippendorff's alpha (interval) per dimension with a percentile bootstrap CI over keys.

    Attributes
    ----------
    statistic, ci_low, ci_high : ndarray of shape (n_dimensions,)
        Alpha and its CI bounds (NaN where undefined: fewer than two distinct pairable values).
    n_units, n_values : ndarray of shape (n_dimensions,), int64
        Pairable keys (at least two panel values) and the values in them.
    n_resamples : int
    confidence_level : float
    repeats : str
    """

    statistic: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_units: np.ndarray
    n_values: np.ndarray
    n_resamples: int
    confidence_level: float
    repeats: str

    def to_dict(self) -> dict:
        return {"level_of_measurement": "interval", **_fields_to_dict(self)}


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
        return _fields_to_dict(self)


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
        payload = _fields_to_dict(self)
        payload["dimensions"] = list(self.dimensions)
        return payload


def spearman_brown(correlation: np.ndarray | float, factor: np.ndarray | float) -> np.ndarray:
    """Reliability of a panel ``factor`` times as large: ``factor * r / (1 + (factor - 1) * r)``."""
    correlation, factor = np.asarray(correlation, dtype=np.float64), np.asarray(factor, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return factor * correlation / (1.0 + (factor - 1.0) * correlation)


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
    panel = _Panel.build(ratings, key_index, rater_index, repeats)
    alpha = _alpha(panel, n_resamples, confidence_level, rng)
    split_half = _split_half(panel, n_splits, n_resamples, confidence_level, rng)
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


def krippendorff_alpha(
    ratings: np.ndarray,
    key_index: np.ndarray,
    rater_index: np.ndarray,
    *,
    repeats: str = "mean",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | np.random.Generator = 0,
) -> AlphaResult:
    """Krippendorff's alpha (interval) per dimension, keys as units, with a bootstrap CI.

    Parameters are those of :func:`reliability`.

    Notes
    -----
    ``alpha = 1 - D_o / D_e`` with squared differences, computed by ``krippendorff.alpha`` (by the closed form below
    when ``n_units * n_distinct_values ** 2`` exceeds :data:`PACKAGE_MAX_ELEMENTS`). Alpha pools all pairable
    values of a unit, so which rater gave a value does not matter. For the resamples it is written with per-key
    sums: with ``m_u`` values and sum of squared deviations ``SS_u`` in unit ``u`` (``m_u >= 2``), ``n = sum m_u``
    and ``SS`` the total sum of squared deviations, ``alpha = 1 - (n - 1) sum_u [m_u SS_u / (m_u - 1)] / (n SS)``.
    The CI is the percentile interval of alpha over ``n_resamples`` resamples of keys with replacement (each
    resample reweights the per-key sums), as recommended for alpha by Zapf et al. (2016).

    References
    ----------
    Hayes A. F., Krippendorff K. (2007). Answering the call for a standard reliability measure for coding data.
    Commun. Methods Meas. 1(1): 77-89. doi:10.1080/19312450709336664
    Zapf A. et al. (2016). Measuring inter-rater reliability for nominal data. BMC Med. Res. Methodol. 16: 93.
    doi:10.1186/s12874-016-0200-9
    """
    panel = _Panel.build(ratings, key_index, rater_index, repeats)
    return _alpha(panel, n_resamples, confidence_level, np.random.default_rng(seed))


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

    Parameters are those of :func:`reliability`.

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
    panel = _Panel.build(ratings, key_index, rater_index, repeats)
    return _split_half(panel, n_splits, n_resamples, confidence_level, np.random.default_rng(seed))


@dataclass(frozen=True, slots=True)
class _Panel:
    """Per key and panel slot: summed values and counts (``(n_keys, n_slots, n_dimensions)``), and alpha's units."""

    sums: np.ndarray
    counts: np.ndarray
    n_members: np.ndarray
    unit_values: np.ndarray
    n_repeated_pairs: int
    repeats: str

    @classmethod
    def build(cls, ratings: np.ndarray, key_index: np.ndarray, rater_index: np.ndarray, repeats: str) -> _Panel:
        ratings, keys, raters = _validate(ratings, key_index, rater_index, repeats)
        _, keys = np.unique(keys, return_inverse=True)  # keys without ratings are not units
        pairs, pair_of_row, pair_sizes = np.unique(
            keys * (raters.max() + 1) + raters, return_inverse=True, return_counts=True
        )
        pair_key = keys[np.unique(pair_of_row, return_index=True)[1]]
        n_members = np.bincount(pair_key)
        slot = np.arange(pairs.size) - np.concatenate(([0], np.cumsum(n_members)[:-1]))[pair_key]
        shape = (n_members.size, int(n_members.max()), ratings.shape[1])
        sums, counts = np.zeros(shape), np.zeros(shape)
        np.add.at(sums, (pair_key[pair_of_row], slot[pair_of_row]), np.nan_to_num(ratings))
        np.add.at(counts, (pair_key[pair_of_row], slot[pair_of_row]), ~np.isnan(ratings))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / counts, np.nan)
        if repeats == "mean":
            sums, counts, unit_values = np.nan_to_num(means), (counts > 0).astype(np.float64), means
        else:
            unit_values = _pack_rows(ratings, keys)
        return cls(sums, counts, n_members, unit_values, int(np.count_nonzero(pair_sizes > 1)), repeats)


def _validate(
    ratings: np.ndarray, key_index: np.ndarray, rater_index: np.ndarray, repeats: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if repeats not in REPEATS:
        raise ValueError(f"repeats={repeats!r}, expected one of {REPEATS}")
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2 or ratings.shape[0] == 0:
        raise ValueError(f"ratings has shape {ratings.shape}, expected (n_ratings > 0, n_dimensions)")
    indices = []
    for name, index in (("key_index", key_index), ("rater_index", rater_index)):
        index = np.asarray(index)
        if index.shape != ratings.shape[:1] or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(
                f"{name} must hold {ratings.shape[0]} non-negative integers (one per rating row), "
                f"got dtype {index.dtype} and shape {index.shape}"
            )
        if index.min() < 0:
            raise ValueError(f"{name} holds {index.min()} at row {int(index.argmin())}, expected non-negative integers")
        indices.append(index.astype(np.int64))
    return ratings, indices[0], indices[1]


def _pack_rows(ratings: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Rating rows packed per key, NaN-padded: shape ``(n_keys, max rows per key, n_dimensions)``."""
    order = np.argsort(keys, kind="stable")
    sizes = np.bincount(keys)
    position = np.arange(keys.size) - np.repeat(np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    packed = np.full((sizes.size, int(sizes.max()), ratings.shape[1]), np.nan)
    packed[keys[order], position] = ratings[order]
    return packed


def _alpha(panel: _Panel, n_resamples: int, confidence_level: float, rng: np.random.Generator) -> AlphaResult:
    _check_protocol(n_resamples=n_resamples, confidence_level=confidence_level)
    values = panel.unit_values  # (n_keys, n_slots, n_dimensions)
    n_keys, _, n_dimensions = values.shape
    unit_stats = _alpha_unit_stats(values)  # (n_keys, n_dimensions * 4)
    closed_form = _alpha_from_sums(unit_stats.sum(axis=0), n_dimensions)
    statistic = np.array([_package_alpha(values[:, :, d], closed_form[d]) for d in range(n_dimensions)])
    boot = _alpha_from_sums(_key_weights(n_keys, n_resamples, rng) @ unit_stats, n_dimensions)
    ci_low, ci_high = _percentile_ci(boot, confidence_level, n_dimensions)
    m = np.sum(~np.isnan(values), axis=1)  # (n_keys, n_dimensions)
    n_units, n_values = np.sum(m >= 2, axis=0), np.sum(np.where(m >= 2, m, 0), axis=0)
    return AlphaResult(statistic, ci_low, ci_high, n_units, n_values, n_resamples, confidence_level, panel.repeats)


def _alpha_unit_stats(values: np.ndarray) -> np.ndarray:
    """Per key [m, sum, sum of squares, m SS / (m - 1)] of pairable values, shape (n_keys, n_dimensions * 4)."""
    m = np.sum(~np.isnan(values), axis=1)  # (n_keys, n_dimensions)
    pairable = m >= 2
    s1, s2 = np.nansum(values, axis=1), np.nansum(values**2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(pairable, m * (s2 - s1**2 / np.maximum(m, 1)) / (m - 1), 0.0)
    return np.stack([m * pairable, s1 * pairable, s2 * pairable, within], axis=-1).reshape(values.shape[0], -1)


def _alpha_from_sums(totals: np.ndarray, n_dimensions: int) -> np.ndarray:
    """Alpha from weighted per-unit sums, ``totals`` of shape ``(..., n_dimensions * 4)``."""
    totals = totals.reshape(*totals.shape[:-1], n_dimensions, 4)
    n, s1, s2, within = np.moveaxis(totals, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - (n - 1.0) * within / (n * (s2 - s1**2 / n))


def _package_alpha(unit_values: np.ndarray, closed_form: float) -> float:
    """``krippendorff.alpha`` of one dimension, ``unit_values`` of shape (n_keys, n_slots); NaN if undefined.

    The package holds an ``(n_units, n_distinct, n_distinct)`` array; beyond :data:`PACKAGE_MAX_ELEMENTS` elements
    (near-continuous input) the identical closed form is returned instead.
    """
    pairable = np.sum(~np.isnan(unit_values), axis=1) >= 2
    distinct = np.unique(unit_values[pairable][~np.isnan(unit_values[pairable])])
    if distinct.size < 2:
        warnings.warn(f"alpha undefined: {distinct.size} distinct pairable value(s)", UserWarning, stacklevel=4)
        return float("nan")
    if pairable.sum() * distinct.size**2 > PACKAGE_MAX_ELEMENTS:
        return closed_form
    return float(krippendorff.alpha(reliability_data=unit_values[pairable].T, level_of_measurement="interval"))


def _split_half(
    panel: _Panel, n_splits: int, n_resamples: int, confidence_level: float, rng: np.random.Generator
) -> SplitHalfReliabilityResult:
    _check_protocol(n_splits=n_splits, n_resamples=n_resamples, confidence_level=confidence_level)
    n_keys, n_slots, n_dimensions = panel.sums.shape
    splittable = panel.n_members >= 2
    if not splittable.any():
        raise ValueError("no key has two or more raters: split-half reliability is undefined")
    weights = _key_weights(n_keys, n_resamples, rng)
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
    ci_low, ci_high = _percentile_ci(boot_rho, confidence_level, n_dimensions)
    return SplitHalfReliabilityResult(
        spearman_brown(r_mean, factor), ci_low, ci_high, r_mean, r_std, factor, n_panel, n_half,
        n_used.min(axis=0), n_splits, n_resamples, confidence_level, panel.repeats,
    )  # fmt: skip


def _half_stats(panel: _Panel, in_a: np.ndarray, in_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _key_weights(n_keys: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multiplicities: row b counts how often each key is drawn, shape (n_resamples, n_keys)."""
    draws = rng.integers(0, n_keys, size=(n_resamples, n_keys)) + n_keys * np.arange(n_resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=n_resamples * n_keys).reshape(n_resamples, n_keys).astype(np.float64)


def _percentile_ci(boot: np.ndarray, confidence_level: float, n_dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    if boot.shape[0] == 0:
        return np.full(n_dimensions, np.nan), np.full(n_dimensions, np.nan)
    tail = (1.0 - confidence_level) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(boot, [tail, 1.0 - tail], axis=0)
    return low, high


def _check_protocol(**settings: float) -> None:
    for name, value in settings.items():
        if name == "confidence_level" and not 0.0 < value < 1.0:
            raise ValueError(f"confidence_level={value!r}, expected a number in (0, 1)")
        if name == "n_splits" and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"n_splits={value!r}, expected an integer >= 1")
        if name == "n_resamples" and (not isinstance(value, (int, np.integer)) or value < 0):
            raise ValueError(f"n_resamples={value!r}, expected an integer >= 0")


def _fields_to_dict(result: object) -> dict:
    """JSON-able builtins of a result's fields: arrays to lists, NaN to None, nested results to dicts."""
    payload = {}
    for name in result.__slots__:  # type: ignore[attr-defined]
        value = getattr(result, name)
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, np.ndarray):
            value = [None if isinstance(v, float) and not np.isfinite(v) else v for v in value.tolist()]
        elif isinstance(value, (np.integer, np.floating)):
            value = value.item()
        payload[name] = value
    return payload
