"""Canonical correlation between (PCA-reduced) embeddings and the 19 labels, held-out and in-sample.

Per fold, the embeddings are standardised and reduced by PCA (50 components by default) fitted on the training
rows; a closed-form CCA is fitted on the training rows; the val rows are projected with the training means,
PCA and canonical weights, and each canonical pair is correlated on the val rows. The main result averages
these held-out correlations per component over folds (component k of each fold is that fold's k-th pair by
training correlation; variates from different folds are never pooled, since their bases differ). The
in-sample variant fits and evaluates on the same rows and is labelled as such.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from analyses.row_folds import check_matrix, check_row_folds

THRESHOLD = 0.3
#: Relative singular value below which a PCA component counts as empty (see ``_fit_reduction``).
RANK_TOL = 1e-6
SHARED_VARIANCE = "mean over canonical components of max(r, 0)**2 (negative held-out r counts as no shared variance)"


@dataclass(frozen=True, slots=True)
class CanonicalFit:
    """Closed-form CCA of centred blocks: variates ``(x - x_mean) @ x_weights`` and ``(y - y_mean) @ y_weights``.

    Attributes
    ----------
    x_mean : ndarray of shape (p,)
    y_mean : ndarray of shape (q,)
    x_weights : ndarray of shape (p, k)
    y_weights : ndarray of shape (q, k)
    correlations : ndarray of shape (k,)
        Training canonical correlations, descending, k = min(p, q).
    """

    x_mean: np.ndarray
    y_mean: np.ndarray
    x_weights: np.ndarray
    y_weights: np.ndarray
    correlations: np.ndarray

    def transform(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Canonical variates of new rows, shapes ``(n, k)`` and ``(n, k)``."""
        return (x - self.x_mean) @ self.x_weights, (y - self.y_mean) @ self.y_weights


@dataclass(frozen=True, slots=True)
class CCAResult:
    """Canonical correlations between embeddings and labels.

    Attributes
    ----------
    heldout_correlations : list of float
        Per component, the mean over folds of the val-row correlation of the training canonical pair.
    heldout_per_fold : list of list of float
    in_sample_correlations : list of float
    n_above_threshold_heldout, n_above_threshold_in_sample : int
        Components with correlation > ``threshold``.
    shared_variance_heldout, shared_variance_in_sample : float
        See ``shared_variance_definition``.
    threshold : float
    n_pca_components, n_components, n_folds, n_rows, seed : int
    standardize : bool
    protocol, shared_variance_definition : str
    """

    heldout_correlations: list[float]
    heldout_per_fold: list[list[float]]
    in_sample_correlations: list[float]
    n_above_threshold_heldout: int
    n_above_threshold_in_sample: int
    shared_variance_heldout: float
    shared_variance_in_sample: float
    threshold: float
    n_pca_components: int
    n_components: int
    n_folds: int
    n_rows: int
    seed: int
    standardize: bool
    protocol: str
    shared_variance_definition: str

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


def fit_cca(x: np.ndarray, y: np.ndarray, rank_tol: float = 1e-10) -> CanonicalFit:
    """Closed-form CCA by QR of each centred block and SVD of ``Qx.T @ Qy``.

    Parameters
    ----------
    x : ndarray of shape (n, p)
    y : ndarray of shape (n, q)
    rank_tol : float, default=1e-10
        Relative size below which a diagonal entry of R counts as rank deficiency.

    Notes
    -----
    With ``Xc = Qx Rx`` and ``Yc = Qy Ry``, the singular values of ``Qx.T Qy = U S V.T`` are the canonical
    correlations and ``Rx^-1 U``, ``Ry^-1 V`` the weights (Bjorck & Golub 1973, doi:10.2307/2005662).

    Raises
    ------
    ValueError
        If ``n <= p`` or ``n <= q``, or a block is rank deficient.
    """
    n = x.shape[0]
    if n <= x.shape[1] or n <= y.shape[1]:
        raise ValueError(f"CCA needs more rows than columns per block, got n={n}, p={x.shape[1]}, q={y.shape[1]}")
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    qx, rx = np.linalg.qr(x - x_mean)
    qy, ry = np.linalg.qr(y - y_mean)
    for name, r in (("x", rx), ("y", ry)):
        diagonal = np.abs(np.diag(r))
        if diagonal.min() <= rank_tol * max(diagonal.max(), np.finfo(float).tiny):
            raise ValueError(f"CCA block {name} is rank deficient (collinear or constant columns)")
    u, s, vt = np.linalg.svd(qx.T @ qy, full_matrices=False)
    k = min(x.shape[1], y.shape[1])
    x_weights = solve_triangular(rx, u[:, :k])
    y_weights = solve_triangular(ry, vt.T[:, :k])
    return CanonicalFit(x_mean, y_mean, x_weights, y_weights, np.clip(s[:k], 0.0, 1.0))


def cca_analysis(
    embeddings: np.ndarray, labels: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], *,
    n_pca_components: int = 50, standardize: bool = True, threshold: float = THRESHOLD, seed: int = 0,
) -> CCAResult:
    """Held-out (main) and in-sample canonical correlations between embeddings and labels.

    Parameters
    ----------
    embeddings : ndarray of shape (n_rows, d)
        E.g. stats-pooled features, shape ``(n_segments, 2048)``.
    labels : ndarray of shape (n_rows, 19)
    folds : sequence of (train_rows, val_rows)
        Val parts must be disjoint and hold at least 3 rows each.
    n_pca_components : int, default=50
        Capped at ``min(d, n_train - 1)`` per fit.
    standardize : bool, default=True
        Standardise embedding columns (training rows) before the PCA, so mean and std halves weigh alike.
    threshold : float, default=0.3
    seed : int, default=0
        PCA ``random_state`` (randomised solvers).

    Notes
    -----
    The in-sample fit uses every row that is in some val part. Unregularised CCA overfits: with
    ``n <= n_pca + 19`` the in-sample correlations are trivially 1 (UserWarning); held-out ones are not.
    A canonical variate that is constant on a fold's val rows counts as a held-out correlation of 0.

    Raises
    ------
    ValueError
        On bad shapes, non-finite values, invalid folds, a val part under 3 rows, or ``n_pca_components < 1``.
    """
    embeddings = check_matrix("embeddings", embeddings)
    labels = check_matrix("labels", labels, embeddings.shape[0])
    if n_pca_components < 1:
        raise ValueError(f"n_pca_components={n_pca_components!r}, expected >= 1")
    folds = check_row_folds(folds, embeddings.shape[0])
    small = [index for index, (_, val) in enumerate(folds) if val.size < 3]
    if small:
        raise ValueError(f"fold {small[0]} has {folds[small[0]][1].size} val rows, expected >= 3 to correlate")
    per_fold = []
    for train, val in folds:
        reduce = _fit_reduction(embeddings[train], n_pca_components, standardize, seed)
        fit = fit_cca(reduce(embeddings[train]), labels[train])
        x_scores, y_scores = fit.transform(reduce(embeddings[val]), labels[val])
        per_fold.append([_correlation(x_scores[:, k], y_scores[:, k]) for k in range(x_scores.shape[1])])
    width = min(len(values) for values in per_fold)
    heldout = np.mean([values[:width] for values in per_fold], axis=0)
    rows = np.sort(np.concatenate([val for _, val in folds]))
    reduce = _fit_reduction(embeddings[rows], n_pca_components, standardize, seed)
    reduced = reduce(embeddings[rows])
    if rows.size <= reduced.shape[1] + labels.shape[1]:
        warnings.warn(f"in-sample CCA with {rows.size} rows <= {reduced.shape[1]} + {labels.shape[1]} columns "
                      "gives trivial correlations of 1", UserWarning, stacklevel=2)
    in_sample = fit_cca(reduced, labels[rows]).correlations
    return CCAResult(
        heldout_correlations=heldout.tolist(), heldout_per_fold=[list(values) for values in per_fold],
        in_sample_correlations=in_sample.tolist(),
        n_above_threshold_heldout=int(np.sum(heldout > threshold)),
        n_above_threshold_in_sample=int(np.sum(in_sample > threshold)),
        shared_variance_heldout=shared_variance(heldout), shared_variance_in_sample=shared_variance(in_sample),
        threshold=float(threshold), n_pca_components=int(reduced.shape[1]), n_components=int(in_sample.size),
        n_folds=len(folds), n_rows=int(rows.size), seed=seed, standardize=standardize,
        protocol="held-out: PCA and CCA fitted on each fold's train rows, pairs correlated on its val rows, "
                 "mean over folds per component; in-sample: fitted and evaluated on all val-covered rows",
        shared_variance_definition=SHARED_VARIANCE,
    )



def shared_variance(correlations: np.ndarray) -> float:
    """Mean over components of ``max(r, 0)**2``."""
    return float(np.mean(np.clip(np.asarray(correlations, dtype=np.float64), 0.0, None) ** 2))


def _fit_reduction(train: np.ndarray, n_components: int, standardize: bool, seed: int):
    """Standardise (optionally) and PCA, fitted on ``train`` only; returns the transform.

    At most ``n_components`` components, and no more than the numerical rank of the standardised training rows:
    components whose singular value is below ``RANK_TOL`` times the largest (constant or collinear columns, e.g. the
    pooled MIDI features of a pedal never used) carry no variance and would make the CCA block rank deficient. (The
    tolerance sits above the round-off of scikit-learn's covariance eigensolver, about 2e-8 relative.)
    """
    scaler = StandardScaler(with_std=standardize).fit(train)
    n_components = min(n_components, train.shape[1], train.shape[0] - 1)
    pca = PCA(n_components=n_components, random_state=seed).fit(scaler.transform(train))
    rank = max(int(np.sum(pca.singular_values_ > RANK_TOL * pca.singular_values_[0])), 1)
    return lambda values: pca.transform(scaler.transform(values))[:, :rank]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
