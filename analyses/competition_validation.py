"""Do predicted PercePiano qualities track competition placement? Spearman's rho per dimension and overall.

Sign convention: rho is computed between a predicted value and the placement, where placement 1 is the
winner (larger is worse). A NEGATIVE rho therefore means better-placed performers receive HIGHER predicted
values. Several PercePiano dimensions are bipolar descriptions rather than quality scales (e.g. tempo
fast-slow), so only ``interpretation`` and the overall mean read as "quality".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr
from statsmodels.stats.multitest import multipletests

from analyses.row_folds import check_matrix
from datamodules.dimensions import DIMENSIONS

SIGN_CONVENTION = (
    "rho = Spearman(predicted value, placement) with placement 1 = winner; "
    "negative rho = better placement goes with higher predicted value"
)


@dataclass(frozen=True, slots=True)
class CorrelationEntry:
    """One Spearman correlation; ``pval_bh`` is the Benjamini-Hochberg adjusted p-value over the 19 dims."""

    rho: float | None
    pval: float | None
    pval_bh: float | None
    n: int

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class CompetitionValidationResult:
    """Spearman correlations of predicted quality with placement.

    Attributes
    ----------
    overall_rho, overall_pval : float or None
        For the mean over dimensions per recording (None when undefined, e.g. constant input).
    per_dimension : dict of str to CorrelationEntry
    n_recordings : int
    sign_convention : str
    fdr_method : str
        ``"fdr_bh"`` over the per-dimension p-values that are defined (overall is not in the family).
    dedup : dict
        The recordings file's deduplication report, passed through.
    n_segments_per_recording : dict of str to int
        Filled when the predictions were aggregated from segments.
    """

    overall_rho: float | None
    overall_pval: float | None
    per_dimension: dict[str, CorrelationEntry]
    n_recordings: int
    sign_convention: str
    fdr_method: str
    dedup: dict = field(default_factory=dict)
    n_segments_per_recording: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        payload = {name: getattr(self, name) for name in self.__slots__}
        payload["per_dimension"] = {name: entry.to_dict() for name, entry in self.per_dimension.items()}
        return payload


def mean_by_recording(
    recording_ids: Sequence[str], predictions: np.ndarray,
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Average segment predictions per recording.

    Parameters
    ----------
    recording_ids : sequence of str, length n_segments
    predictions : ndarray of shape (n_segments, n_dims)

    Returns
    -------
    ids : tuple of str
        Recordings in order of first appearance.
    means : ndarray of shape (n_recordings, n_dims)
    n_segments : ndarray of shape (n_recordings,), int64
    """
    predictions = check_matrix("predictions", predictions, len(recording_ids))
    ids = tuple(dict.fromkeys(recording_ids))
    position = {key: row for row, key in enumerate(ids)}
    rows = np.array([position[key] for key in recording_ids], dtype=np.int64)
    counts = np.bincount(rows, minlength=len(ids))
    sums = np.zeros((len(ids), predictions.shape[1]))
    np.add.at(sums, rows, predictions)
    return ids, sums / counts[:, None], counts


def competition_validation(
    quality: np.ndarray, placement: np.ndarray, *, dimension_names: Sequence[str] = DIMENSIONS,
    dedup: dict | None = None, n_segments_per_recording: dict | None = None,
) -> CompetitionValidationResult:
    """Spearman's rho between predicted values and placement, per dimension and for their mean.

    Parameters
    ----------
    quality : ndarray of shape (n_recordings, n_dims)
        Predicted values per recording (e.g. :func:`mean_by_recording` of segment predictions), labels scale.
    placement : ndarray of shape (n_recordings,)
        Positive integers, 1 = winner. Ties (e.g. every non-laureate sharing one value) get average ranks.
    dimension_names : sequence of str, default=DIMENSIONS
    dedup : dict, optional
        ``RecordingTable.dedup_report()``, carried into the result.
    n_segments_per_recording : dict, optional

    Notes
    -----
    Overall quality is the unweighted mean over dimensions per recording. P-values are scipy's two-sided
    t-approximation. BH correction (statsmodels ``multipletests(method="fdr_bh")``) runs over the defined
    per-dimension p-values; a constant column gives rho = pval = None with a UserWarning.

    Raises
    ------
    ValueError
        On shape mismatches, non-finite input, fewer than 3 recordings, or a placement that is not a positive
        integer.
    """
    quality = check_matrix("quality", quality)
    placement = np.asarray(placement)
    if placement.shape != (quality.shape[0],):
        raise ValueError(f"placement has shape {placement.shape}, expected ({quality.shape[0]},)")
    if len(dimension_names) != quality.shape[1]:
        raise ValueError(f"{len(dimension_names)} dimension_names for {quality.shape[1]} quality columns")
    if quality.shape[0] < 3:
        raise ValueError(f"{quality.shape[0]} recordings, expected at least 3 for a rank correlation")
    if not np.issubdtype(placement.dtype, np.integer) or placement.min() < 1:
        raise ValueError(f"placement must hold positive integers (1 = winner), got {placement[:5]!r}...")
    overall_rho, overall_pval = _spearman(quality.mean(axis=1), placement, "overall")
    pairs = [_spearman(quality[:, column], placement, name) for column, name in enumerate(dimension_names)]
    defined = [index for index, (rho, _) in enumerate(pairs) if rho is not None]
    adjusted: dict[int, float] = {}
    if defined:
        corrected = multipletests([pairs[index][1] for index in defined], method="fdr_bh")[1]
        adjusted = dict(zip(defined, corrected.tolist(), strict=True))
    per_dimension = {
        name: CorrelationEntry(rho, pval, adjusted.get(index), int(quality.shape[0]))
        for index, (name, (rho, pval)) in enumerate(zip(dimension_names, pairs, strict=True))
    }
    return CompetitionValidationResult(
        overall_rho=overall_rho, overall_pval=overall_pval, per_dimension=per_dimension,
        n_recordings=int(quality.shape[0]), sign_convention=SIGN_CONVENTION, fdr_method="fdr_bh",
        dedup=dict(dedup or {}), n_segments_per_recording=dict(n_segments_per_recording or {}),
    )


def _spearman(values: np.ndarray, placement: np.ndarray, name: str) -> tuple[float | None, float | None]:
    if np.ptp(values) == 0 or np.ptp(placement) == 0:
        warnings.warn(f"{name}: constant input, Spearman's rho undefined", UserWarning, stacklevel=2)
        return None, None
    result = spearmanr(values, placement)
    return float(result.statistic), float(result.pvalue)
