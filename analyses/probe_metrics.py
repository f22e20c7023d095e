"""Scores of out-of-fold probe predictions: pooled R2, mean and sd of per-fold R2, Pearson and Spearman.

The original notebook mixed two R2s: the R2 of all out-of-fold predictions pooled into one vector, and the mean
of the R2 computed inside each validation fold. They differ (each fold's R2 is measured against that fold's
own label mean, so between-fold shifts in label means count against the pooled R2 but not the per-fold one),
so :func:`probe_scores` reports both, labelled.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional import pearson_corrcoef, r2_score, spearman_corrcoef

from analyses._scoring import check_ids, check_pair, json_floats, r2_from_sums, resolve_dimensions


@dataclass(frozen=True, slots=True)
class ProbeScoresResult:
    """Per-dimension scores of out-of-fold predictions.

    Attributes
    ----------
    dimensions : tuple of str, length n_dimensions
    r2_pooled : ndarray of shape (n_dimensions,)
        R2 of all out-of-fold predictions pooled (one R2 over ``n_rows`` rows, against the pooled label mean).
    r2_fold_mean, r2_fold_sd : ndarray of shape (n_dimensions,)
        Mean and sample sd (``ddof=1``; NaN for one fold) over folds of the R2 within each validation fold.
    r2_per_fold : ndarray of shape (n_folds, n_dimensions)
    pearson, spearman : ndarray of shape (n_dimensions,)
        Correlations of the pooled out-of-fold predictions; NaN where the target or prediction is constant.
    mean_r2_pooled, mean_r2_fold_mean : float
        Means over dimensions of ``r2_pooled`` and ``r2_fold_mean``.
    mean_pearson, mean_spearman : float
        Means over the dimensions where the correlation is defined (NaN if none is).
    fold_ids : tuple of int
        The distinct values of ``fold_of_row``, in the order of ``r2_per_fold`` rows.
    n_rows_per_fold : tuple of int
    n_rows, n_folds : int
    constant_dimensions : tuple of str
        Dimensions whose pooled target is constant (R2 there follows scikit-learn's ``force_finite``).
    n_constant_fold_cells : int
        (fold, dimension) cells whose within-fold target is constant.
    protocol, fold_protocol : str
        How ``r2_pooled``/``pearson``/``spearman`` and how ``r2_fold_*`` were computed.
    """

    dimensions: tuple[str, ...]
    r2_pooled: np.ndarray
    r2_fold_mean: np.ndarray
    r2_fold_sd: np.ndarray
    r2_per_fold: np.ndarray
    pearson: np.ndarray
    spearman: np.ndarray
    mean_r2_pooled: float
    mean_r2_fold_mean: float
    mean_pearson: float
    mean_spearman: float
    fold_ids: tuple[int, ...]
    n_rows_per_fold: tuple[int, ...]
    n_rows: int
    n_folds: int
    constant_dimensions: tuple[str, ...]
    n_constant_fold_cells: int
    protocol: str
    fold_protocol: str

    def to_dict(self) -> dict:
        """JSON form: plain lists and floats, NaN as None, nothing rounded."""
        payload = {name: getattr(self, name) for name in self.__slots__}
        for name in ("r2_pooled", "r2_fold_mean", "r2_fold_sd", "r2_per_fold", "pearson", "spearman"):
            payload[name] = json_floats(payload[name])
        for name in ("mean_r2_pooled", "mean_r2_fold_mean", "mean_pearson", "mean_spearman"):
            payload[name] = None if np.isnan(payload[name]) else float(payload[name])
        for name in ("dimensions", "fold_ids", "n_rows_per_fold", "constant_dimensions"):
            payload[name] = list(payload[name])
        return payload


def probe_scores(
    y_true: np.ndarray, y_pred: np.ndarray, fold_of_row: np.ndarray, *, dimensions: Sequence[str] | None = None
) -> ProbeScoresResult:
    """Score out-of-fold predictions per dimension, pooled and per fold.

    Parameters
    ----------
    y_true : ndarray of shape (n_rows, n_dimensions)
        Labels on [0, 1] (rater mean / 7) of the rows that received an out-of-fold prediction.
    y_pred : ndarray of shape (n_rows, n_dimensions)
        Each row's prediction from the model that did not see it.
    fold_of_row : ndarray of shape (n_rows,), int
        The validation fold each row's prediction came from.
    dimensions : sequence of str, optional
        Column names; default :data:`datamodules.dimensions.DIMENSIONS` (requires 19 columns).

    Returns
    -------
    ProbeScoresResult

    Raises
    ------
    ValueError
        On shape mismatches, NaN/inf, fewer than 2 rows, or a fold with fewer than 2 rows.

    Warns
    -----
    UserWarning
        When a target or prediction column is constant (correlations NaN there, R2 by ``force_finite``).

    Notes
    -----
    Pooled: :math:`R^2 = 1 - \\sum_i (y_i - \\hat y_i)^2 / \\sum_i (y_i - \\bar y)^2` over all ``n_rows``.
    Per fold: the same within each fold, then mean and sd over folds. R2 uses ``torchmetrics``'
    ``r2_score`` (see :func:`r2_per_dimension`); a constant target gives 1.0 if predicted exactly, else 0.0.

    Examples
    --------
    >>> y = np.array([[0.1], [0.2], [0.3], [0.5], [0.6], [0.7]])
    >>> scores = probe_scores(y, y + 0.05, np.array([0, 0, 0, 1, 1, 1]), dimensions=["timing"])
    >>> float(scores.r2_pooled[0]) > float(scores.r2_fold_mean[0])
    True
    """
    y_true, y_pred = check_pair(y_true, y_pred)
    names = resolve_dimensions(dimensions, y_true.shape[1])
    codes = check_ids("fold_of_row", fold_of_row, y_true.shape[0])
    fold_ids = tuple(int(value) for value in np.unique(np.asarray(fold_of_row)))
    sizes = np.bincount(codes, minlength=len(fold_ids))
    if sizes.min() < 2:
        raise ValueError(f"fold_of_row: fold {fold_ids[int(sizes.argmin())]} has {sizes.min()} row, expected >= 2")
    per_fold = np.stack([r2_per_dimension(y_true[codes == c], y_pred[codes == c]) for c in range(len(fold_ids))])
    n_constant_cells = sum(int(_constant_columns(y_true[codes == c]).sum()) for c in range(len(fold_ids)))
    constant = _constant_columns(y_true)
    _warn_constant(names, constant, _constant_columns(y_pred))
    pearson, spearman = pearson_per_dimension(y_true, y_pred), spearman_per_dimension(y_true, y_pred)
    r2_pooled = r2_per_dimension(y_true, y_pred)
    n_folds = len(fold_ids)
    return ProbeScoresResult(
        dimensions=names,
        r2_pooled=r2_pooled,
        r2_fold_mean=per_fold.mean(axis=0),
        r2_fold_sd=per_fold.std(axis=0, ddof=1) if n_folds > 1 else np.full(len(names), np.nan),
        r2_per_fold=per_fold,
        pearson=pearson,
        spearman=spearman,
        mean_r2_pooled=float(r2_pooled.mean()),
        mean_r2_fold_mean=float(per_fold.mean()),
        mean_pearson=_nanmean(pearson),
        mean_spearman=_nanmean(spearman),
        fold_ids=fold_ids,
        n_rows_per_fold=tuple(int(size) for size in sizes),
        n_rows=int(y_true.shape[0]),
        n_folds=n_folds,
        constant_dimensions=tuple(name for name, flag in zip(names, constant, strict=True) if flag),
        n_constant_fold_cells=n_constant_cells,
        protocol=f"out-of-fold, pooled over {n_folds} folds ({y_true.shape[0]} rows)",
        fold_protocol=f"within each of {n_folds} validation folds, mean and sd (ddof=1) over folds",
    )


def r2_per_dimension(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """R2 of each column, ``(n_dimensions,)``, by ``torchmetrics.functional.r2_score``.

    torchmetrics treats sums of squares within an absolute 1e-4 of zero as zero, which on labels in [0, 1]
    would misfire for small or near-constant columns; since R2 is unchanged when target and prediction go
    through the same affine map, both are first standardised by the target column's mean and sd, making that
    tolerance relative (``1 - R2 < 1e-4 / n_rows`` reads as 1.0). Exactly constant target columns get
    scikit-learn's ``force_finite`` value: 1.0 if predicted exactly, else 0.0.
    """
    y_true, y_pred = check_pair(y_true, y_pred)
    constant = _constant_columns(y_true)
    mean, sd = y_true.mean(axis=0), np.where(constant, 1.0, y_true.std(axis=0))
    scores = r2_score(
        preds=torch.from_numpy((y_pred - mean) / sd),  # (n_rows, n_dimensions)
        target=torch.from_numpy((y_true - mean) / sd),  # (n_rows, n_dimensions)
        multioutput="raw_values",
    ).numpy()
    exact = np.all(y_pred == y_true, axis=0)
    return np.where(constant, np.where(exact, 1.0, 0.0), np.atleast_1d(scores)).astype(np.float64)


def pearson_per_dimension(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pearson r of each column by ``torchmetrics.functional.pearson_corrcoef``; NaN for a constant column."""
    return _correlation(pearson_corrcoef, y_true, y_pred)


def spearman_per_dimension(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Spearman rho (average ranks for ties) by ``torchmetrics.functional.spearman_corrcoef``; NaN if constant.

    torchmetrics ranks in float32, so values agree with ``scipy.stats.spearmanr`` to about 1e-6.
    """
    return _correlation(spearman_corrcoef, y_true, y_pred)


def pooled_r2_many(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pooled R2 of many prediction sets at once, ``(n_sets, n_dimensions)``.

    Parameters
    ----------
    y_true : ndarray of shape (n_rows, n_dimensions) or (n_sets, n_rows, n_dimensions)
        One target matrix for all sets, or one per set (the permuted labels of each permutation).
    y_pred : ndarray of shape (n_sets, n_rows, n_dimensions)

    Returns
    -------
    ndarray of shape (n_sets, n_dimensions)
        Equal to ``sklearn.metrics.r2_score(..., multioutput="raw_values")`` per set, including its
        ``force_finite`` values (1.0 or 0.0) for a constant target.

    Raises
    ------
    ValueError
        On shapes that do not match or NaN/inf.
    """
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.float64)
    if y_pred.ndim != 3 or y_true.shape not in (y_pred.shape, y_pred.shape[1:]):
        raise ValueError(
            f"y_pred has shape {y_pred.shape} and y_true {y_true.shape}; expected (n_sets, n_rows, n_dimensions) "
            "and (n_rows, n_dimensions) or the same 3-d shape"
        )
    if not (np.all(np.isfinite(y_pred)) and np.all(np.isfinite(y_true))):
        raise ValueError("y_true and y_pred must be finite (no NaN or inf)")
    y_true = np.broadcast_to(y_true, y_pred.shape)  # (n_sets, n_rows, n_dimensions)
    sse = np.sum((y_true - y_pred) ** 2, axis=1)
    sst = np.sum((y_true - y_true.mean(axis=1, keepdims=True)) ** 2, axis=1)
    return r2_from_sums(sse, sst, y_true.shape[1], np.ptp(y_true, axis=1))


def _correlation(metric, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = check_pair(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The variance of predictions or target is close to zero")
        values = metric(preds=torch.from_numpy(y_pred), target=torch.from_numpy(y_true))  # (n_dimensions,)
    values = np.atleast_1d(values.numpy()).astype(np.float64)
    return np.where(_constant_columns(y_true) | _constant_columns(y_pred), np.nan, values)


def _constant_columns(values: np.ndarray) -> np.ndarray:
    return np.ptp(values, axis=0) == 0


def _warn_constant(names: tuple[str, ...], constant_true: np.ndarray, constant_pred: np.ndarray) -> None:
    if constant_true.any() or constant_pred.any():
        warnings.warn(
            f"constant target in {[n for n, f in zip(names, constant_true, strict=True) if f]} and constant "
            f"prediction in {[n for n, f in zip(names, constant_pred, strict=True) if f]}: Pearson/Spearman are NaN "
            "there; R2 of a constant target is 1.0 if predicted exactly, else 0.0",
            UserWarning,
            stacklevel=3,
        )


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
