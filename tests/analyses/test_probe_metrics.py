"""Tests of analyses/probe_metrics.py against scikit-learn and scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import r2_score

from analyses.probe_metrics import (
    pearson_per_dimension,
    pooled_r2_many,
    probe_scores,
    r2_per_dimension,
    spearman_per_dimension,
)
from datamodules.dimensions import DIMENSIONS


def _reference_r2(y_true, y_pred):
    return r2_score(y_true, y_pred, multioutput="raw_values")


def _reference_correlations(y_true, y_pred):
    pearson = [pearsonr(y_true[:, j], y_pred[:, j]).statistic for j in range(y_true.shape[1])]
    spearman = [spearmanr(y_true[:, j], y_pred[:, j]).statistic for j in range(y_true.shape[1])]
    return np.array(pearson), np.array(spearman)


def _data(seed, n_rows=60, n_dimensions=19, n_folds=4, ties=False):
    rng = np.random.default_rng(seed)
    y_true = rng.uniform(0.2, 0.8, size=(n_rows, n_dimensions))
    y_pred = y_true + rng.normal(0, 0.1, size=y_true.shape) + rng.normal(0, 0.05, size=n_dimensions)
    if ties:
        y_true, y_pred = np.round(y_true, 1), np.round(y_pred, 1)
    return y_true, y_pred, rng.permutation(np.arange(n_rows) % n_folds)


class TestProbeScores:
    @pytest.mark.parametrize(("seed", "n_folds", "ties"), [(0, 4, False), (1, 5, False), (2, 3, True)])
    def test_matches_sklearn_and_scipy(self, seed, n_folds, ties):
        y_true, y_pred, fold = _data(seed, n_folds=n_folds, ties=ties)
        scores = probe_scores(y_true, y_pred, fold)
        np.testing.assert_allclose(scores.r2_pooled, _reference_r2(y_true, y_pred), rtol=1e-10, atol=1e-12)
        per_fold = np.stack([_reference_r2(y_true[fold == f], y_pred[fold == f]) for f in range(n_folds)])
        np.testing.assert_allclose(scores.r2_per_fold, per_fold, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(scores.r2_fold_mean, per_fold.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(scores.r2_fold_sd, per_fold.std(axis=0, ddof=1), rtol=1e-8)
        pearson, spearman = _reference_correlations(y_true, y_pred)
        np.testing.assert_allclose(scores.pearson, pearson, atol=1e-10)
        np.testing.assert_allclose(scores.spearman, spearman, atol=1e-5)  # torchmetrics ranks in float32
        assert scores.mean_r2_pooled == pytest.approx(np.mean(scores.r2_pooled))
        assert scores.mean_r2_fold_mean == pytest.approx(np.mean(per_fold))
        assert scores.n_folds == n_folds and scores.n_rows == 60 and scores.dimensions == DIMENSIONS
        assert sum(scores.n_rows_per_fold) == 60
        assert scores.protocol == f"out-of-fold, pooled over {n_folds} folds (60 rows)"

    def test_pooled_and_fold_mean_differ_as_derived(self):
        # Predicting each fold's own label mean: every per-fold R2 is exactly 0, while the pooled R2 equals
        # the between-fold share of the total sum of squares, SS_between / SS_total.
        rng = np.random.default_rng(3)
        fold = np.repeat(np.arange(3), 10)
        y_true = rng.normal(0, 0.05, size=(30, 2)) + np.array([0.3, 0.5, 0.7])[fold, None]
        fold_means = np.stack([y_true[fold == f].mean(axis=0) for f in range(3)])
        scores = probe_scores(y_true, fold_means[fold], fold, dimensions=["a", "b"])
        np.testing.assert_allclose(scores.r2_per_fold, 0.0, atol=1e-12)
        between = 10 * ((fold_means - y_true.mean(axis=0)) ** 2).sum(axis=0)
        total = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
        np.testing.assert_allclose(scores.r2_pooled, between / total, rtol=1e-10)
        assert np.all(scores.r2_pooled > 0.8)

    def test_constant_target(self):
        # Documented edge case: a constant target column scores R2 1.0 if predicted exactly, else 0.0
        # (sklearn's force_finite), and its correlations are NaN (scipy's pearsonr gives NaN too).
        y_true, y_pred, fold = _data(4, n_dimensions=3)
        y_true[:, 0] = 0.5
        y_true[:, 1] = 0.25
        y_pred[:, 1] = 0.25
        with pytest.warns(UserWarning, match="constant target in \\['a', 'b'\\]"):
            scores = probe_scores(y_true, y_pred, fold, dimensions=["a", "b", "c"])
        np.testing.assert_allclose(scores.r2_pooled, _reference_r2(y_true, y_pred))
        assert scores.r2_pooled[:2].tolist() == [0.0, 1.0]
        assert np.isnan(scores.pearson[:2]).all() and np.isnan(scores.spearman[:2]).all()
        assert scores.constant_dimensions == ("a", "b") and scores.n_constant_fold_cells == 8
        assert scores.mean_pearson == pytest.approx(scores.pearson[2])
        json.dumps(scores.to_dict(), allow_nan=False)

    def test_small_scale_target_is_not_treated_as_constant(self):
        # torchmetrics reads sums of squares below 1e-4 as zero; standardising first keeps R2 exact.
        rng = np.random.default_rng(5)
        y_true = 0.5 + rng.normal(0, 1e-3, size=(8, 2))
        y_pred = y_true + rng.normal(0, 5e-4, size=(8, 2))
        np.testing.assert_allclose(r2_per_dimension(y_true, y_pred), _reference_r2(y_true, y_pred), rtol=1e-9)

    def test_single_column_helpers(self):
        y_true, y_pred, _ = _data(6, n_dimensions=1)
        pearson, spearman = _reference_correlations(y_true, y_pred)
        assert pearson_per_dimension(y_true, y_pred).shape == (1,)
        np.testing.assert_allclose(pearson_per_dimension(y_true, y_pred), pearson, atol=1e-10)
        np.testing.assert_allclose(spearman_per_dimension(y_true, y_pred), spearman, atol=1e-5)

    def test_to_dict_is_json(self):
        y_true, y_pred, fold = _data(7)
        payload = probe_scores(y_true, y_pred, fold).to_dict()
        assert json.loads(json.dumps(payload, allow_nan=False))["r2_pooled"] == payload["r2_pooled"]

    def test_one_fold_has_nan_sd(self):
        y_true, y_pred, _ = _data(8, n_dimensions=2)
        scores = probe_scores(y_true, y_pred, np.zeros(60, dtype=int), dimensions=["a", "b"])
        assert np.isnan(scores.r2_fold_sd).all() and scores.to_dict()["r2_fold_sd"] == [None, None]

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            (lambda t, p, f: (t, p[:, :3], f), "y_pred has shape"),
            (lambda t, p, f: (t, np.where(p > 0.7, np.nan, p), f), "y_pred holds NaN"),
            (lambda t, p, f: (t, p, f[:10]), "fold_of_row has shape"),
            (lambda t, p, f: (t, p, np.r_[f[:-1], 99]), "fold_of_row: fold 99 has 1 row"),
            (lambda t, p, f: (t[:, :5], p[:, :5], f), "dimensions is None but the arrays have 5 columns"),
        ],
    )
    def test_errors(self, change, match):
        with pytest.raises(ValueError, match=match):
            probe_scores(*change(*_data(9)))


class TestPooledR2Many:
    @pytest.mark.parametrize("per_set_targets", [False, True])
    def test_matches_sklearn_per_set(self, per_set_targets):
        rng = np.random.default_rng(9)
        y_true = rng.uniform(size=(6, 30, 4)) if per_set_targets else rng.uniform(size=(30, 4))
        y_pred = rng.uniform(size=(6, 30, 4))
        targets = y_true if per_set_targets else np.broadcast_to(y_true, y_pred.shape)
        expected = np.stack([r2_score(targets[s], y_pred[s], multioutput="raw_values") for s in range(6)])
        np.testing.assert_allclose(pooled_r2_many(y_true, y_pred), expected, rtol=1e-10)

    def test_constant_target_as_sklearn(self):
        y_true = np.tile([[0.3, 0.1], [0.3, 0.2], [0.3, 0.9]], (1, 1))
        y_pred = np.stack([y_true, y_true + 0.1])
        result = pooled_r2_many(y_true, y_pred)
        expected = np.stack([r2_score(y_true, p, multioutput="raw_values") for p in y_pred])
        np.testing.assert_allclose(result, expected)
        assert result[:, 0].tolist() == [1.0, 0.0]

    def test_errors(self):
        with pytest.raises(ValueError, match="expected \\(n_sets, n_rows, n_dimensions\\)"):
            pooled_r2_many(np.zeros((5, 2)), np.zeros((5, 2)))
        with pytest.raises(ValueError, match="must be finite"):
            pooled_r2_many(np.zeros((5, 2)), np.full((3, 5, 2), np.inf))
