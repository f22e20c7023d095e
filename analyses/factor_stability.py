"""Cluster bootstrap of the number of retained factors (PCA parallel analysis and Velicer's MAP).

Segments are not independent: performances of one excerpt share their music, and one performer plays many
segments. Resampling whole groups with replacement keeps that dependence inside each bootstrap sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyses.factor_retention import PERCENTILE, map_test, parallel_analysis
from analyses.pca import check_label_matrix

N_RESAMPLES = 200
N_SIMULATIONS = 50


@dataclass(frozen=True, slots=True)
class FactorStabilityResult:
    """Bootstrap distribution of retained-factor counts.

    Attributes
    ----------
    parallel_counts : ndarray of shape (n_resamples,), int64
        PCA parallel-analysis count per resample.
    map_counts : ndarray of shape (n_resamples,), int64
        MAP count (squared partials, Velicer 1976) per resample.
    map4_counts : ndarray of shape (n_resamples,), int64
        MAP count with fourth-power partials (Velicer et al. 2000) per resample.
    parallel_mode, map_mode, map4_mode : int
        Most frequent count (the smallest on ties).
    parallel_mode_share, map_mode_share, map4_mode_share : float
        Share of resamples giving the modal count.
    n_resamples : int
    n_groups : int
        Distinct groups resampled (excerpts or performers).
    group_kind : str
        What the groups are, for the report (e.g. ``"excerpt"``).
    n_simulations : int
        Simulated data sets per parallel analysis inside the bootstrap.
    percentile : float
    n_segments : int
    seed : int or None
        Integer seed, or None when a Generator was passed.
    """

    parallel_counts: np.ndarray
    map_counts: np.ndarray
    map4_counts: np.ndarray
    parallel_mode: int
    parallel_mode_share: float
    map_mode: int
    map_mode_share: float
    map4_mode: int
    map4_mode_share: float
    n_resamples: int
    n_groups: int
    group_kind: str
    n_simulations: int
    percentile: float
    n_segments: int
    seed: int | None

    def to_dict(self) -> dict:
        """JSON form, with each count distribution also as ``{count: n_resamples}``."""
        payload = {name: getattr(self, name) for name in self.__slots__}
        for name in ("parallel", "map", "map4"):
            counts = payload.pop(f"{name}_counts")
            payload[f"{name}_counts"] = counts.tolist()
            values, frequencies = np.unique(counts, return_counts=True)
            payload[f"{name}_distribution"] = {str(int(v)): int(f) for v, f in zip(values, frequencies, strict=True)}
        return payload


def factor_count_bootstrap(
    labels: np.ndarray,
    groups: Sequence,
    seed: int | np.random.Generator,
    n_resamples: int = N_RESAMPLES,
    n_simulations: int = N_SIMULATIONS,
    percentile: float = PERCENTILE,
    group_kind: str = "group",
) -> FactorStabilityResult:
    """Resample whole groups with replacement and recount the factors each time.

    Parameters
    ----------
    labels : ndarray of shape (n_segments, n_dimensions)
        Labels on [0, 1] (rater mean / 7).
    groups : sequence of hashable, length n_segments
        Group of each segment (e.g. :func:`datamodules.keys.excerpt_groups` of the keys).
    seed : int or numpy.random.Generator
        Drives both the group draws and the parallel-analysis simulations.
    n_resamples : int, default=200
    n_simulations : int, default=50
        Simulated data sets per parallel analysis (fewer than the full analysis's 1000: only the count is kept).
    percentile : float, default=95.0
    group_kind : str, default="group"
        Recorded in the result.

    Returns
    -------
    FactorStabilityResult

    Raises
    ------
    ValueError
        Bad ``labels``, ``groups`` not one per row or with fewer than 2 distinct groups, ``n_resamples < 1``.

    Notes
    -----
    Each resample draws ``n_groups`` groups uniformly with replacement and stacks all their segments, so its size
    varies. A resample that leaves a dimension constant (possible only with very few groups) is redrawn.
    """
    labels = check_label_matrix(labels)
    groups = np.asarray(groups)
    if groups.shape != (labels.shape[0],):
        raise ValueError(f"groups has shape {groups.shape}; expected ({labels.shape[0]},), one per labels row")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples!r}; expected a positive integer")
    _, membership = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(membership == g) for g in range(membership.max() + 1)]
    if len(rows_of) < 2:
        raise ValueError(f"groups has {len(rows_of)} distinct value; expected at least 2")
    rng = np.random.default_rng(seed)
    counts = np.empty((3, int(n_resamples)), dtype=np.int64)
    for b in range(int(n_resamples)):
        sample = _draw(labels, rows_of, rng)
        counts[0, b] = parallel_analysis(sample, rng, n_simulations, percentile, "pca").n_retained
        mapped = map_test(sample)
        counts[1:, b] = mapped.n_factors_squared, mapped.n_factors_fourth
    modes = [_mode(row) for row in counts]
    return FactorStabilityResult(
        counts[0], counts[1], counts[2], *modes[0], *modes[1], *modes[2], int(n_resamples), len(rows_of),
        str(group_kind), int(n_simulations), float(percentile), int(labels.shape[0]),
        int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else None,
    )


def _draw(labels: np.ndarray, rows_of: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    for _ in range(100):
        chosen = rng.integers(0, len(rows_of), size=len(rows_of))
        sample = labels[np.concatenate([rows_of[g] for g in chosen])]
        if sample.shape[0] >= 3 and np.all(np.ptp(sample, axis=0) > 0):
            return sample
    raise ValueError("groups: 100 consecutive resamples left a labels column constant; too few groups")


def _mode(counts: np.ndarray) -> tuple[int, float]:
    values, frequencies = np.unique(counts, return_counts=True)
    best = int(np.argmax(frequencies))
    return int(values[best]), float(frequencies[best] / counts.size)
