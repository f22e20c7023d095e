"""Input checks and sum-based R2 / Pearson shared by probe scoring, baselines, bootstrap and permutation tests.

Private to :mod:`analyses.probe_metrics`, :mod:`analyses.baselines`, :mod:`analyses.uncertainty` and
:mod:`analyses.permutation`. The sum-based formulas here are the fast paths; their tests compare them with
``sklearn.metrics.r2_score`` and ``scipy.stats.pearsonr``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analyses.row_folds import check_matrix
from datamodules.dimensions import DIMENSIONS

#: A column whose sum of squares about its mean is below ``CONSTANT_TOLERANCE * n * range**2`` is constant.
CONSTANT_TOLERANCE = 1e-12


def check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite float64 ``(n_rows, n_dimensions)`` copies of targets and predictions of equal shape.

    Raises
    ------
    ValueError
        If either is not 2-d, holds NaN/inf, the shapes differ, or there are fewer than 2 rows.
    """
    y_true = check_matrix("y_true", y_true)
    y_pred = check_matrix("y_pred", y_pred)
    if y_pred.shape != y_true.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}, expected the shape of y_true {y_true.shape}")
    if y_true.shape[0] < 2:
        raise ValueError(f"y_true has {y_true.shape[0]} rows, expected at least 2")
    return y_true, y_pred


def check_ids(name: str, values: Sequence | np.ndarray, n_rows: int) -> np.ndarray:
    """Integer codes ``(n_rows,)`` for a per-row id array (fold ids, excerpt names), in first-sorted order.

    Returns
    -------
    ndarray of shape (n_rows,), int64
        ``codes[i]`` indexes ``np.unique(values)``.

    Raises
    ------
    ValueError
        If ``values`` is not 1-d with ``n_rows`` entries.
    """
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n_rows:
        raise ValueError(f"{name} has shape {values.shape}, expected ({n_rows},): one id per row")
    _, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64)


def resolve_dimensions(dimensions: Sequence[str] | None, n_columns: int) -> tuple[str, ...]:
    """Dimension names for ``n_columns`` columns: :data:`DIMENSIONS` by default when there are 19.

    Raises
    ------
    ValueError
        If ``dimensions`` is None and ``n_columns != 19``, or its length is not ``n_columns``.
    """
    if dimensions is None:
        if n_columns != len(DIMENSIONS):
            raise ValueError(f"dimensions is None but the arrays have {n_columns} columns; pass {n_columns} names")
        return DIMENSIONS
    dimensions = tuple(str(name) for name in dimensions)
    if len(dimensions) != n_columns:
        raise ValueError(f"dimensions has {len(dimensions)} names, expected {n_columns} (one per column)")
    return dimensions


def as_generator(seed: int | np.random.Generator, name: str = "seed") -> np.random.Generator:
    """A :class:`numpy.random.Generator` from an int seed or a Generator (returned as is).

    Raises
    ------
    TypeError
        If ``seed`` is neither (None is refused: randomness must be explicit).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"{name} must be an int or a numpy.random.Generator, got {seed!r}")


def r2_from_sums(sse: np.ndarray, sst: np.ndarray, n_rows: np.ndarray | float, scale: np.ndarray) -> np.ndarray:
    """``1 - sse / sst`` with scikit-learn's ``force_finite`` convention for constant targets.

    Parameters
    ----------
    sse, sst : ndarray, broadcastable
        Residual and total sums of squares.
    n_rows : ndarray or float, broadcastable
        Rows behind each sum (weighted rows for a bootstrap resample).
    scale : ndarray, broadcastable
        Range (max - min) of the target column on the full data; a column is numerically constant when
        ``sst <= CONSTANT_TOLERANCE * n_rows * scale**2`` (or ``scale == 0``).

    Returns
    -------
    ndarray
        R2, with 1.0 for a constant target predicted exactly (``sse`` below the same tolerance) and 0.0 for
        a constant target predicted with any error, as ``sklearn.metrics.r2_score`` does.
    """
    sse, sst = np.asarray(sse, dtype=np.float64), np.asarray(sst, dtype=np.float64)
    tolerance = CONSTANT_TOLERANCE * np.asarray(n_rows, dtype=np.float64) * np.asarray(scale, dtype=np.float64) ** 2
    constant = (np.asarray(scale) == 0) | (sst <= tolerance)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst
    exact = sse <= tolerance
    return np.where(constant, np.where(exact, 1.0, 0.0), r2)


def pearson_from_sums(
    sxy: np.ndarray,
    sxx: np.ndarray,
    syy: np.ndarray,
    n_rows: np.ndarray | float,
    scale_x: np.ndarray,
    scale_y: np.ndarray,
) -> np.ndarray:
    """Pearson r from centred cross-products; NaN where either side is numerically constant (as scipy)."""
    n_rows = np.asarray(n_rows, dtype=np.float64)
    constant_x = (np.asarray(scale_x) == 0) | (sxx <= CONSTANT_TOLERANCE * n_rows * np.asarray(scale_x) ** 2)
    constant_y = (np.asarray(scale_y) == 0) | (syy <= CONSTANT_TOLERANCE * n_rows * np.asarray(scale_y) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(sxy / np.sqrt(sxx * syy), -1.0, 1.0)
    return np.where(constant_x | constant_y, np.nan, r)


def json_floats(values: np.ndarray) -> list:
    """Nested lists of floats with NaN written as None (our JSON writer refuses NaN)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), None, values.astype(object)).tolist()
