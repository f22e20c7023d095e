"""Tests of analyses/multiple_testing.py against a hand-written step-up procedure and statsmodels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from analyses.multiple_testing import benjamini_hochberg


def _reference_bh(pvalues):
    """Benjamini-Hochberg adjusted p-values by the step-up formula, written out."""
    m = pvalues.size
    order = np.argsort(pvalues)
    adjusted = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        running = min(running, pvalues[order[rank - 1]] * m / rank)
        adjusted[order[rank - 1]] = running
    return adjusted


class TestBenjaminiHochberg:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_matches_step_up_formula_and_statsmodels(self, seed):
        pvalues = np.random.default_rng(seed).uniform(0, 0.2, size=19)
        result = benjamini_hochberg(pvalues, alpha=0.05)
        np.testing.assert_allclose(result.pvalue_corrected, _reference_bh(pvalues), rtol=1e-12)
        reject, corrected, _, _ = multipletests(pvalues, alpha=0.05, method="fdr_bh")
        np.testing.assert_allclose(result.pvalue_corrected, corrected)
        np.testing.assert_array_equal(result.reject, result.pvalue_corrected < 0.05)
        assert result.n_tests == 19 and result.n_excluded == 0 and result.method == "fdr_bh"

    def test_nan_is_excluded(self):
        result = benjamini_hochberg(np.array([0.01, np.nan, 0.04, 0.03]))
        np.testing.assert_allclose(result.pvalue_corrected[[0, 2, 3]], _reference_bh(np.array([0.01, 0.04, 0.03])))
        assert np.isnan(result.pvalue_corrected[1]) and not result.reject[1]
        assert result.n_tests == 3 and result.n_excluded == 1
        assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["pvalue"][1] is None

    @pytest.mark.parametrize(
        ("pvalues", "alpha", "match"),
        [
            (np.array([[0.1]]), 0.05, r"pvalues has shape \(1, 1\), expected \(n_tests,\)"),
            (np.array([0.1, 1.5]), 0.05, r"pvalues must lie in \[0, 1\], got 0.1..1.5"),
            (np.array([0.1]), 1.0, r"alpha must be in \(0, 1\), got 1.0"),
        ],
    )
    def test_errors(self, pvalues, alpha, match):
        with pytest.raises(ValueError, match=match):
            benjamini_hochberg(pvalues, alpha=alpha)
