"""What the embeddings leave unexplained: residuals of a multi-output ridge from pooled features to labels.

One ridge solve covers all 19 targets (``sklearn.linear_model.Ridge`` with a 2-d target), features standardised
on the training rows. The main result is out-of-fold; the in-sample variant (fit and evaluate on the same rows)
is reported beside it, labelled, to show how much in-sample residuals flatter the probe.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from analyses.row_folds import check_matrix, check_row_folds
from datamodules.dimensions import DIMENSIONS

NOISE_FLOOR = (
    "parallel analysis through the pipeline: 95th percentile, per rank, of the residual correlation eigenvalues "
    "of independent standard-normal pseudo-labels (same shape) residualised by the same ridge, features, folds "
    "and alpha"
)


@dataclass(frozen=True, slots=True)
class ResidualSummary:
    """Residual statistics under one protocol.

    Attributes
    ----------
    protocol : str
        ``"out_of_fold"`` or ``"in_sample"``.
    residuals : ndarray of shape (n_rows, n_dims)
        Labels minus predictions (not written by ``to_dict``).
    unexplained_fraction : dict of str to float
        Mean squared residual / label variance per dimension (= 1 - R2 with the population variance).
    mean_unexplained_fraction : float
    eigenvalues : list of float
        Eigenvalues of the residual correlation matrix, descending (None when a residual column is constant).
    null_eigenvalues_95 : list of float or None
        The noise floor per rank (see ``NOISE_FLOOR``); None when ``n_resamples=0``.
    explained_variance_ratio : list of float or None
        ``eigenvalues / n_dims``.
    n_components_above_noise : int or None
        Leading eigenvalues exceeding their floor, counted until the first that does not.
    """

    protocol: str
    residuals: np.ndarray
    unexplained_fraction: dict[str, float]
    mean_unexplained_fraction: float
    eigenvalues: list[float] | None
    null_eigenvalues_95: list[float] | None
    explained_variance_ratio: list[float] | None
    n_components_above_noise: int | None

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__ if name != "residuals"}


@dataclass(frozen=True, slots=True)
class ResidualAnalysisResult:
    """Out-of-fold (main) and in-sample residual analyses.

    Attributes
    ----------
    out_of_fold, in_sample : ResidualSummary
    alpha : float
    n_rows : int
        Rows evaluated (those in some fold's val part).
    n_excluded : int
        Rows in no val part (no out-of-fold prediction), left out of both summaries.
    n_folds, n_resamples, seed : int
    noise_floor : str
    """

    out_of_fold: ResidualSummary
    in_sample: ResidualSummary
    alpha: float
    n_rows: int
    n_excluded: int
    n_folds: int
    n_resamples: int
    seed: int
    noise_floor: str

    def to_dict(self) -> dict:
        payload = {name: getattr(self, name) for name in self.__slots__}
        payload["out_of_fold"] = self.out_of_fold.to_dict()
        payload["in_sample"] = self.in_sample.to_dict()
        return payload


def fit_predict_ridge(features: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                      alpha: float) -> np.ndarray:
    """Predictions for ``test`` rows of one ridge (all target columns at once) fitted on standardised ``train`` rows.

    Returns
    -------
    ndarray of shape (len(test), labels.shape[1])
    """
    scaler = StandardScaler().fit(features[train])
    model = Ridge(alpha=alpha).fit(scaler.transform(features[train]), labels[train])
    return model.predict(scaler.transform(features[test]))


def residual_analysis(
    features: np.ndarray, labels: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], *,
    alpha: float = 1.0, n_resamples: int = 200, seed: int = 0, dimension_names: Sequence[str] = DIMENSIONS,
) -> ResidualAnalysisResult:
    """Residuals of a multi-output ridge, out-of-fold and in-sample, with their PCA against a noise floor.

    Parameters
    ----------
    features : ndarray of shape (n_rows, n_features)
        E.g. stats-pooled embeddings, shape ``(n_segments, 2048)``.
    labels : ndarray of shape (n_rows, n_dims)
        Labels on [0, 1].
    folds : sequence of (train_rows, val_rows)
        Row indices; val parts must be disjoint.
    alpha : float, default=1.0
    n_resamples : int, default=200
        Pseudo-label draws for the noise floor (0: eigenvalues without a floor).
    seed : int, default=0
    dimension_names : sequence of str, default=DIMENSIONS

    Notes
    -----
    Out-of-fold residuals come from the fold whose val part holds the row; the in-sample fit uses all evaluated
    rows (rows in some val part). The unexplained fraction is ``mean(residual**2) / var(label)`` over the
    evaluated rows. The noise floor is a parallel analysis (Horn 1965, doi:10.1007/BF02289447) run through the
    same protocol: fitting couples the residual columns (out-of-fold residuals of pure noise have inflated
    cross-correlations), so a floor from independently permuted residuals would be too low. All pseudo-label
    draws share one multi-output solve per fold (ridge is linear in the targets).

    Raises
    ------
    ValueError
        On bad shapes, non-finite values, ``alpha <= 0``, ``n_resamples < 0``, invalid folds, or a constant label
        column.
    """
    features = check_matrix("features", features)
    labels = check_matrix("labels", labels, features.shape[0])
    if len(dimension_names) != labels.shape[1]:
        raise ValueError(f"{len(dimension_names)} dimension_names for {labels.shape[1]} label columns")
    if not alpha > 0:
        raise ValueError(f"alpha={alpha!r}, expected a positive number")
    if n_resamples < 0:
        raise ValueError(f"n_resamples={n_resamples!r}, expected >= 0 (0 skips the noise floor)")
    folds = check_row_folds(folds, features.shape[0])
    rows = np.sort(np.concatenate([val for _, val in folds]))
    variance = labels[rows].var(axis=0)
    if np.any(variance == 0):
        raise ValueError(f"label column {dimension_names[int(np.argmin(variance))]!r} is constant on the val rows")
    rng = np.random.default_rng(seed)
    summaries = {}
    for protocol in ("out_of_fold", "in_sample"):
        residuals = protocol_residuals(protocol, features, labels, folds, rows, alpha)
        noise = rng.standard_normal((features.shape[0], labels.shape[1] * n_resamples))
        null = protocol_residuals(protocol, features, noise, folds, rows, alpha) if n_resamples else noise[rows]
        null_blocks = null.reshape(rows.size, n_resamples, labels.shape[1]).transpose(1, 0, 2)
        summaries[protocol] = _summarise(protocol, residuals, variance, dimension_names, null_blocks)
    return ResidualAnalysisResult(
        out_of_fold=summaries["out_of_fold"], in_sample=summaries["in_sample"], alpha=float(alpha),
        n_rows=int(rows.size), n_excluded=int(features.shape[0] - rows.size), n_folds=len(folds),
        n_resamples=n_resamples, seed=seed, noise_floor=NOISE_FLOOR,
    )


def protocol_residuals(protocol: str, features: np.ndarray, targets: np.ndarray, folds: list, rows: np.ndarray,
                       alpha: float) -> np.ndarray:
    """Residuals ``targets[rows] - prediction`` under ``"out_of_fold"`` or ``"in_sample"``, shape (len(rows), m)."""
    if protocol == "in_sample":
        return targets[rows] - fit_predict_ridge(features, targets, rows, rows, alpha)
    predicted = np.empty((features.shape[0], targets.shape[1]))
    for train, val in folds:
        predicted[val] = fit_predict_ridge(features, targets, train, val, alpha)
    return targets[rows] - predicted[rows]


def residual_spectrum(residuals: np.ndarray, null_residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Correlation eigenvalues of ``residuals`` (descending), their noise floor, and the count above it.

    Parameters
    ----------
    residuals : ndarray of shape (n_rows, n_dims)
    null_residuals : ndarray of shape (n_resamples, n_rows, n_dims)
        Residuals of pseudo-labels without shared structure.

    Returns
    -------
    eigenvalues : ndarray of shape (n_dims,)
    floor : ndarray of shape (n_dims,)
        95th percentile per rank of the null eigenvalues.
    n_above : int
        Leading eigenvalues above their floor, counted until the first that is not.
    """
    eigenvalues = _correlation_eigenvalues(residuals)
    floor = np.percentile([_correlation_eigenvalues(block) for block in null_residuals], 95, axis=0)
    above = eigenvalues > floor
    n_above = int(above.size if above.all() else np.argmin(above))
    return eigenvalues, floor, n_above


def _correlation_eigenvalues(values: np.ndarray) -> np.ndarray:
    return np.linalg.eigvalsh(np.corrcoef(values, rowvar=False))[::-1]


def _summarise(protocol, residuals, variance, dimension_names, null_blocks) -> ResidualSummary:
    fraction = np.mean(residuals**2, axis=0) / variance
    spectrum: tuple = (None, None, None, None)
    if np.any(residuals.std(axis=0) == 0):
        warnings.warn(f"{protocol}: a residual column is constant; residual PCA skipped", UserWarning, stacklevel=2)
    elif len(null_blocks):
        eigenvalues, floor, n_above = residual_spectrum(residuals, null_blocks)
        spectrum = (eigenvalues.tolist(), floor.tolist(), (eigenvalues / eigenvalues.size).tolist(), n_above)
    else:
        eigenvalues = _correlation_eigenvalues(residuals)
        spectrum = (eigenvalues.tolist(), None, (eigenvalues / eigenvalues.size).tolist(), None)
    return ResidualSummary(
        protocol, residuals, dict(zip(dimension_names, fraction.tolist(), strict=True)), float(fraction.mean()),
        *spectrum,
    )
