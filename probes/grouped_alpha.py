"""Choosing Ridge penalties by cross-validation over whole groups (excerpts), one SVD per inner fold."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold


def grouped_cv_errors(
    features: np.ndarray, targets: np.ndarray, groups: np.ndarray, alphas: np.ndarray, n_splits: int = 5
) -> np.ndarray:
    """Summed squared validation error of Ridge for every penalty and target, over excerpt-grouped folds.

    Parameters
    ----------
    features : ndarray of shape (n, p)
    targets : ndarray of shape (n, n_targets)
    groups : ndarray of shape (n,)
        Group (excerpt) of each row; a group is never split between inner training and validation.
    alphas : ndarray of shape (n_alphas,)
    n_splits : int, default=5
        Inner folds (fewer when there are fewer groups).

    Returns
    -------
    ndarray of shape (n_alphas, n_targets)

    Notes
    -----
    With intercept, per inner fold: centre on the inner training means, ``X = U S V^T``; the Ridge prediction for
    penalty ``a`` is ``X_val V diag(s / (s^2 + a)) U^T Y`` plus the training mean, so every penalty and target
    costs one matrix product after a single SVD (the same algebra as sklearn's ``_solve_svd``).
    """
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(f"groups must hold at least 2 distinct values for grouped CV, got {n_groups}")
    errors = np.zeros((len(alphas), targets.shape[1]))
    for inner_train, inner_val in GroupKFold(n_splits=min(n_splits, n_groups)).split(features, groups=groups):
        x_mean, y_mean = features[inner_train].mean(0), targets[inner_train].mean(0)
        left, singular, right = np.linalg.svd(features[inner_train] - x_mean, full_matrices=False)
        projected = left.T @ (targets[inner_train] - y_mean)  # (k, n_targets)
        basis = (features[inner_val] - x_mean) @ right.T  # (n_val, k)
        residual_target = targets[inner_val] - y_mean  # (n_val, n_targets)
        for index, alpha in enumerate(alphas):
            shrink = singular / (singular**2 + alpha)  # (k,)
            errors[index] += ((residual_target - basis @ (shrink[:, None] * projected)) ** 2).sum(0)
    return errors
