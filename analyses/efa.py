"""Exploratory factor analysis of the labels: minres or iterated principal-axis extraction, oblique rotation.

Communalities of an oblique solution are ``diag(P Phi P^T)`` (what rotation preserves), not the row sums of
squared pattern loadings, which ignore the factor correlations.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from statsmodels.multivariate.factor_rotation import rotate_factors

from analyses.factor_retention import squared_multiple_correlations
from analyses.pca import check_label_matrix

EXTRACTIONS = ("minres", "pa")
ROTATIONS = ("oblimin", "promax")
_LOWER_UNIQUENESS = 0.005  # psych's lower bound for minres uniquenesses


@dataclass(frozen=True, slots=True)
class EFAResult:
    """An obliquely rotated common-factor solution.

    Attributes
    ----------
    names : tuple of str, length n_dimensions
    n_factors : int
    extraction : {"minres", "pa"}
    rotation : {"oblimin", "promax"}
    unrotated_loadings : ndarray of shape (n_dimensions, n_factors)
        Extracted (orthogonal) loadings ``L`` with ``R ~ L L^T + diag(uniquenesses)``.
    pattern : ndarray of shape (n_dimensions, n_factors)
        Pattern loadings ``P``: regression weights of each dimension on the correlated factors.
    factor_correlation : ndarray of shape (n_factors, n_factors)
        ``Phi``, unit diagonal.
    structure : ndarray of shape (n_dimensions, n_factors)
        ``P @ Phi``: correlations of dimensions with factors.
    communalities : ndarray of shape (n_dimensions,)
        ``diag(P Phi P^T)`` (= row sums of ``unrotated_loadings**2``).
    uniquenesses : ndarray of shape (n_dimensions,)
        ``1 - communalities``.
    variance_explained : ndarray of shape (n_factors,)
        ``diag(Phi P^T P)``, the sum of squared loadings accounting for factor overlap (psych's convention).
    reproduced_correlation : ndarray of shape (n_dimensions, n_dimensions)
        ``P Phi P^T + diag(uniquenesses)``.
    rmsr : float
        Root mean square of the off-diagonal residuals ``R - reproduced_correlation``.
    extraction_converged : bool
        Whether extraction met its tolerance.
    rotation_converged : bool
        Whether the GPA rotation met ``rotation_tol`` (always True for promax, which is closed form).
    n_iterations : int
        Extraction iterations.
    n_segments : int or None
        Rows behind the correlation matrix (None when only the matrix was given).

    Notes
    -----
    Factors are ordered by ``variance_explained`` (descending); each factor's sign makes its largest-magnitude
    pattern loading positive (scikit-learn's ``svd_flip`` rule), with ``Phi`` permuted and signed to match.
    """

    names: tuple[str, ...]
    n_factors: int
    extraction: str
    rotation: str
    unrotated_loadings: np.ndarray
    pattern: np.ndarray
    factor_correlation: np.ndarray
    structure: np.ndarray
    communalities: np.ndarray
    uniquenesses: np.ndarray
    variance_explained: np.ndarray
    reproduced_correlation: np.ndarray
    rmsr: float
    extraction_converged: bool
    rotation_converged: bool
    n_iterations: int
    n_segments: int | None

    def to_dict(self) -> dict:
        """JSON form (plain lists and floats; nothing rounded)."""
        payload = {name: getattr(self, name) for name in self.__slots__}
        payload = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in payload.items()}
        payload["names"] = list(self.names)
        return payload


def efa(
    labels: np.ndarray,
    names: Sequence[str],
    n_factors: int,
    extraction: str = "minres",
    rotation: str = "oblimin",
    tol: float = 1e-8,
    max_iter: int = 5000,
    rotation_tol: float = 1e-6,
) -> EFAResult:
    """Factor-analyse the Pearson correlation matrix of the labels.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
        Labels on [0, 1] (rater mean / 7).
    names : sequence of str, length n_dimensions
    n_factors : int
        Factors to extract, ``1 <= n_factors < n_dimensions``.
    extraction : {"minres", "pa"}, default="minres"
        ``"minres"``: minimise the squared off-diagonal residuals over the uniquenesses (L-BFGS-B, analytic
        gradient, bounds [0.005, 1], as ``psych::fa(fm="minres")``). ``"pa"``: principal axes, communalities
        iterated from the squared multiple correlations to a fixed point (which is a minres stationary point).
    rotation : {"oblimin", "promax"}, default="oblimin"
        ``"oblimin"``: direct quartimin (gamma = 0) by the gradient projection algorithm (statsmodels
        ``rotate_factors``), started at the identity, no Kaiser normalisation (GPArotation's default).
        ``"promax"``: Kaiser-normalised varimax, target ``|V|^4 / V``, oblique least-squares fit (R's
        ``promax(m=4)``).
    tol : float, default=1e-8
        Convergence tolerance of extraction (projected gradient / largest communality change).
    max_iter : int, default=5000
        Iteration cap of extraction and of the GPA rotation.
    rotation_tol : float, default=1e-6
        GPA stops when the Frobenius norm of the projected gradient falls below this (GPArotation uses 1e-5;
        below about 1e-7 the line search stalls in double precision and GPA runs to ``max_iter``).

    Returns
    -------
    EFAResult

    Raises
    ------
    ValueError
        Bad ``labels``, ``names``, ``n_factors``, ``extraction`` or ``rotation``.

    Warns
    -----
    UserWarning
        If extraction does not converge, or a Heywood case occurs (a communality reaches 1 - 0.005).

    References
    ----------
    Bernaards, C. A., & Jennrich, R. I. (2005). Gradient projection algorithms and software for arbitrary
    rotation criteria in factor analysis. Educ. Psychol. Meas. 65, 676-696. doi:10.1177/0013164404272507
    """
    labels = check_label_matrix(labels)
    correlation = np.corrcoef(labels, rowvar=False)
    return efa_from_correlation(
        correlation, names, n_factors, extraction, rotation, tol, max_iter, rotation_tol, labels.shape[0]
    )


def efa_from_correlation(
    correlation: np.ndarray,
    names: Sequence[str],
    n_factors: int,
    extraction: str = "minres",
    rotation: str = "oblimin",
    tol: float = 1e-8,
    max_iter: int = 5000,
    rotation_tol: float = 1e-6,
    n_segments: int | None = None,
) -> EFAResult:
    """:func:`efa` on a given correlation matrix of shape ``(n_dimensions, n_dimensions)``.

    Raises
    ------
    ValueError
        If ``correlation`` is not a symmetric matrix with unit diagonal, or as :func:`efa`.
    """
    correlation = np.asarray(correlation, dtype=np.float64)
    n_dimensions = correlation.shape[0] if correlation.ndim == 2 else 0
    if correlation.shape != (n_dimensions, n_dimensions) or n_dimensions < 2:
        raise ValueError(f"correlation has shape {correlation.shape}; expected a square matrix, at least 2 x 2")
    if not np.allclose(correlation, correlation.T) or not np.allclose(np.diag(correlation), 1.0):
        raise ValueError("correlation is not symmetric with unit diagonal")
    if len(names) != n_dimensions:
        raise ValueError(f"names has {len(names)} entries; expected {n_dimensions}")
    if int(n_factors) != n_factors or not 1 <= n_factors < n_dimensions:
        raise ValueError(f"n_factors={n_factors!r}; expected an integer in [1, {n_dimensions - 1}]")
    if extraction not in EXTRACTIONS:
        raise ValueError(f"extraction={extraction!r}; expected one of {list(EXTRACTIONS)}")
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation={rotation!r}; expected one of {list(ROTATIONS)}")
    n_factors = int(n_factors)
    extract = _minres if extraction == "minres" else _principal_axis
    loadings, converged, n_iterations = extract(correlation, n_factors, tol, max_iter)
    loadings = _flip_signs(loadings)
    communalities = np.sum(loadings**2, axis=1)
    if not converged:
        warnings.warn(f"{extraction} extraction did not converge in {max_iter} iterations", UserWarning, stacklevel=2)
    if np.any(communalities >= 1.0 - _LOWER_UNIQUENESS):
        warnings.warn("Heywood case: a communality reached 1; the solution is improper", UserWarning, stacklevel=2)
    pattern, phi, rotation_converged = rotate_oblique(loadings, rotation, rotation_tol, max_iter)
    if not rotation_converged:
        warnings.warn(f"{rotation} rotation did not reach rotation_tol={rotation_tol} in {max_iter} steps",
                      UserWarning, stacklevel=2)
    uniquenesses = 1.0 - communalities
    reproduced = pattern @ phi @ pattern.T + np.diag(uniquenesses)
    off_diagonal = ~np.eye(n_dimensions, dtype=bool)
    return EFAResult(
        names=tuple(names), n_factors=n_factors, extraction=extraction, rotation=rotation,
        unrotated_loadings=loadings, pattern=pattern, factor_correlation=phi, structure=pattern @ phi,
        communalities=np.diag(pattern @ phi @ pattern.T).copy(), uniquenesses=uniquenesses,
        variance_explained=np.diag(phi @ pattern.T @ pattern).copy(), reproduced_correlation=reproduced,
        rmsr=float(np.sqrt(np.mean((correlation - reproduced)[off_diagonal] ** 2))),
        extraction_converged=bool(converged), rotation_converged=rotation_converged, n_iterations=int(n_iterations),
        n_segments=None if n_segments is None else int(n_segments),
    )


def rotate_oblique(
    loadings: np.ndarray, rotation: str = "oblimin", tol: float = 1e-6, max_iter: int = 5000
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Rotate orthogonal loadings ``(n_dimensions, n_factors)`` to an oblique pattern ``P`` and ``Phi``.

    ``P Phi P^T`` equals ``loadings @ loadings.T``. Factors come ordered by ``diag(Phi P^T P)`` and signed so
    each column's largest-magnitude loading is positive. One factor is returned unrotated.

    Returns
    -------
    pattern : ndarray of shape (n_dimensions, n_factors)
    phi : ndarray of shape (n_factors, n_factors)
    converged : bool
        For oblimin, whether the norm of the GPA projected gradient at the solution is below ``tol``.

    Raises
    ------
    ValueError
        Unknown ``rotation``.
    """
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation={rotation!r}; expected one of {list(ROTATIONS)}")
    loadings = np.asarray(loadings, dtype=np.float64)
    if loadings.shape[1] == 1:
        return _flip_signs(loadings), np.ones((1, 1)), True
    converged = True
    if rotation == "oblimin":
        pattern, rotation_matrix = rotate_factors(loadings, "oblimin", 0.0, "oblique", tol=tol, max_tries=max_iter)
        phi = rotation_matrix.T @ rotation_matrix  # L = A (T^T)^-1, so A A^T = L T^T T L^T
        converged = _quartimin_gradient_norm(pattern, rotation_matrix) < tol
    else:
        pattern, phi = _promax(loadings, power=4)
    order = np.argsort(-np.diag(phi @ pattern.T @ pattern), kind="stable")
    pattern, phi = pattern[:, order], phi[np.ix_(order, order)]
    signs = np.sign(pattern[np.argmax(np.abs(pattern), axis=0), np.arange(pattern.shape[1])])
    signs[signs == 0] = 1.0
    return pattern * signs, phi * np.outer(signs, signs), bool(converged)


def _quartimin_gradient_norm(pattern: np.ndarray, rotation_matrix: np.ndarray) -> float:
    # Bernaards & Jennrich (2005) oblique GPA: gradient of sum_i sum_{a != b} L_ia^2 L_ib^2 / 4, projected
    squared = pattern**2
    criterion_gradient = pattern * (squared @ (1.0 - np.eye(pattern.shape[1])))
    gradient = -(pattern.T @ criterion_gradient @ np.linalg.inv(rotation_matrix)).T
    projected = gradient - rotation_matrix @ np.diag(np.sum(rotation_matrix * gradient, axis=0))
    return float(np.linalg.norm(projected, "fro"))


def _promax(loadings: np.ndarray, power: int) -> tuple[np.ndarray, np.ndarray]:
    # statsmodels' promax returns A (U^-1)^T, the structure matrix rather than the pattern: follow R's stats::promax
    norms = np.sqrt(np.sum(loadings**2, axis=1, keepdims=True))
    _, varimax_rotation = rotate_factors(loadings / norms, "varimax")
    varimax = loadings @ varimax_rotation
    target = varimax * np.abs(varimax) ** (power - 1)
    transform = np.linalg.lstsq(loadings, target, rcond=None)[0]
    transform = transform * np.sqrt(np.diag(np.linalg.inv(transform.T @ transform)))
    return loadings @ transform, np.linalg.inv(transform.T @ transform)


def _loadings_given_uniquenesses(correlation: np.ndarray, uniquenesses: np.ndarray, n_factors: int):
    reduced = correlation - np.diag(uniquenesses)
    eigenvalues, vectors = np.linalg.eigh(reduced)
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    loadings = vectors[:, :n_factors] * np.sqrt(np.clip(eigenvalues[:n_factors], 0.0, None))
    return reduced - loadings @ loadings.T, loadings


def _minres(correlation: np.ndarray, n_factors: int, tol: float, max_iter: int):
    def objective(uniquenesses: np.ndarray) -> tuple[float, np.ndarray]:
        residual, _ = _loadings_given_uniquenesses(correlation, uniquenesses, n_factors)
        return 0.5 * float(np.sum(residual**2)), -np.diag(residual).copy()

    start = np.clip(1.0 - squared_multiple_correlations(correlation), _LOWER_UNIQUENESS, 1.0)
    bounds = [(_LOWER_UNIQUENESS, 1.0)] * correlation.shape[0]
    options = {"maxiter": max_iter, "gtol": tol, "ftol": tol**2}
    fit = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    _, loadings = _loadings_given_uniquenesses(correlation, fit.x, n_factors)
    return loadings, bool(fit.success), int(fit.nit)


def _principal_axis(correlation: np.ndarray, n_factors: int, tol: float, max_iter: int):
    communalities = squared_multiple_correlations(correlation)
    for iteration in range(1, max_iter + 1):
        _, loadings = _loadings_given_uniquenesses(correlation, 1.0 - communalities, n_factors)
        updated = np.sum(loadings**2, axis=1)
        if np.max(np.abs(updated - communalities)) < tol:
            return loadings, True, iteration
        communalities = updated
    return loadings, False, max_iter


def _flip_signs(loadings: np.ndarray) -> np.ndarray:
    signs = np.sign(loadings[np.argmax(np.abs(loadings), axis=0), np.arange(loadings.shape[1])])
    signs[signs == 0] = 1.0
    return loadings * signs
