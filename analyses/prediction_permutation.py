"""A permutation null for out-of-fold predictions that needs no refit (for probers too costly to refit).

Under the null hypothesis that the features carry no information about the labels, a fold's validation
predictions are a function of its training part and of the validation features only, so they are independent of
the validation labels. Permuting the validation labels among rows *within the same fold*, in blocks of whole
excerpts of equal size (:func:`analyses.permutation.permute_within_groups` with ``strata`` = fold), therefore
leaves the joint distribution of (prediction, label) unchanged under the null: the test is exact, like the refit
test, and costs one R2 per permutation. Excerpts whose size is unique within their fold cannot move (counted by
:func:`analyses.permutation.permutation_plan`), which only makes the test conservative.
"""

from __future__ import annotations

import numpy as np

from analyses.permutation import permute_within_groups
from analyses.probe_metrics import pooled_r2_many


def prediction_permutation_null(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    fold_of_row: np.ndarray,
    n_permutations: int,
    seed: int,
) -> np.ndarray:
    """Pooled R2 of fixed out-of-fold predictions against within-fold permuted labels.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_rows, 19)
        Labels and out-of-fold predictions of the rows that have one.
    groups : ndarray of shape (n_rows,)
        Excerpt of each row (permuted as whole blocks).
    fold_of_row : ndarray of shape (n_rows,)
        Validation fold of each row (blocks never leave their fold).
    n_permutations : int
    seed : int

    Returns
    -------
    ndarray of shape (n_permutations, 19)
        The null distribution of pooled R2.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    rng = np.random.default_rng(seed)
    permuted = np.stack([permute_within_groups(y_true, groups, rng, strata=fold_of_row)
                         for _ in range(n_permutations)])  # (n_perm, n_rows, 19)
    return pooled_r2_many(permuted, np.broadcast_to(y_pred, permuted.shape))
