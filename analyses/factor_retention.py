"""How many independent things do the labels measure? Horn's parallel analysis and Velicer's MAP test.

Both work on the correlation matrix of the labels, as :func:`analyses.pca.pca_analysis` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses.pca import check_label_matrix, sorted_eigh

N_SIMULATIONS = 1000
PERCENTILE = 95.0
_BATCH = 50
_METHODS = ("parallel", "factor_parallel", "map", "map4")


@dataclass(frozen=True, slots=True)
class ParallelAnalysisResult:
    """Horn's parallel analysis: observed eigenvalues against those of random normal data of the same shape.

    Attributes
    ----------
    method : {"pca", "factor"}
        ``"pca"``: eigenvalues of the correlation matrix. ``"factor"``: eigenvalues of the reduced correlation
        matrix (squared multiple correlations on the diagonal).
    observed : ndarray of shape (n_dimensions,)
        Observed eigenvalues, descending.
    simulated_mean : ndarray of shape (n_dimensions,)
        Mean simulated eigenvalue per rank.
    threshold : ndarray of shape (n_dimensions,)
        ``percentile``-th percentile of the simulated eigenvalues per rank.
    n_retained : int
        Leading components whose observed eigenvalue exceeds ``threshold`` (counting stops at the first that
        does not).
    n_simulations : int
    percentile : float
    n_segments : int
    seed : int or None
        The integer seed, or None when a Generator was passed.
    """

    method: str
    observed: np.ndarray
    simulated_mean: np.ndarray
    threshold: np.ndarray
    n_retained: int
    n_simulations: int
    percentile: float
    n_segments: int
    seed: int | None

    def to_dict(self) -> dict:
        """JSON form (plain lists and floats; nothing rounded)."""
        return {
            "method": self.method,
            "observed": self.observed.tolist(),
            "simulated_mean": self.simulated_mean.tolist(),
            "threshold": self.threshold.tolist(),
            "n_retained": self.n_retained,
            "n_simulations": self.n_simulations,
            "percentile": self.percentile,
            "n_segments": self.n_segments,
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class MAPResult:
    """Velicer's minimum average partial test.

    Attributes
    ----------
    average_squared_partial : ndarray of shape (n_dimensions,)
        Entry ``m``: mean squared off-diagonal partial correlation after removing the first ``m`` principal
        components (``m = 0`` is the raw correlation matrix). Velicer (1976).
    average_fourth_partial : ndarray of shape (n_dimensions,)
        The same with fourth powers (Velicer, Eaton & Fava 2000 revision).
    n_factors_squared, n_factors_fourth : int
        ``argmin`` of each curve: the number of components to retain.
    n_segments : int
    """

    average_squared_partial: np.ndarray
    average_fourth_partial: np.ndarray
    n_factors_squared: int
    n_factors_fourth: int
    n_segments: int

    def to_dict(self) -> dict:
        """JSON form (plain lists and floats; nothing rounded)."""
        return {
            "average_squared_partial": self.average_squared_partial.tolist(),
            "average_fourth_partial": self.average_fourth_partial.tolist(),
            "n_factors_squared": self.n_factors_squared,
            "n_factors_fourth": self.n_factors_fourth,
            "n_segments": self.n_segments,
        }


def parallel_analysis(
    labels: np.ndarray,
    seed: int | np.random.Generator,
    n_simulations: int = N_SIMULATIONS,
    percentile: float = PERCENTILE,
    method: str = "pca",
) -> ParallelAnalysisResult:
    """Horn's parallel analysis against standard-normal data sets of the same shape.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
        Labels on [0, 1] (rater mean / 7).
    seed : int or numpy.random.Generator
        Source of the simulated data.
    n_simulations : int, default=1000
        Number of simulated data sets.
    percentile : float, default=95.0
        Percentile of the simulated eigenvalues each observed one must exceed.
    method : {"pca", "factor"}, default="pca"
        ``"pca"`` (Horn 1965): eigenvalues of the correlation matrix. ``"factor"``: eigenvalues of the reduced
        correlation matrix, diagonal replaced by squared multiple correlations ``1 - 1 / diag(R^-1)``, for the
        observed and every simulated set (``psych::fa.parallel(fa="fa", SMC=TRUE)``; psych's default
        ``SMC=FALSE`` uses one-factor minres communalities instead).

    Returns
    -------
    ParallelAnalysisResult

    Raises
    ------
    ValueError
        Bad ``labels``, ``n_simulations < 1``, ``percentile`` outside (0, 100), or an unknown ``method``.

    References
    ----------
    Horn, J. L. (1965). A rationale and test for the number of factors in factor analysis. Psychometrika 30,
    179-185. doi:10.1007/BF02289447
    """
    labels = check_label_matrix(labels)
    if method not in ("pca", "factor"):
        raise ValueError(f"method={method!r}; expected 'pca' or 'factor'")
    if int(n_simulations) != n_simulations or n_simulations < 1:
        raise ValueError(f"n_simulations={n_simulations!r}; expected a positive integer")
    if not 0.0 < percentile < 100.0:
        raise ValueError(f"percentile={percentile!r}; expected a value in (0, 100)")
    n_segments, n_dimensions = labels.shape
    rng = np.random.default_rng(seed)
    observed = _eigenvalues(np.corrcoef(labels, rowvar=False)[None], method)[0]
    simulated = np.empty((int(n_simulations), n_dimensions))
    for start in range(0, int(n_simulations), _BATCH):
        size = min(_BATCH, int(n_simulations) - start)
        data = rng.standard_normal((size, n_segments, n_dimensions))
        simulated[start : start + size] = _eigenvalues(_batched_correlation(data), method)
    threshold = np.percentile(simulated, percentile, axis=0)
    exceeds = observed > threshold
    n_retained = int(np.argmin(exceeds)) if not exceeds.all() else n_dimensions
    return ParallelAnalysisResult(
        method, observed, simulated.mean(axis=0), threshold, n_retained, int(n_simulations), float(percentile),
        int(n_segments), int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else None,
    )


def map_test(labels: np.ndarray) -> MAPResult:
    """Velicer's minimum average partial (MAP) test, original and 2000 revision.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)

    Returns
    -------
    MAPResult

    Raises
    ------
    ValueError
        Bad ``labels`` (see :func:`check_label_matrix`).

    Notes
    -----
    For ``m = 1 .. p-1``, with ``A_m`` the first ``m`` PCA loading columns, ``C = R - A_m A_m^T`` and
    ``P = D^{-1/2} C D^{-1/2}`` (``D = diag(C)``) the partial correlations; the statistic is the mean of
    ``P_ij^2`` (or ``P_ij^4``) over ``i != j``. ``m = 0`` uses ``R``. The count is the ``m`` minimising it
    (O'Connor 2000's implementation). The squared version is Velicer's (1976) original; the fourth-power
    revision (Velicer, Eaton & Fava 2000) penalises a few large partials more and tends to retain fewer or equal
    components.

    References
    ----------
    Velicer, W. F. (1976). Determining the number of components from the matrix of partial correlations.
    Psychometrika 41, 321-327. doi:10.1007/BF02293557
    """
    labels = check_label_matrix(labels)
    correlation = np.corrcoef(labels, rowvar=False)
    n_dimensions = correlation.shape[0]
    eigenvalues, vectors = sorted_eigh(correlation)
    loadings = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    off_diagonal = ~np.eye(n_dimensions, dtype=bool)
    squared, fourth = np.empty(n_dimensions), np.empty(n_dimensions)
    for m in range(n_dimensions):
        residual = correlation - loadings[:, :m] @ loadings[:, :m].T
        scale = 1.0 / np.sqrt(np.diag(residual))
        partial = residual * np.outer(scale, scale)
        squared[m] = np.mean(partial[off_diagonal] ** 2)
        fourth[m] = np.mean(partial[off_diagonal] ** 4)
    return MAPResult(squared, fourth, int(np.argmin(squared)), int(np.argmin(fourth)), int(labels.shape[0]))


def retained_factor_count(
    labels: np.ndarray,
    seed: int | np.random.Generator,
    method: str = "parallel",
    n_simulations: int = 100,
    percentile: float = PERCENTILE,
) -> int:
    """Number of factors to retain by one rule; a cheap entry point for bootstraps.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
    seed : int or numpy.random.Generator
        Used by the parallel-analysis rules only.
    method : {"parallel", "factor_parallel", "map", "map4"}, default="parallel"
        PCA parallel analysis, factor parallel analysis, MAP with squared or fourth-power partials.
    n_simulations, percentile
        Passed to :func:`parallel_analysis`.

    Raises
    ------
    ValueError
        Unknown ``method``, or from the underlying function.
    """
    if method not in _METHODS:
        raise ValueError(f"method={method!r}; expected one of {list(_METHODS)}")
    if method in ("map", "map4"):
        result = map_test(labels)
        return result.n_factors_squared if method == "map" else result.n_factors_fourth
    kind = "pca" if method == "parallel" else "factor"
    return parallel_analysis(labels, seed, n_simulations, percentile, kind).n_retained


def squared_multiple_correlations(correlation: np.ndarray) -> np.ndarray:
    """SMC of each variable with all others, ``1 - 1 / diag(R^-1)``; shape ``(..., p)`` for ``(..., p, p)``.

    Raises
    ------
    ValueError
        If ``correlation`` is singular.
    """
    try:
        inverse = np.linalg.inv(correlation)
    except np.linalg.LinAlgError:
        raise ValueError("correlation matrix is singular; squared multiple correlations are undefined") from None
    return 1.0 - 1.0 / np.diagonal(inverse, axis1=-2, axis2=-1)


def _eigenvalues(correlation: np.ndarray, method: str) -> np.ndarray:
    if method == "factor":
        correlation = correlation.copy()
        diagonal = np.arange(correlation.shape[-1])
        correlation[..., diagonal, diagonal] = squared_multiple_correlations(correlation)
    return np.linalg.eigvalsh(correlation)[..., ::-1]


def _batched_correlation(data: np.ndarray) -> np.ndarray:
    centred = data - data.mean(axis=1, keepdims=True)  # (batch, n, p)
    covariance = np.einsum("bni,bnj->bij", centred, centred)  # (batch, p, p)
    scale = 1.0 / np.sqrt(np.diagonal(covariance, axis1=1, axis2=2))  # (batch, p)
    return covariance * scale[:, :, None] * scale[:, None, :]
