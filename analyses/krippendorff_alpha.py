"""Krippendorff's alpha (interval) per dimension, keys as units, with a bootstrap CI over keys."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import krippendorff
import numpy as np

from analyses.rating_panel import RatingPanel, check_protocol, fields_to_dict, key_weights, percentile_ci

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
        return {"level_of_measurement": "interval", **fields_to_dict(self)}


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

    Parameters are those of :func:`analyses.reliability.reliability`.

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
    panel = RatingPanel.build(ratings, key_index, rater_index, repeats)
    return alpha_from_panel(panel, n_resamples, confidence_level, np.random.default_rng(seed))


def alpha_from_panel(panel: RatingPanel, n_resamples: int, confidence_level: float,
                     rng: np.random.Generator) -> AlphaResult:
    check_protocol(n_resamples=n_resamples, confidence_level=confidence_level)
    values = panel.unit_values  # (n_keys, n_slots, n_dimensions)
    n_keys, _, n_dimensions = values.shape
    unit_stats = _alpha_unit_stats(values)  # (n_keys, n_dimensions * 4)
    closed_form = _alpha_from_sums(unit_stats.sum(axis=0), n_dimensions)
    statistic = np.array([_package_alpha(values[:, :, d], closed_form[d]) for d in range(n_dimensions)])
    boot = _alpha_from_sums(key_weights(n_keys, n_resamples, rng) @ unit_stats, n_dimensions)
    ci_low, ci_high = percentile_ci(boot, confidence_level, n_dimensions)
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
