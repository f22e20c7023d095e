"""Tests for analyses/cca.py: closed-form CCA, held-out and in-sample canonical correlations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cross_decomposition import CCA
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

import analyses.cca as cca_module
from analyses.cca import cca_analysis, fit_cca, shared_variance


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small solves: one BLAS thread avoids oversubscribing the shared cores (tens of times faster there)."""
    with threadpool_limits(limits=1):
        yield


def _reference_correlations(x, y):
    """sqrt of the eigenvalues of Sxx^-1 Sxy Syy^-1 Syx (Hotelling 1936)."""
    s = np.cov(np.hstack([x, y]), rowvar=False)
    p = x.shape[1]
    sxx, syy, sxy = s[:p, :p], s[p:, p:], s[:p, p:]
    matrix = np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T)
    values = np.sort(np.linalg.eigvals(matrix).real)[::-1][: min(p, y.shape[1])]
    return np.sqrt(np.clip(values, 0, 1))


def _planted(n_rows=1000, n_features=30, rho=0.8, seed=0):
    """One canonical pair with correlation ``rho`` (feature 0 vs label 0); everything else independent."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n_rows)
    x = rng.normal(size=(n_rows, n_features))
    x[:, 0] = latent
    y = rng.normal(size=(n_rows, 19))
    y[:, 0] = rho * latent + np.sqrt(1 - rho**2) * rng.normal(size=n_rows)
    return x, 0.5 + 0.05 * y


def _folds(n_rows, n_folds=5):
    return list(KFold(n_folds, shuffle=True, random_state=0).split(np.arange(n_rows)))


class TestFitCCA:
    def test_against_sklearn_first_component(self):
        rng = np.random.default_rng(1)
        x = rng.normal(size=(200, 4))
        y = rng.normal(size=(200, 3)) + 0.7 * x[:, :3] @ rng.normal(size=(3, 3))
        fit = fit_cca(x, y)
        reference = CCA(n_components=1, scale=False, max_iter=10_000, tol=1e-12).fit(x, y)
        x_scores, y_scores = reference.transform(x, y)
        assert fit.correlations[0] == pytest.approx(np.corrcoef(x_scores[:, 0], y_scores[:, 0])[0, 1], rel=1e-6)

    def test_against_closed_form_and_variates(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(150, 5))
        y = rng.normal(size=(150, 3)) + x[:, :3]
        fit = fit_cca(x, y)
        np.testing.assert_allclose(fit.correlations, _reference_correlations(x, y), rtol=1e-8)
        u, v = fit.transform(x, y)
        correlation = np.corrcoef(u, v, rowvar=False)
        np.testing.assert_allclose(np.diag(correlation[:3, 3:]), fit.correlations, rtol=1e-8)
        np.testing.assert_allclose(correlation[:3, :3], np.eye(3), atol=1e-8)  # variates uncorrelated

    def test_errors(self):
        x = np.random.default_rng(0).normal(size=(10, 3))
        with pytest.raises(ValueError, match=r"more rows than columns per block, got n=10, p=12"):
            fit_cca(np.hstack([x, x, x, x]), x)
        with pytest.raises(ValueError, match=r"block x is rank deficient"):
            fit_cca(np.hstack([x, x[:, :1]]), x)


class TestCCAAnalysis:
    def test_recovers_planted_correlation_held_out(self):
        x, y = _planted()
        result = cca_analysis(x, y, _folds(1000))
        # SE of r at n_val=200 is (1 - 0.64) / sqrt(200) = 0.025 per fold; averaged over 5 folds ~0.011.
        assert result.heldout_correlations[0] == pytest.approx(0.8, abs=0.05)
        assert abs(np.mean(result.heldout_correlations[1:])) < 0.05
        assert result.n_above_threshold_heldout == 1 and result.n_pca_components == 30
        assert result.n_components == 19 and len(result.heldout_per_fold) == 5

    def test_constant_and_collinear_columns_reduce_to_the_rank(self):
        """As the pooled stats of a MIDI cache without soft pedal: constant and duplicated columns carry no extra
        variance; PCA keeps only the rank's components, and the planted correlation is recovered as before."""
        x, y = _planted()
        padded = np.hstack([x, np.zeros((x.shape[0], 3)), x[:, :5] * 2.0])  # 30 + 3 constant + 5 collinear columns
        result = cca_analysis(padded, y, _folds(1000), n_pca_components=50)
        assert result.n_pca_components == 30
        assert result.heldout_correlations[0] == pytest.approx(0.8, abs=0.05)

    def test_null_near_zero_held_out_but_not_in_sample(self):
        x, y = _planted(rho=0.0, n_rows=600)
        result = cca_analysis(x, y, _folds(600))
        assert abs(result.heldout_correlations[0]) < 0.1  # 1 / sqrt(120) per fold, mean of 5 folds: ~0.04
        assert result.in_sample_correlations[0] > 0.25 and result.n_above_threshold_heldout == 0
        assert result.shared_variance_heldout < 0.01 < result.shared_variance_in_sample

    def test_pca_sees_training_rows_only(self, monkeypatch):
        x, y = _planted(n_rows=300, n_features=60)
        folds = _folds(300)
        seen = []

        class RecordingPCA(cca_module.PCA):
            def fit(self, X, y=None):
                seen.append(X.shape[0])
                return super().fit(X, y)

        monkeypatch.setattr(cca_module, "PCA", RecordingPCA)
        result = cca_analysis(x, y, folds, n_pca_components=50)
        assert seen == [train.size for train, _ in folds] + [300]
        assert result.n_pca_components == 50

    def test_in_sample_trivial_warning(self):
        x, y = _planted(n_rows=60, n_features=80)
        with pytest.warns(UserWarning, match="trivial correlations of 1"):
            result = cca_analysis(x, y, _folds(60, 3), n_pca_components=50)
        assert result.in_sample_correlations[0] == pytest.approx(1.0)
        assert json.dumps(result.to_dict(), allow_nan=False)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [({"n_pca_components": 0}, r"n_pca_components=0, expected >= 1"),
         ({"folds": [(np.arange(2, 100), np.arange(2))]}, r"fold 0 has 2 val rows, expected >= 3")],
    )
    def test_bad_inputs(self, kwargs, match):
        x, y = _planted(n_rows=100)
        arguments = {"folds": _folds(100)} | kwargs
        with pytest.raises(ValueError, match=match):
            cca_analysis(x, y, **arguments)


def test_shared_variance_clips_negative():
    assert shared_variance(np.array([0.5, -0.5])) == pytest.approx(0.125)
