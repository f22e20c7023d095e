"""Tests for analyses/competition_validation.py: Spearman's rho against placement with BH correction."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from statsmodels.stats.multitest import multipletests

from analyses.competition_validation import competition_validation, mean_by_recording
from datamodules.dimensions import DIMENSIONS


def _planted(seed: int = 0, n: int = 33):
    """Dimension 18 falls with placement (better placement -> higher value); the rest is noise."""
    rng = np.random.default_rng(seed)
    placement = np.concatenate([np.arange(1, 7), np.full(n - 6, 7)])
    quality = rng.uniform(0.3, 0.7, size=(n, 19))
    quality[:, 18] = 0.9 - 0.1 * placement + rng.normal(0, 0.01, n)
    return quality, placement


def _reference(quality, placement):
    """scipy's spearmanr per column and statsmodels' fdr_bh over them."""
    pairs = [spearmanr(quality[:, column], placement) for column in range(quality.shape[1])]
    adjusted = multipletests([pair.pvalue for pair in pairs], method="fdr_bh")[1]
    return pairs, adjusted, spearmanr(quality.mean(axis=1), placement)


class TestCompetitionValidation:
    @pytest.mark.parametrize("seed", [0, 1])
    def test_matches_scipy_and_statsmodels(self, seed):
        quality, placement = _planted(seed)
        result = competition_validation(quality, placement, dedup={"n_duplicates_dropped": 33})
        pairs, adjusted, overall = _reference(quality, placement)
        for column, name in enumerate(DIMENSIONS):
            entry = result.per_dimension[name]
            assert entry.rho == pytest.approx(pairs[column].statistic)
            assert entry.pval == pytest.approx(pairs[column].pvalue)
            assert entry.pval_bh == pytest.approx(adjusted[column])
            assert entry.n == 33
        assert result.overall_rho == pytest.approx(overall.statistic)
        assert result.overall_pval == pytest.approx(overall.pvalue)
        assert result.dedup == {"n_duplicates_dropped": 33} and result.n_recordings == 33

    def test_planted_monotone_relation_is_negative_rho(self):
        quality, placement = _planted()
        entry = competition_validation(quality, placement).per_dimension["interpretation"]
        # Ties (27 non-laureates share placement 7) cap |rho|: any untied order consistent with placement gives
        # the same rho, so the planted relation must reach exactly that bound.
        bound = spearmanr(-placement - np.linspace(0, 1e-3, placement.size), placement).statistic
        assert entry.rho == pytest.approx(bound) and entry.rho < -0.6 and entry.pval_bh < 1e-3
        assert "negative rho = better placement" in competition_validation(quality, placement).sign_convention

    def test_rescaling_and_reordering_invariance(self):
        quality, placement = _planted()
        order = np.random.default_rng(3).permutation(placement.size)
        base = competition_validation(quality, placement).to_dict()
        moved = competition_validation(quality[order] * 7 + 1, placement[order]).to_dict()
        assert moved["per_dimension"]["timing"]["rho"] == pytest.approx(base["per_dimension"]["timing"]["rho"])

    def test_constant_column_is_undefined_and_left_out_of_bh(self):
        quality, placement = _planted()
        quality[:, 0] = 0.5
        with pytest.warns(UserWarning, match="timing: constant input"):
            result = competition_validation(quality, placement)
        assert result.per_dimension["timing"].rho is None and result.per_dimension["timing"].pval_bh is None
        pvals = [spearmanr(quality[:, column], placement).pvalue for column in range(1, 19)]
        expected = multipletests(pvals, method="fdr_bh")[1]
        assert result.per_dimension["interpretation"].pval_bh == pytest.approx(expected[-1])
        assert json.dumps(result.to_dict(), allow_nan=False)

    @pytest.mark.parametrize(
        ("quality", "placement", "match"),
        [
            (np.zeros((5, 19)), np.arange(1, 5), r"placement has shape \(4,\), expected \(5,\)"),
            (np.zeros((2, 19)), np.array([1, 2]), r"2 recordings, expected at least 3"),
            (np.zeros((3, 19)), np.array([0, 1, 2]), r"placement must hold positive integers"),
            (np.zeros((3, 19)), np.array([1.0, 2.0, 3.0]), r"placement must hold positive integers"),
            (np.zeros((3, 4)), np.array([1, 2, 3]), r"4 dimension_names|4 quality columns"),
            (np.full((3, 19), np.nan), np.array([1, 2, 3]), r"quality holds NaN or inf"),
        ],
    )
    def test_bad_inputs(self, quality, placement, match):
        with pytest.raises(ValueError, match=match):
            competition_validation(quality, placement)


class TestMeanByRecording:
    def test_means_and_counts(self):
        ids, means, counts = mean_by_recording(["b", "a", "b"], np.array([[1.0, 2.0], [5.0, 5.0], [3.0, 4.0]]))
        assert ids == ("b", "a") and counts.tolist() == [2, 1]
        np.testing.assert_allclose(means, [[2.0, 3.0], [5.0, 5.0]])
