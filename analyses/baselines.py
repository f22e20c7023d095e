"""Label-only baselines as out-of-fold predictions: training mean, excerpt mean, excerpt identity ceiling.

Each baseline returns predictions for the same rows a prober predicts (every row of a validation part), in the
layout of :func:`out_of_fold_rows`, so it is scored by :func:`analyses.probe_metrics.probe_scores` exactly like
a prober::

    base = excerpt_mean_baseline(cache.labels, cache.folds, cache.excerpts)
    scores = probe_scores(cache.labels[base.rows], base.y_pred, base.fold_of_row)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyses._scoring import check_ids, json_floats
from analyses.row_folds import check_matrix, check_row_folds


@dataclass(frozen=True, slots=True)
class BaselinePredictionsResult:
    """Out-of-fold predictions of a label-only baseline.

    Attributes
    ----------
    name : str
        ``"training_mean"``, ``"excerpt_mean"`` or ``"excerpt_identity_ceiling"``.
    rows : ndarray of shape (n_predicted,), int64
        Row indices (into the ``labels`` given) that received a prediction: the union of the val parts, sorted.
    y_pred : ndarray of shape (n_predicted, n_dimensions)
        Prediction for ``labels[rows]``, on the label scale [0, 1].
    fold_of_row : ndarray of shape (n_predicted,), int64
        Index (into ``folds``) of the fold whose val part holds each row.
    n_fallback : int
        Rows predicted by the fallback rule instead of an excerpt mean (0 for ``training_mean``).
    n_fallback_per_fold : tuple of int
        ``n_fallback`` split by ``fold_of_row``.
    protocol : str
        What was averaged, and the fallback.
    """

    name: str
    rows: np.ndarray
    y_pred: np.ndarray
    fold_of_row: np.ndarray
    n_fallback: int
    n_fallback_per_fold: tuple[int, ...]
    protocol: str

    def to_dict(self, include_predictions: bool = False) -> dict:
        """JSON form; rows and predictions only when ``include_predictions``."""
        payload = {
            "name": self.name,
            "n_predicted": int(self.rows.size),
            "n_fallback": self.n_fallback,
            "n_fallback_per_fold": list(self.n_fallback_per_fold),
            "protocol": self.protocol,
        }
        if include_predictions:
            payload.update(
                rows=self.rows.tolist(), y_pred=json_floats(self.y_pred), fold_of_row=self.fold_of_row.tolist()
            )
        return payload


def out_of_fold_rows(folds: Sequence[tuple[np.ndarray, np.ndarray]], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows that receive an out-of-fold prediction and the fold of each.

    Returns
    -------
    rows : ndarray of shape (n_predicted,), int64
        Union of the val parts, sorted.
    fold_of_row : ndarray of shape (n_predicted,), int64

    Raises
    ------
    ValueError
        From :func:`analyses.row_folds.check_row_folds` on malformed folds.
    """
    folds = check_row_folds(folds, n_rows)
    fold_of = np.full(n_rows, -1, dtype=np.int64)
    for index, (_, val) in enumerate(folds):
        fold_of[val] = index
    rows = np.flatnonzero(fold_of >= 0)
    return rows, fold_of[rows]


def training_mean_baseline(
    labels: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]
) -> BaselinePredictionsResult:
    """Predict each val row with the mean label of its fold's training part.

    Parameters
    ----------
    labels : ndarray of shape (n_rows, n_dimensions)
        Labels on [0, 1] of all rows the folds index.
    folds : sequence of (train_rows, val_rows)
        Integer row indices, e.g. :attr:`datamodules.cache.PercepianoCache.folds`.

    Returns
    -------
    BaselinePredictionsResult

    Raises
    ------
    ValueError
        If ``labels`` is not a finite 2-d array, or on malformed folds.
    """
    labels = check_matrix("labels", labels)
    folds = check_row_folds(folds, labels.shape[0])
    rows, fold_of_row = out_of_fold_rows(folds, labels.shape[0])
    means = np.stack([labels[train].mean(axis=0) for train, _ in folds])  # (n_folds, n_dimensions)
    return BaselinePredictionsResult(
        name="training_mean",
        rows=rows,
        y_pred=means[fold_of_row],
        fold_of_row=fold_of_row,
        n_fallback=0,
        n_fallback_per_fold=(0,) * len(folds),
        protocol="per fold: mean label of the training part, predicted for every val row",
    )


def excerpt_mean_baseline(
    labels: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], groups: Sequence[str] | np.ndarray
) -> BaselinePredictionsResult:
    """Predict each val row with the mean label of its excerpt's rows in the fold's training part.

    When the excerpt has no training rows (always, for folds grouped by excerpt), the row gets the training
    mean instead; such rows are counted in ``n_fallback``. With excerpt-grouped folds this baseline therefore
    equals :func:`training_mean_baseline` and ``n_fallback`` equals the number of predicted rows.

    Parameters
    ----------
    labels : ndarray of shape (n_rows, n_dimensions)
    folds : sequence of (train_rows, val_rows)
    groups : sequence of str, length n_rows
        Excerpt id of each row (:attr:`datamodules.cache.PercepianoCache.excerpts`).

    Returns
    -------
    BaselinePredictionsResult

    Raises
    ------
    ValueError
        On malformed labels, folds or groups.

    Examples
    --------
    >>> labels = np.array([[0.2], [0.4], [0.6], [0.9]])
    >>> folds = [(np.array([0, 2, 3]), np.array([1]))]
    >>> excerpt_mean_baseline(labels, folds, ["a", "a", "b", "b"]).y_pred.tolist()
    [[0.2]]
    """
    labels = check_matrix("labels", labels)
    codes = check_ids("groups", groups, labels.shape[0])
    folds = check_row_folds(folds, labels.shape[0])
    rows, fold_of_row = out_of_fold_rows(folds, labels.shape[0])
    y_pred = np.empty((rows.size, labels.shape[1]))
    fallback = np.zeros(rows.size, dtype=bool)
    position = np.searchsorted(rows, np.arange(labels.shape[0]))
    for train, val in folds:
        sums, counts = _group_sums(labels[train], codes[train], codes.max() + 1)
        has_train = counts[codes[val]] > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            excerpt_means = sums[codes[val]] / counts[codes[val], None]
        y_pred[position[val]] = np.where(has_train[:, None], excerpt_means, labels[train].mean(axis=0))
        fallback[position[val]] = ~has_train
    per_fold = tuple(int(fallback[fold_of_row == index].sum()) for index in range(len(folds)))
    return BaselinePredictionsResult(
        name="excerpt_mean",
        rows=rows,
        y_pred=y_pred,
        fold_of_row=fold_of_row,
        n_fallback=int(fallback.sum()),
        n_fallback_per_fold=per_fold,
        protocol=(
            "per fold: mean label of the val row's excerpt in the training part; the training mean when the "
            f"excerpt has no training rows ({int(fallback.sum())} of {rows.size} rows)"
        ),
    )


def excerpt_identity_ceiling(
    labels: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], groups: Sequence[str] | np.ndarray
) -> BaselinePredictionsResult:
    """Leave-one-out excerpt mean over all fold rows, ignoring the folds: how much R2 is "which passage is this".

    Each val row is predicted by the mean label of every *other* row of its excerpt among the rows the folds
    use (any part of any fold), so it deliberately crosses fold boundaries. It is not a fair predictor but a
    reference: a prober whose R2 does not exceed it may only be recognising the excerpt. An excerpt with a
    single row falls back to the mean of all other fold rows (counted in ``n_fallback``).

    Parameters
    ----------
    labels : ndarray of shape (n_rows, n_dimensions)
    folds : sequence of (train_rows, val_rows)
    groups : sequence of str, length n_rows
        Excerpt id of each row.

    Returns
    -------
    BaselinePredictionsResult

    Raises
    ------
    ValueError
        On malformed labels, folds or groups.

    Notes
    -----
    For row :math:`i` of excerpt :math:`g` with :math:`n_g` fold rows summing to :math:`S_g`, the prediction
    is :math:`(S_g - y_i) / (n_g - 1)`.
    """
    labels = check_matrix("labels", labels)
    codes = check_ids("groups", groups, labels.shape[0])
    folds = check_row_folds(folds, labels.shape[0])
    rows, fold_of_row = out_of_fold_rows(folds, labels.shape[0])
    used = np.unique(np.concatenate([np.concatenate(fold) for fold in folds]))
    sums, counts = _group_sums(labels[used], codes[used], codes.max() + 1)
    own, own_counts = labels[rows], counts[codes[rows]]
    fallback = own_counts < 2
    grand = (labels[used].sum(axis=0) - own) / (used.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        leave_one_out = (sums[codes[rows]] - own) / (own_counts - 1)[:, None]
    per_fold = tuple(int(fallback[fold_of_row == index].sum()) for index in range(len(folds)))
    return BaselinePredictionsResult(
        name="excerpt_identity_ceiling",
        rows=rows,
        y_pred=np.where(fallback[:, None], grand, leave_one_out),
        fold_of_row=fold_of_row,
        n_fallback=int(fallback.sum()),
        n_fallback_per_fold=per_fold,
        protocol=(
            "excerpt identity ceiling: leave-one-out mean of all other rows of the same excerpt in any fold "
            f"part, ignoring fold boundaries; single-row excerpts get the leave-one-out mean of all fold rows "
            f"({int(fallback.sum())} of {rows.size} rows)"
        ),
    )


def _group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group column sums ``(n_groups, n_dimensions)`` and row counts ``(n_groups,)``."""
    sums = np.zeros((n_groups, values.shape[1]))
    np.add.at(sums, codes, values)
    return sums, np.bincount(codes, minlength=n_groups)
