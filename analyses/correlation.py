"""Inter-dimension correlation audit: Pearson matrix, cluster order, strongest pairs, VIF, redundant groups.

Answers "which PercePiano dimensions measure the same thing?" from the labels alone (rater means / 7, on
[0, 1]); no embeddings are involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform
from statsmodels.stats.outliers_influence import variance_inflation_factor

STRONG_THRESHOLD = 0.7
MODERATE_THRESHOLD = 0.5
VIF_THRESHOLD = 10.0
N_TOP_PAIRS = 15


@dataclass(frozen=True, slots=True)
class CorrelationResult:
    """Correlation structure of the label matrix.

    Attributes
    ----------
    names : tuple of str, length n_dimensions
        Dimension names, in input order (PercePiano order for the real labels).
    correlation : ndarray of shape (n_dimensions, n_dimensions)
        Pearson correlation matrix.
    cluster_order : ndarray of shape (n_dimensions,), int64
        Leaf order of average-linkage clustering on the distance ``1 - r``.
    top_pairs : tuple of (str, str, float)
        The ``n_top`` pairs with the largest ``|r|`` as ``(name_a, name_b, r)``, ``name_a`` earlier in input
        order; ties broken by input order.
    n_pairs : int
        ``n_dimensions * (n_dimensions - 1) / 2`` (171 for 19 dimensions).
    n_strong_pairs : int
        Pairs with ``|r| > strong_threshold``.
    n_moderate_pairs : int
        Pairs with ``moderate_threshold < |r| <= strong_threshold``.
    vif : ndarray of shape (n_dimensions,)
        Variance inflation factor of each dimension regressed on all others (standardised labels).
    n_high_vif : int
        Dimensions with ``vif > vif_threshold``.
    redundant_groups : tuple of tuple of str
        Groups of two or more dimensions in which *every* pair has ``|r| > strong_threshold`` (complete
        linkage on ``1 - |r|`` cut at ``1 - strong_threshold``), largest first.
    redundancy_components : tuple of tuple of str
        Connected components (size >= 2) of the graph whose edges are pairs with ``|r| > strong_threshold``;
        unlike ``redundant_groups`` a component may be a chain whose ends correlate weakly.
    n_segments : int
    strong_threshold, moderate_threshold, vif_threshold : float
        The protocol.
    """

    names: tuple[str, ...]
    correlation: np.ndarray
    cluster_order: np.ndarray
    top_pairs: tuple[tuple[str, str, float], ...]
    n_pairs: int
    n_strong_pairs: int
    n_moderate_pairs: int
    vif: np.ndarray
    n_high_vif: int
    redundant_groups: tuple[tuple[str, ...], ...]
    redundancy_components: tuple[tuple[str, ...], ...]
    n_segments: int
    strong_threshold: float
    moderate_threshold: float
    vif_threshold: float

    def to_dict(self) -> dict:
        """JSON form (plain lists and floats; nothing rounded)."""
        return {
            "names": list(self.names),
            "correlation": self.correlation.tolist(),
            "cluster_order": self.cluster_order.tolist(),
            "cluster_order_names": [self.names[i] for i in self.cluster_order],
            "top_pairs": [{"a": a, "b": b, "r": float(r)} for a, b, r in self.top_pairs],
            "n_pairs": self.n_pairs,
            "n_strong_pairs": self.n_strong_pairs,
            "n_moderate_pairs": self.n_moderate_pairs,
            "vif": dict(zip(self.names, self.vif.tolist(), strict=True)),
            "n_high_vif": self.n_high_vif,
            "redundant_groups": [list(group) for group in self.redundant_groups],
            "redundancy_components": [list(group) for group in self.redundancy_components],
            "n_segments": self.n_segments,
            "strong_threshold": self.strong_threshold,
            "moderate_threshold": self.moderate_threshold,
            "vif_threshold": self.vif_threshold,
        }


def correlation_analysis(
    labels: np.ndarray,
    names: Sequence[str],
    strong_threshold: float = STRONG_THRESHOLD,
    moderate_threshold: float = MODERATE_THRESHOLD,
    vif_threshold: float = VIF_THRESHOLD,
    n_top: int = N_TOP_PAIRS,
) -> CorrelationResult:
    """Correlate every pair of label dimensions and find redundant ones.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
        Labels on [0, 1] (rater mean / 7); ``n_dimensions`` is 19 for PercePiano.
    names : sequence of str, length n_dimensions
        Dimension names, e.g. :data:`datamodules.dimensions.DIMENSIONS`.
    strong_threshold : float, default=0.7
        ``|r|`` above which a pair counts as strong (redundant).
    moderate_threshold : float, default=0.5
        ``|r|`` above which (up to ``strong_threshold``) a pair counts as moderate.
    vif_threshold : float, default=10.0
        VIF above which a dimension counts as collinear.
    n_top : int, default=15
        Number of pairs to report in ``top_pairs``.

    Returns
    -------
    CorrelationResult

    Raises
    ------
    ValueError
        If ``labels`` is not 2-D and finite with at least 3 rows and 2 columns, a column is constant, ``names``
        does not have one name per column, the thresholds are not ``0 <= moderate < strong < 1``, or
        ``n_top < 1``.

    Notes
    -----
    VIF_j = 1 / (1 - R_j^2), with R_j^2 from the OLS regression of standardised dimension j on the others
    (``statsmodels`` ``variance_inflation_factor``; no intercept is needed after centring). It equals the j-th
    diagonal element of the inverse correlation matrix. The cluster order uses the signed distance ``1 - r``
    (strong negative correlations end far apart); the redundancy rules use ``|r|``. At exact ties
    ``|r| == strong_threshold`` the complete-linkage cut (``<=`` in distance) admits the pair.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 1))
    >>> labels = np.hstack([x, x + 0.1 * rng.normal(size=(50, 1)), rng.normal(size=(50, 1))])
    >>> correlation_analysis(labels, ["a", "b", "c"]).redundant_groups
    (('a', 'b'),)
    """
    labels = _check_labels(labels, names)
    if not 0.0 <= moderate_threshold < strong_threshold < 1.0:
        raise ValueError(
            f"thresholds: moderate_threshold={moderate_threshold!r}, strong_threshold={strong_threshold!r}; "
            "expected 0 <= moderate_threshold < strong_threshold < 1"
        )
    if int(n_top) != n_top or n_top < 1:
        raise ValueError(f"n_top={n_top!r}; expected a positive integer")
    names = tuple(names)
    correlation = np.corrcoef(labels, rowvar=False)
    rows, cols = np.triu_indices(len(names), k=1)
    upper = np.abs(correlation[rows, cols])
    order = np.argsort(-upper, kind="stable")[: int(n_top)]
    vif = _vif(labels)
    return CorrelationResult(
        names=names,
        correlation=correlation,
        cluster_order=_cluster_order(correlation),
        top_pairs=tuple((names[rows[i]], names[cols[i]], float(correlation[rows[i], cols[i]])) for i in order),
        n_pairs=int(rows.size),
        n_strong_pairs=int(np.sum(upper > strong_threshold)),
        n_moderate_pairs=int(np.sum((upper > moderate_threshold) & (upper <= strong_threshold))),
        vif=vif,
        n_high_vif=int(np.sum(vif > vif_threshold)),
        redundant_groups=_complete_linkage_groups(correlation, names, strong_threshold),
        redundancy_components=_components(correlation, names, strong_threshold),
        n_segments=int(labels.shape[0]),
        strong_threshold=float(strong_threshold),
        moderate_threshold=float(moderate_threshold),
        vif_threshold=float(vif_threshold),
    )


def _check_labels(labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] < 3 or labels.shape[1] < 2:
        raise ValueError(f"labels has shape {labels.shape}; expected (n_segments >= 3, n_dimensions >= 2)")
    if not np.all(np.isfinite(labels)):
        raise ValueError("labels holds NaN or inf; expected finite values")
    if len(names) != labels.shape[1]:
        raise ValueError(f"names has {len(names)} entries; expected one per labels column ({labels.shape[1]})")
    constant = np.flatnonzero(np.ptp(labels, axis=0) == 0)
    if constant.size:
        raise ValueError(f"labels column(s) {[names[i] for i in constant]} are constant; correlation is undefined")
    return labels


def _vif(labels: np.ndarray) -> np.ndarray:
    standardised = (labels - labels.mean(axis=0)) / labels.std(axis=0)
    return np.array([variance_inflation_factor(standardised, j) for j in range(labels.shape[1])])


def _cluster_order(correlation: np.ndarray) -> np.ndarray:
    distance = np.clip(1.0 - correlation, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return leaves_list(tree).astype(np.int64)


def _complete_linkage_groups(
    correlation: np.ndarray, names: tuple[str, ...], threshold: float
) -> tuple[tuple[str, ...], ...]:
    distance = np.clip(1.0 - np.abs(correlation), 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="complete")
    return _groups(fcluster(tree, t=1.0 - threshold, criterion="distance"), names)


def _components(correlation: np.ndarray, names: tuple[str, ...], threshold: float) -> tuple[tuple[str, ...], ...]:
    adjacency = np.abs(correlation) > threshold
    np.fill_diagonal(adjacency, False)
    _, membership = connected_components(adjacency, directed=False)
    return _groups(membership, names)


def _groups(membership: np.ndarray, names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    groups = [np.flatnonzero(membership == label) for label in np.unique(membership)]
    groups = sorted((g for g in groups if g.size >= 2), key=lambda g: (-g.size, g[0]))
    return tuple(tuple(names[i] for i in g) for g in groups)
