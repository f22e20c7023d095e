"""Principal components of the labels: eigenvalues, explained variance and loadings.

Works on the correlation matrix of the labels (rater means / 7 on [0, 1], standardised per dimension), so the label
scale plays no role. How many components to keep is :mod:`analyses.factor_retention`'s question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LOADING_THRESHOLD = 0.3


@dataclass(frozen=True, slots=True)
class PCAResult:
    """Principal components of the standardised labels.

    Attributes
    ----------
    names : tuple of str, length n_dimensions
    eigenvalues : ndarray of shape (n_dimensions,)
        Eigenvalues of the correlation matrix, descending (they sum to ``n_dimensions``).
    explained_variance_ratio : ndarray of shape (n_dimensions,)
    cumulative_explained_variance : ndarray of shape (n_dimensions,)
    n_components_90, n_components_95 : int
        Fewest leading components explaining at least 90% / 95% of the variance.
    loadings : ndarray of shape (n_dimensions, n_dimensions)
        ``loadings[j, c]`` = eigenvector ``c`` entry ``j`` times ``sqrt(eigenvalue c)``: the correlation of
        dimension ``j`` with component ``c``. Sign fixed so each component's largest-magnitude entry is positive
        (scikit-learn's ``svd_flip`` with ``u_based_decision=False``, as ``PCA.components_``).
    n_retained : int
        Components described in ``salient_dimensions``.
    salient_dimensions : tuple of tuple of (str, float)
        Per retained component, ``(name, loading)`` with ``|loading| > loading_threshold``, largest first.
    loading_threshold : float
    n_segments : int
    """

    names: tuple[str, ...]
    eigenvalues: np.ndarray
    explained_variance_ratio: np.ndarray
    cumulative_explained_variance: np.ndarray
    n_components_90: int
    n_components_95: int
    loadings: np.ndarray
    n_retained: int
    salient_dimensions: tuple[tuple[tuple[str, float], ...], ...]
    loading_threshold: float
    n_segments: int

    def to_dict(self) -> dict:
        """JSON form (plain lists and floats; nothing rounded)."""
        return {
            "names": list(self.names),
            "eigenvalues": self.eigenvalues.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio.tolist(),
            "cumulative_explained_variance": self.cumulative_explained_variance.tolist(),
            "n_components_90": self.n_components_90,
            "n_components_95": self.n_components_95,
            "loadings": self.loadings.tolist(),
            "n_retained": self.n_retained,
            "salient_dimensions": [[{"name": n, "loading": float(v)} for n, v in c] for c in self.salient_dimensions],
            "loading_threshold": self.loading_threshold,
            "n_segments": self.n_segments,
        }


def check_label_matrix(labels: np.ndarray) -> np.ndarray:
    """Return ``labels`` as float64 after checking it is a finite ``(n >= 3, p >= 2)`` matrix, no column constant.

    Raises
    ------
    ValueError
        Naming ``labels`` and the offending shape, values or columns.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] < 3 or labels.shape[1] < 2:
        raise ValueError(f"labels has shape {labels.shape}; expected (n_segments >= 3, n_dimensions >= 2)")
    if not np.all(np.isfinite(labels)):
        raise ValueError("labels holds NaN or inf; expected finite values")
    constant = np.flatnonzero(np.ptp(labels, axis=0) == 0)
    if constant.size:
        raise ValueError(f"labels columns {constant.tolist()} are constant; correlation is undefined")
    return labels


def pca_analysis(
    labels: np.ndarray,
    names: Sequence[str],
    n_retained: int | None = None,
    loading_threshold: float = LOADING_THRESHOLD,
) -> PCAResult:
    """Eigen-decompose the correlation matrix of the labels.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
        Labels on [0, 1] (rater mean / 7).
    names : sequence of str, length n_dimensions
    n_retained : int, optional
        Components to describe in ``salient_dimensions`` (e.g. a parallel-analysis count); default
        ``n_components_90``.
    loading_threshold : float, default=0.3
        ``|loading|`` above which a dimension is listed for a component.

    Returns
    -------
    PCAResult

    Raises
    ------
    ValueError
        Bad ``labels`` (see :func:`check_label_matrix`), ``names`` not one per column, or ``n_retained``
        outside ``[1, n_dimensions]``.

    Notes
    -----
    PCA of standardised data is the eigen-decomposition of the Pearson correlation matrix ``R = V diag(l) V^T``;
    loadings are ``V diag(sqrt(l))``.
    """
    labels = check_label_matrix(labels)
    n_dimensions = labels.shape[1]
    if len(names) != n_dimensions:
        raise ValueError(f"names has {len(names)} entries; expected one per labels column ({n_dimensions})")
    if n_retained is not None and not 1 <= n_retained <= n_dimensions:
        raise ValueError(f"n_retained={n_retained!r}; expected an integer in [1, {n_dimensions}]")
    eigenvalues, vectors = sorted_eigh(np.corrcoef(labels, rowvar=False))
    vectors = _flip_signs(vectors)
    loadings = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    ratio = eigenvalues / eigenvalues.sum()
    cumulative = np.cumsum(ratio)
    n_90, n_95 = (int(min(np.searchsorted(cumulative, q - 1e-12) + 1, n_dimensions)) for q in (0.90, 0.95))
    n_retained = n_90 if n_retained is None else int(n_retained)
    names = tuple(names)
    salient = []
    for c in range(n_retained):
        ranked = np.argsort(-np.abs(loadings[:, c]), kind="stable")
        kept = [j for j in ranked if abs(loadings[j, c]) > loading_threshold]
        salient.append(tuple((names[j], float(loadings[j, c])) for j in kept))
    return PCAResult(
        names, eigenvalues, ratio, cumulative, n_90, n_95, loadings, n_retained, tuple(salient),
        float(loading_threshold), int(labels.shape[0]),
    )


def sorted_eigh(correlation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(p,)`` in decreasing order and their eigenvectors ``(p, p)`` (columns) of a symmetric matrix."""
    eigenvalues, vectors = np.linalg.eigh(correlation)
    return eigenvalues[::-1], vectors[:, ::-1]


def _flip_signs(vectors: np.ndarray) -> np.ndarray:
    largest = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[largest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs
