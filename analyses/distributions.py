"""Per-dimension label distributions: spread, skew, floor/ceiling mass and KDE differential entropy.

Labels are rater means / 7 on [0, 1]; a dimension with little spread or piled against an end of the scale
carries little information for a probe to predict.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import trapezoid
from scipy.stats import gaussian_kde, skew

FLOOR = 0.05
CEILING = 0.95
LOW_VARIANCE = 0.01
HIGH_SKEW = 1.0
EDGE_SHARE = 0.5
N_GRID = 1024
_GRID_BANDWIDTHS = 6.0


@dataclass(frozen=True, slots=True)
class DistributionResult:
    """Distribution summary of every label dimension.

    Attributes
    ----------
    names : tuple of str, length n_dimensions
    variance : ndarray of shape (n_dimensions,)
        Sample variance (``ddof=1``), in squared label units ([0, 1] scale).
    skewness : ndarray of shape (n_dimensions,)
        ``scipy.stats.skew`` with its default ``bias=True`` (the moment estimator g1).
    floor_share : ndarray of shape (n_dimensions,)
        Share of segments with label ``< floor``.
    ceiling_share : ndarray of shape (n_dimensions,)
        Share of segments with label ``> ceiling``.
    entropy : ndarray of shape (n_dimensions,)
        Differential entropy of the Gaussian KDE in nats (label scale [0, 1]); NaN for a constant dimension.
    low_variance, high_skew, floor_effect, ceiling_effect : ndarray of shape (n_dimensions,), bool
        ``variance < low_variance_threshold``; ``|skewness| > skew_threshold``; ``floor_share > edge_share``;
        ``ceiling_share > edge_share``.
    flagged : tuple of str
        Names with any flag set, input order.
    n_segments : int
    floor, ceiling, low_variance_threshold, skew_threshold, edge_share : float
        The protocol.
    """

    names: tuple[str, ...]
    variance: np.ndarray
    skewness: np.ndarray
    floor_share: np.ndarray
    ceiling_share: np.ndarray
    entropy: np.ndarray
    low_variance: np.ndarray
    high_skew: np.ndarray
    floor_effect: np.ndarray
    ceiling_effect: np.ndarray
    flagged: tuple[str, ...]
    n_segments: int
    floor: float
    ceiling: float
    low_variance_threshold: float
    skew_threshold: float
    edge_share: float

    def to_dict(self) -> dict:
        """JSON form: per-dimension dicts keyed by name, plus the protocol (NaN entropy becomes None)."""
        per_dimension = {}
        for j, name in enumerate(self.names):
            entropy = float(self.entropy[j])
            per_dimension[name] = {
                "variance": float(self.variance[j]),
                "skewness": float(self.skewness[j]),
                "floor_share": float(self.floor_share[j]),
                "ceiling_share": float(self.ceiling_share[j]),
                "entropy_nats": None if np.isnan(entropy) else entropy,
                "low_variance": bool(self.low_variance[j]),
                "high_skew": bool(self.high_skew[j]),
                "floor_effect": bool(self.floor_effect[j]),
                "ceiling_effect": bool(self.ceiling_effect[j]),
            }
        return {
            "dimensions": per_dimension,
            "flagged": list(self.flagged),
            "n_segments": self.n_segments,
            "floor": self.floor,
            "ceiling": self.ceiling,
            "low_variance_threshold": self.low_variance_threshold,
            "skew_threshold": self.skew_threshold,
            "edge_share": self.edge_share,
        }


def distribution_analysis(
    labels: np.ndarray,
    names: Sequence[str],
    floor: float = FLOOR,
    ceiling: float = CEILING,
    low_variance_threshold: float = LOW_VARIANCE,
    skew_threshold: float = HIGH_SKEW,
    edge_share: float = EDGE_SHARE,
) -> DistributionResult:
    """Summarise and flag the distribution of each label dimension.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
        Labels on [0, 1] (rater mean / 7).
    names : sequence of str, length n_dimensions
    floor, ceiling : float, default=0.05, 0.95
        Label values below / above which a segment counts as at the floor / ceiling.
    low_variance_threshold : float, default=0.01
    skew_threshold : float, default=1.0
    edge_share : float, default=0.5
        Floor or ceiling share above which a dimension is flagged.

    Returns
    -------
    DistributionResult

    Raises
    ------
    ValueError
        If ``labels`` is not a finite 2-D array with at least 2 rows, ``names`` is not one per column, or
        ``floor >= ceiling``.

    Warns
    -----
    UserWarning
        For a constant dimension (its skewness and entropy are NaN).
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] < 2 or labels.shape[1] < 1:
        raise ValueError(f"labels has shape {labels.shape}; expected (n_segments >= 2, n_dimensions >= 1)")
    if not np.all(np.isfinite(labels)):
        raise ValueError("labels holds NaN or inf; expected finite values")
    if len(names) != labels.shape[1]:
        raise ValueError(f"names has {len(names)} entries; expected one per labels column ({labels.shape[1]})")
    if not floor < ceiling:
        raise ValueError(f"floor={floor!r}, ceiling={ceiling!r}; expected floor < ceiling")
    names = tuple(names)
    constant = np.ptp(labels, axis=0) == 0
    if constant.any():
        warnings.warn(f"constant dimensions {[names[j] for j in np.flatnonzero(constant)]}: NaN skewness and entropy",
                      UserWarning, stacklevel=2)
    variance = labels.var(axis=0, ddof=1)
    skewness = np.full(labels.shape[1], np.nan)
    skewness[~constant] = skew(labels[:, ~constant], axis=0)
    floor_share, ceiling_share = np.mean(labels < floor, axis=0), np.mean(labels > ceiling, axis=0)
    entropy = np.array([np.nan if constant[j] else kde_entropy(labels[:, j]) for j in range(labels.shape[1])])
    flags = (variance < low_variance_threshold, np.abs(skewness) > skew_threshold,
             floor_share > edge_share, ceiling_share > edge_share)
    any_flag = np.logical_or.reduce(flags)
    return DistributionResult(
        names, variance, skewness, floor_share, ceiling_share, entropy, *flags,
        tuple(names[j] for j in np.flatnonzero(any_flag)), int(labels.shape[0]), float(floor), float(ceiling),
        float(low_variance_threshold), float(skew_threshold), float(edge_share),
    )


def kde_entropy(values: np.ndarray, n_grid: int = N_GRID) -> float:
    """Differential entropy (nats) of the Gaussian KDE of a 1-D sample, by numerical integration.

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        At least two distinct finite values.
    n_grid : int, default=1024
        Grid points of the trapezoid rule.

    Returns
    -------
    float
        ``-integral f(x) log f(x) dx`` over ``[min - 6h, max + 6h]`` (``h`` the KDE bandwidth in label units),
        where ``f`` is ``scipy.stats.gaussian_kde`` with Scott's bandwidth. This is the entropy of the smoothed
        density itself, not a resubstitution estimate, and with no boundary correction: for labels on [0, 1] the
        KDE spills past the ends of the scale. Smoothing inflates the variance by ``1 + n^(-2/5)``, so for a
        normal sample the value exceeds ``0.5 log(2 pi e sigma^2)`` by about ``0.5 log(1 + n^(-2/5))``.

    Raises
    ------
    ValueError
        Fewer than two distinct values, non-finite values, or ``n_grid < 16``.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)) or np.ptp(values) == 0:
        raise ValueError("values: expected at least two distinct finite values for a KDE")
    if n_grid < 16:
        raise ValueError(f"n_grid={n_grid!r}; expected at least 16")
    kde = gaussian_kde(values)
    bandwidth = float(np.sqrt(kde.covariance[0, 0]))
    grid = np.linspace(values.min() - _GRID_BANDWIDTHS * bandwidth, values.max() + _GRID_BANDWIDTHS * bandwidth,
                       int(n_grid))
    density = kde(grid)
    integrand = np.where(density > 0, -density * np.log(np.where(density > 0, density, 1.0)), 0.0)
    return float(trapezoid(integrand, grid))
