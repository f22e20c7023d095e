"""Benjamini-Hochberg false discovery rate control over the per-dimension tests of one analysis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests

from analyses._scoring import json_floats


@dataclass(frozen=True, slots=True)
class BenjaminiHochbergResult:
    """Benjamini-Hochberg adjusted p-values and rejections.

    Attributes
    ----------
    pvalue : ndarray of shape (n_tests,)
        The raw p-values, as given (NaN kept).
    pvalue_corrected : ndarray of shape (n_tests,)
        BH-adjusted p-values (NaN where the raw p-value is NaN).
    reject : ndarray of shape (n_tests,), bool
        ``pvalue_corrected < alpha`` (False where NaN).
    alpha : float
        The false discovery rate controlled.
    n_tests : int
        Non-NaN p-values entering the correction.
    n_excluded : int
        NaN p-values left out of the correction.
    method : str
        ``"fdr_bh"`` (statsmodels' name).
    """

    pvalue: np.ndarray
    pvalue_corrected: np.ndarray
    reject: np.ndarray
    alpha: float
    n_tests: int
    n_excluded: int
    method: str

    def to_dict(self) -> dict:
        """JSON form: lists, NaN as None, nothing rounded."""
        return {
            "pvalue": json_floats(self.pvalue),
            "pvalue_corrected": json_floats(self.pvalue_corrected),
            "reject": self.reject.tolist(),
            "alpha": self.alpha,
            "n_tests": self.n_tests,
            "n_excluded": self.n_excluded,
            "method": self.method,
        }


def benjamini_hochberg(pvalues: np.ndarray, alpha: float = 0.05) -> BenjaminiHochbergResult:
    """Adjust p-values for the false discovery rate (Benjamini & Hochberg 1995).

    Parameters
    ----------
    pvalues : ndarray of shape (n_tests,)
        Raw p-values in [0, 1]; NaN entries (undefined tests) are excluded and stay NaN.
    alpha : float, default=0.05
        False discovery rate, in (0, 1).

    Returns
    -------
    BenjaminiHochbergResult

    Raises
    ------
    ValueError
        If ``pvalues`` is not 1-d, holds values outside [0, 1], or ``alpha`` is not in (0, 1).

    Notes
    -----
    Delegates to ``statsmodels.stats.multitest.multipletests(method="fdr_bh")``: sorted p-values
    :math:`p_{(i)}` become :math:`\\min_{j \\ge i} \\min(1, m p_{(j)} / j)` for :math:`m` tests; a test is
    rejected when its adjusted p-value is below ``alpha``.

    References
    ----------
    Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. J. R. Stat. Soc. B 57(1),
    289-300. doi:10.1111/j.2517-6161.1995.tb02031.x

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).pvalue_corrected.round(6).tolist()
    [0.03, 0.04, 0.04]
    """
    pvalues = np.asarray(pvalues, dtype=np.float64)
    if pvalues.ndim != 1:
        raise ValueError(f"pvalues has shape {pvalues.shape}, expected (n_tests,)")
    defined = ~np.isnan(pvalues)
    if np.any((pvalues[defined] < 0) | (pvalues[defined] > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], got {pvalues[defined].min()}..{pvalues[defined].max()}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    corrected = np.full(pvalues.shape, np.nan)
    if defined.any():
        corrected[defined] = multipletests(pvalues[defined], alpha=alpha, method="fdr_bh")[1]
    return BenjaminiHochbergResult(
        pvalue=pvalues.copy(),
        pvalue_corrected=corrected,
        reject=np.where(defined, corrected < alpha, False),
        alpha=float(alpha),
        n_tests=int(defined.sum()),
        n_excluded=int((~defined).sum()),
        method="fdr_bh",
    )
