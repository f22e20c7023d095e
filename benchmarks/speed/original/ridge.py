"""Stats-pooled Ridge as the notebook ran it: per fold a StandardScaler, then one ``Ridge(alpha=1)`` per dimension."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler


def ridge_per_dimension(
    stats: np.ndarray, labels: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], alpha: float = 1.0
) -> np.ndarray:
    """Out-of-fold predictions of 19 separately fitted Ridge models per fold.

    Parameters
    ----------
    stats : ndarray of shape (n_segments, 2 * dim)
    labels : ndarray of shape (n_segments, 19)
    folds : list of (train_rows, val_rows)
    alpha : float, default=1.0

    Returns
    -------
    ndarray of shape (n_segments, 19)
        NaN for rows in no validation set.
    """
    predictions = np.full(labels.shape, np.nan)
    for train, val in folds:
        scaler = StandardScaler().fit(stats[train])
        train_features, val_features = scaler.transform(stats[train]), scaler.transform(stats[val])
        for dimension in range(labels.shape[1]):
            model = Ridge(alpha=alpha).fit(train_features, labels[train, dimension])
            predictions[val, dimension] = model.predict(val_features)
    return predictions
