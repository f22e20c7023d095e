"""Validating cross-validation folds given as row-index arrays, shared by the out-of-fold analyses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_row_folds(folds: Sequence[tuple[np.ndarray, np.ndarray]], n_rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return folds as int64 arrays after checking they are usable for out-of-fold estimates.

    Parameters
    ----------
    folds : sequence of (train_rows, val_rows)
        Integer row indices into arrays with ``n_rows`` rows.
    n_rows : int

    Returns
    -------
    list of (ndarray, ndarray)

    Raises
    ------
    ValueError
        If there are no folds, a part is empty, not integer, out of range or repeats a row, a row is in both
        parts of a fold, or a row is in the val parts of two folds.
    """
    if len(folds) == 0:
        raise ValueError("folds is empty, expected at least one (train_rows, val_rows) pair")
    checked, seen_val = [], np.full(n_rows, -1, dtype=np.int64)
    for index, fold in enumerate(folds):
        if len(fold) != 2:
            raise ValueError(f"fold {index} has {len(fold)} parts, expected (train_rows, val_rows)")
        parts = []
        for name, rows in zip(("train", "val"), fold, strict=True):
            rows = np.asarray(rows)
            if rows.ndim != 1 or rows.size == 0 or not np.issubdtype(rows.dtype, np.integer):
                raise ValueError(f"fold {index} {name} rows: expected a non-empty 1-d integer array, got {rows!r:.80}")
            if rows.min() < 0 or rows.max() >= n_rows:
                raise ValueError(f"fold {index} {name} rows span {rows.min()}..{rows.max()}, expected 0..{n_rows - 1}")
            if np.unique(rows).size != rows.size:
                raise ValueError(f"fold {index} {name} rows repeat a row index")
            parts.append(rows.astype(np.int64))
        both = np.intersect1d(parts[0], parts[1])
        if both.size:
            raise ValueError(f"fold {index}: row {both[0]} is in both train and val ({both.size} such rows)")
        again = parts[1][seen_val[parts[1]] >= 0]
        if again.size:
            raise ValueError(f"row {again[0]} is in the val rows of folds {seen_val[again[0]]} and {index}")
        seen_val[parts[1]] = index
        checked.append((parts[0], parts[1]))
    return checked


def check_matrix(name: str, values: np.ndarray, n_rows: int | None = None) -> np.ndarray:
    """A finite 2-d float64 copy of ``values`` (with ``n_rows`` rows when given).

    Raises
    ------
    ValueError
        If ``values`` is not 2-d, has the wrong number of rows, or holds NaN/inf.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"{name} has shape {values.shape}, expected (n_rows, n_columns)")
    if n_rows is not None and values.shape[0] != n_rows:
        raise ValueError(f"{name} has {values.shape[0]} rows, expected {n_rows}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds NaN or inf at row {int(np.argwhere(~np.isfinite(values))[0, 0])}")
    return values
