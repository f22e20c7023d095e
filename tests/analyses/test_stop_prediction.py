"""Tests for analyses/stop_prediction.py: LOVO logistic regression, AUC with a video bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import analyses.stop_prediction as stop_module
from analyses.stop_prediction import (
    FeatureSet,
    build_feature_sets,
    lovo_predictions,
    stop_prediction,
    stop_prediction_unavailable,
)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small solves: one BLAS thread avoids oversubscribing the shared cores (tens of times faster there)."""
    with threadpool_limits(limits=1):
        yield


def _data(seed: int = 0, n_videos: int = 5, per_video: int = 16, signal: float = 0.0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"v{i}" for i in range(n_videos)], per_video)
    labels = np.tile([1, 0], groups.size // 2)
    predicted = rng.uniform(0.2, 0.8, size=(groups.size, 19))
    predicted[:, 3] += signal * labels
    return predicted, labels, groups


def _reference_lovo(features, labels, groups):
    """Hand loop with sklearn's LeaveOneGroupOut."""
    scores = np.empty(labels.size)
    for train, test in LeaveOneGroupOut().split(features, labels, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, solver="lbfgs", max_iter=10_000))
        scores[test] = model.fit(features[train], labels[train]).predict_proba(features[test])[:, 1]
    return scores


class TestLovoPredictions:
    def test_equals_hand_loop(self):
        predicted, labels, groups = _data(signal=0.2)
        np.testing.assert_allclose(lovo_predictions(predicted, labels, groups),
                                   _reference_lovo(predicted, labels, groups), rtol=1e-6, atol=1e-8)

    def test_one_class_training_split_predicts_rate(self):
        predicted, labels, groups = _data(n_videos=3)
        labels = np.where(groups == "v0", 1, labels)
        labels[groups == "v1"] = 1
        labels[groups == "v2"] = 0
        with pytest.warns(UserWarning, match="hold one class"):
            scores = lovo_predictions(predicted, labels, groups)
        assert np.all(scores[groups == "v2"] == 1.0)

    def test_leak_free_pca_never_sees_held_out_video(self, monkeypatch):
        predicted, labels, groups = _data(signal=0.2)
        fitted_rows = []

        class RecordingPCA(stop_module.PCA):
            def fit_transform(self, X, y=None):
                fitted_rows.append(X.copy())
                return super().fit_transform(X, y)

            def fit(self, X, y=None):
                fitted_rows.append(X.copy())
                return super().fit(X, y)

        monkeypatch.setattr(stop_module, "PCA", RecordingPCA)
        lovo_predictions(predicted, labels, groups, pca_components=3)
        assert len(fitted_rows) == 5
        for video, rows in zip(np.unique(groups), fitted_rows, strict=True):
            held_out = {row.tobytes() for row in predicted[groups == video]}
            assert not held_out & {row.tobytes() for row in rows}
            assert rows.shape[0] == np.sum(groups != video)

    def test_leaky_and_leak_free_differ_only_in_pca_fit(self, monkeypatch):
        """With a PCA that ignores its data, both variants give identical predictions."""
        predicted, labels, groups = _data(signal=0.2)
        components = np.linalg.qr(np.random.default_rng(1).normal(size=(19, 3)))[0].T

        class FixedPCA(TransformerMixin, BaseEstimator):
            def __init__(self, n_components=None):
                self.n_components = n_components

            def fit(self, X, y=None):
                return self

            def transform(self, X):
                return X @ components.T

        monkeypatch.setattr(stop_module, "PCA", FixedPCA)
        sets = build_feature_sets(predicted, np.arange(19.0), n_label_components=3)
        leak_free = lovo_predictions(predicted, labels, groups, pca_components=3)
        leaky = lovo_predictions(sets["label_components_leaky"].features, labels, groups)
        np.testing.assert_allclose(leak_free, leaky, rtol=1e-6, atol=1e-10)


class TestBuildFeatureSets:
    def test_names_and_widths(self):
        predicted, _, _ = _data()
        r2 = np.linspace(0.9, 0.0, 19)
        sets = build_feature_sets(predicted, r2, n_label_components=4, embeddings=np.ones((80, 6)))
        widths = {name: feature_set.n_features for name, feature_set in sets.items()}
        assert widths == {"all_19_dims": 19, "label_components": 4, "label_components_leaky": 4,
                          "category_means": 8, "top5_r2_dims": 5, "bottom5_r2_dims": 5,
                          "stats_pooled_embeddings": 6}
        np.testing.assert_array_equal(sets["top5_r2_dims"].features, predicted[:, :5])
        np.testing.assert_array_equal(sets["bottom5_r2_dims"].features, predicted[:, 14:])
        np.testing.assert_allclose(sets["category_means"].features[:, 3], predicted[:, 5:9].mean(axis=1))
        assert "leaks" in sets["label_components_leaky"].protocol

    def test_bad_inputs(self):
        predicted, _, _ = _data()
        with pytest.raises(ValueError, match=r"n_label_components=0, expected 1..19"):
            build_feature_sets(predicted, np.zeros(19), 0)
        with pytest.raises(ValueError, match=r"expected \(n, 19\) and \(19,\)"):
            build_feature_sets(predicted[:, :5], np.zeros(19), 2)


class TestStopPrediction:
    def test_planted_signal_and_noise(self):
        predicted, labels, groups = _data(signal=1.0)
        sets = build_feature_sets(predicted, np.linspace(1, 0, 19), n_label_components=3)
        result = stop_prediction(sets, labels, groups, n_resamples=200, seed=3)
        assert result.results["all_19_dims"].auc > 0.95
        assert result.results["label_components"].auc > 0.9
        score = result.results["all_19_dims"]
        assert score.ci_low <= score.auc <= score.ci_high and score.n_resamples_used == 200
        assert (result.n_segments, result.n_stop, result.n_continue, result.n_videos) == (80, 40, 40, 5)
        assert result.baseline_auc == 0.5 and result.baseline is None

    def test_random_features_near_chance(self):
        _, labels, groups = _data(per_video=60)
        noise = np.random.default_rng(5).normal(size=(labels.size, 3))
        result = stop_prediction({"noise": FeatureSet(noise, "random")}, labels, groups, n_resamples=20)
        n_stop, n_continue = result.n_stop, result.n_continue
        null_sd = np.sqrt((n_stop + n_continue + 1) / (12 * n_stop * n_continue))  # Mann-Whitney AUC under H0
        assert abs(result.results["noise"].auc - 0.5) < 4 * null_sd

    def test_duration_baseline_and_json(self):
        predicted, labels, groups = _data(signal=0.5)
        durations = np.where(labels == 1, 10.0, 60.0) * np.random.default_rng(2).uniform(0.8, 1.2, labels.size)
        result = stop_prediction({"all": FeatureSet(predicted, "x")}, labels, groups, durations_s=durations,
                                 n_resamples=50, exclusions={"n_skipped": 3})
        assert result.baseline_auc == pytest.approx(1.0) and result.baseline.n_features == 1
        payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert set(payload["results"]["all"]) == {"auc", "ci_low", "ci_high", "n_features", "protocol",
                                                  "n_resamples_used"}
        assert payload["exclusions"] == {"n_skipped": 3} and payload["status"] == "ok"

    def test_unavailable(self):
        _, labels, groups = _data()
        payload = stop_prediction_unavailable(labels, groups, "no masterclass embeddings").to_dict()
        assert payload["status"] == "not run: no masterclass embeddings" and payload["results"] == {}
        assert payload["n_stop"] == 40 and json.dumps(payload, allow_nan=False)

    @pytest.mark.parametrize(
        ("labels", "groups", "match"),
        [
            (np.ones(4), np.array(["a", "a", "b", "b"]), r"expected both 1 \(STOP\) and 0"),
            (np.array([0, 1, 0, 1]), np.array(["a"] * 4), r"1 video\(s\), expected at least 2"),
            (np.array([0, 1, 0]), np.array(["a", "b"]), r"expected equal 1-d shapes"),
        ],
    )
    def test_bad_targets(self, labels, groups, match):
        with pytest.raises(ValueError, match=match):
            stop_prediction({}, labels, groups)

    def test_bad_durations(self):
        predicted, labels, groups = _data()
        with pytest.raises(ValueError, match="durations_s holds a value <= 0"):
            stop_prediction({}, labels, groups, durations_s=np.zeros(labels.size))
