"""The excerpt-bootstrap engine behind :mod:`analyses.uncertainty`: group draws and sum-based resampled scores.

Private to :mod:`analyses.uncertainty`. A resample is a vector of counts (how often each group was drawn);
scores come from per-group sums weighted by the counts, which equals recomputing them on the concatenated
rows of the drawn groups (tested against ``sklearn.metrics.r2_score`` on :func:`group_bootstrap_indices`).
"""

from __future__ import annotations

import warnings

import numpy as np

from analyses._scoring import as_generator, check_ids, check_pair, pearson_from_sums, r2_from_sums, resolve_dimensions

METRICS = ("r2", "pearson")


class GroupResampler:
    """Validated inputs, group sums of the targets and the resampling counts shared by both bootstraps.

    Raises
    ------
    ValueError
        On bad shapes, NaN/inf, fewer than 2 groups, unknown ``metric``, ``n_resamples < 1`` or
        ``confidence_level`` outside (0, 1).
    """

    def __init__(self, y_true, groups, metric, n_resamples, confidence_level, seed, dimensions, *predictions):
        checked = [check_pair(y_true, prediction) for prediction in predictions]
        y_true, self.predictions = checked[0][0], [prediction for _, prediction in checked]
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
        if not 0 < confidence_level < 1:
            raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
        self.codes = check_ids("groups", groups, y_true.shape[0])
        self.n_groups = int(self.codes.max()) + 1
        if self.n_groups < 2:
            raise ValueError(f"groups has {self.n_groups} distinct group, expected at least 2 to resample")
        self.metric, self.confidence_level = metric, float(confidence_level)
        self.n_resamples = check_n_resamples(n_resamples)
        self.rng = as_generator(seed)
        self.seed = None if isinstance(seed, np.random.Generator) else int(seed)
        self.dimensions = resolve_dimensions(dimensions, y_true.shape[1])
        self.n_rows, self.y_true = int(y_true.shape[0]), y_true
        self.y_centred = y_true - y_true.mean(axis=0)  # (n_rows, n_dimensions), shift-invariant sums
        self.group_size = np.bincount(self.codes, minlength=self.n_groups).astype(np.float64)
        self.sum_y, self.sum_yy = self._sums(self.y_centred), self._sums(self.y_centred**2)
        self.scale_y = np.ptp(y_true, axis=0)

    def counts(self) -> np.ndarray:
        """How often each group is drawn in each resample, ``(n_resamples, n_groups)``."""
        draws = draw_groups(self.codes, self.n_resamples, self.rng)
        offsets = np.arange(self.n_resamples)[:, None] * self.n_groups
        flat = np.bincount((draws + offsets).ravel(), minlength=self.n_resamples * self.n_groups)
        return flat.reshape(self.n_resamples, self.n_groups).astype(np.float64)

    def score(self, y_pred: np.ndarray, counts: np.ndarray | None) -> np.ndarray:
        """Score per resample ``(n_resamples, n_dimensions)``, or on the original rows when counts is None."""
        weights = np.ones((1, self.n_groups)) if counts is None else counts
        n_rows = weights @ self.group_size  # (n_resamples,)
        sum_y, sum_yy = weights @ self.sum_y, weights @ self.sum_yy
        syy = sum_yy - sum_y**2 / n_rows[:, None]
        if self.metric == "r2":
            sse = weights @ self._sums((self.y_true - y_pred) ** 2)
            scores = r2_from_sums(sse, syy, n_rows[:, None], self.scale_y)
        else:
            p_centred = y_pred - y_pred.mean(axis=0)
            sum_p, sum_pp = weights @ self._sums(p_centred), weights @ self._sums(p_centred**2)
            sxy = weights @ self._sums(p_centred * self.y_centred) - sum_p * sum_y / n_rows[:, None]
            sxx = sum_pp - sum_p**2 / n_rows[:, None]
            scores = pearson_from_sums(sxy, sxx, syy, n_rows[:, None], np.ptp(y_pred, axis=0), self.scale_y)
        return scores[0] if counts is None else scores

    def protocol(self, what: str) -> str:
        return (
            f"{what} {self.metric} over {self.n_rows} rows; {self.n_resamples} bootstrap resamples of "
            f"{self.n_groups} whole groups (excerpts) with replacement, predictions fixed; "
            f"{self.confidence_level:g} percentile interval; seed {self.seed}"
        )

    def _sums(self, values: np.ndarray) -> np.ndarray:
        sums = np.zeros((self.n_groups, values.shape[1]))
        np.add.at(sums, self.codes, values)
        return sums  # (n_groups, n_dimensions)


def draw_groups(codes: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Group codes drawn with replacement, ``(n_resamples, n_groups)``."""
    n_groups = int(codes.max()) + 1
    return rng.integers(0, n_groups, size=(n_resamples, n_groups))


def check_n_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}")
    return int(n_resamples)


def percentile_interval(distribution: np.ndarray, confidence_level: float):
    alpha = 1.0 - confidence_level
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        low, high = np.nanquantile(distribution, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high, np.isnan(distribution).sum(axis=0)


def nan_sd(distribution: np.ndarray) -> np.ndarray:
    defined = np.sum(~np.isnan(distribution), axis=0)
    sd = np.full(distribution.shape[1], np.nan)
    ok = defined > 1
    sd[ok] = np.nanstd(distribution[:, ok], axis=0, ddof=1)
    return sd
