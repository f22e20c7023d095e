"""The notebook's label audit (correlations, PCA) and embedding sections (in-sample residuals, CCA)."""

from __future__ import annotations

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler


def label_audit(labels: np.ndarray) -> dict:
    """Correlation matrix ``(19, 19)`` and PCA explained-variance ratios ``(19,)`` of the labels (all rows)."""
    return {"correlation": np.corrcoef(labels.T), "pca_explained": PCA().fit(labels).explained_variance_ratio_}


def residuals_and_cca(stats: np.ndarray, labels: np.ndarray, n_pca: int = 50, n_canonical: int = 10) -> dict:
    """In-sample Ridge residual correlations ``(19, 19)`` and canonical correlations of PCA-``n_pca`` features.

    As the notebook: both fitted and evaluated on all rows (the suite keeps these as its labelled leaky variants).
    """
    features = StandardScaler().fit_transform(stats)  # (n, 2D)
    residuals = labels - Ridge(alpha=1.0).fit(features, labels).predict(features)  # (n, 19)
    reduced = PCA(n_components=min(n_pca, *features.shape)).fit_transform(features)  # (n, n_pca)
    n_components = min(n_canonical, reduced.shape[1], labels.shape[1])
    x_scores, y_scores = CCA(n_components=n_components, max_iter=1000).fit(reduced, labels).transform(reduced, labels)
    canonical = [np.corrcoef(x_scores[:, k], y_scores[:, k])[0, 1] for k in range(n_components)]
    return {"residual_correlation": np.corrcoef(residuals.T), "canonical_correlations": np.asarray(canonical)}
