"""Tests for analyses/residuals.py: multi-output ridge residuals, out-of-fold and in-sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from analyses.residuals import fit_predict_ridge, residual_analysis
from analyses.row_folds import check_row_folds


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small solves: one BLAS thread avoids oversubscribing the shared cores (tens of times faster there)."""
    with threadpool_limits(limits=1):
        yield


def _folds(n_rows: int, n_folds: int = 4):
    return list(KFold(n_folds, shuffle=True, random_state=0).split(np.arange(n_rows)))


def _planted(n_rows=200, n_features=10, shared=0.0, seed=0):
    """Labels linear in the features plus independent noise plus (optionally) one latent the features miss."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_rows, n_features))
    latent = rng.normal(size=(n_rows, 1))
    labels = 0.5 + 0.05 * features @ rng.normal(size=(n_features, 19)) + 0.05 * rng.normal(size=(n_rows, 19))
    labels += shared * latent @ rng.uniform(0.5, 1.0, size=(1, 19))
    return features, labels


class TestFitPredictRidge:
    def test_one_solve_equals_19_separate_fits(self):
        features, labels = _planted()
        rows = np.arange(150)
        joint = fit_predict_ridge(features, labels, rows, np.arange(150, 200), alpha=3.0)
        for column in range(19):
            model = make_pipeline(StandardScaler(), Ridge(alpha=3.0)).fit(features[rows], labels[rows, column])
            np.testing.assert_allclose(joint[:, column], model.predict(features[150:]), rtol=1e-10, atol=1e-12)


class TestResidualAnalysis:
    def test_unexplained_fraction_against_hand_loop(self):
        features, labels = _planted()
        folds = _folds(200)
        result = residual_analysis(features, labels, folds, alpha=2.0, n_resamples=20)
        predicted = np.empty_like(labels)
        for train, val in folds:
            model = make_pipeline(StandardScaler(), Ridge(alpha=2.0)).fit(features[train], labels[train])
            predicted[val] = model.predict(features[val])
        expected = 1 - r2_score(labels, predicted, multioutput="raw_values")
        np.testing.assert_allclose(list(result.out_of_fold.unexplained_fraction.values()), expected, rtol=1e-10)
        np.testing.assert_allclose(result.out_of_fold.residuals, labels - predicted, atol=1e-12)
        eigenvalues = np.sort(np.linalg.eigvalsh(np.corrcoef(labels - predicted, rowvar=False)))[::-1]
        np.testing.assert_allclose(result.out_of_fold.eigenvalues, eigenvalues, rtol=1e-10)
        assert result.n_rows == 200 and result.n_excluded == 0 and result.n_folds == 4

    def test_in_sample_near_zero_when_features_exceed_rows(self):
        features, labels = _planted(n_rows=60, n_features=600)
        result = residual_analysis(features, labels, _folds(60), alpha=1e-6, n_resamples=0)
        assert result.in_sample.mean_unexplained_fraction < 1e-6
        assert result.out_of_fold.mean_unexplained_fraction > 0.3
        assert result.in_sample.protocol == "in_sample" and result.out_of_fold.protocol == "out_of_fold"

    def test_shared_residual_factor_above_noise(self):
        features, labels = _planted(n_rows=300, shared=0.05)
        result = residual_analysis(features, labels, _folds(300), n_resamples=50, seed=1)
        assert result.out_of_fold.n_components_above_noise == 1

    def test_no_shared_factor_rarely_above_noise(self):
        """The floor runs through the same fit, so pure-noise residuals cross it at about its 5% level."""
        crossings = []
        for seed in range(10):
            features, labels = _planted(n_rows=150, shared=0.0, seed=seed)
            result = residual_analysis(features, labels, _folds(150), n_resamples=30, seed=seed)
            crossings.append(result.out_of_fold.n_components_above_noise > 0)
        assert sum(crossings) <= 2  # binomial(10, 0.05): P(>= 3) ~ 0.01
        payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert "residuals" not in payload["out_of_fold"] and len(payload["out_of_fold"]["null_eigenvalues_95"]) == 19

    def test_floor_matches_hand_parallel_analysis(self):
        """Floor = 95th percentile of eigenvalues of OOF residuals of Gaussian pseudo-labels, drawn as documented."""
        features, labels = _planted(n_rows=120)
        folds = _folds(120)
        result = residual_analysis(features, labels, folds, alpha=1.0, n_resamples=5, seed=7)
        noise = np.random.default_rng(7).standard_normal((120, 19 * 5))
        eigenvalues = []
        for draw in range(5):
            targets = noise.reshape(120, 5, 19)[:, draw, :]
            residual = np.empty_like(targets)
            for train, val in folds:
                model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(features[train], targets[train])
                residual[val] = targets[val] - model.predict(features[val])
            eigenvalues.append(np.sort(np.linalg.eigvalsh(np.corrcoef(residual, rowvar=False)))[::-1])
        np.testing.assert_allclose(result.out_of_fold.null_eigenvalues_95, np.percentile(eigenvalues, 95, axis=0))

    def test_rows_outside_val_are_excluded_and_counted(self):
        features, labels = _planted()
        folds = [(np.arange(0, 100), np.arange(100, 150)), (np.arange(50, 150), np.arange(0, 50))]
        result = residual_analysis(features, labels, folds, n_resamples=0)
        assert result.n_rows == 100 and result.n_excluded == 100
        assert result.out_of_fold.null_eigenvalues_95 is None

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"alpha": 0.0}, r"alpha=0.0, expected a positive number"),
            ({"n_resamples": -1}, r"n_resamples=-1, expected >= 0"),
            ({"dimension_names": ("a",)}, r"1 dimension_names for 19 label columns"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        features, labels = _planted()
        with pytest.raises(ValueError, match=match):
            residual_analysis(features, labels, _folds(200), **kwargs)

    def test_constant_label(self):
        features, labels = _planted()
        labels[:, 4] = 0.5
        with pytest.raises(ValueError, match=r"label column 'pedal_clarity' is constant"):
            residual_analysis(features, labels, _folds(200))


class TestCheckRowFolds:
    @pytest.mark.parametrize(
        ("folds", "match"),
        [
            ([], r"folds is empty"),
            ([(np.array([0, 1]), np.array([1, 2]))], r"fold 0: row 1 is in both train and val"),
            ([(np.array([0]), np.array([2])), (np.array([0]), np.array([2]))],
             r"row 2 is in the val rows of folds 0 and 1"),
            ([(np.array([0]), np.array([9]))], r"fold 0 val rows span 9..9, expected 0..4"),
            ([(np.array([0.0]), np.array([1]))], r"fold 0 train rows: expected a non-empty 1-d integer array"),
            ([(np.array([0, 0]), np.array([1]))], r"fold 0 train rows repeat a row index"),
        ],
    )
    def test_errors(self, folds, match):
        with pytest.raises(ValueError, match=match):
            check_row_folds(folds, 5)
