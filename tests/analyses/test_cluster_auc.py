"""Tests for analyses/cluster_auc.py: rank AUC and the video (cluster) bootstrap CI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from analyses.cluster_auc import auc_score, video_bootstrap_ci


def _reference_cluster_bootstrap(y_true, y_score, groups, n_resamples, seed):
    """Hand loop with sklearn's roc_auc_score and the documented draws."""
    rng = np.random.default_rng(seed)
    videos = np.unique(groups)
    values = []
    for _ in range(n_resamples):
        take = np.concatenate([np.flatnonzero(groups == videos[i]) for i in rng.integers(0, videos.size, videos.size)])
        if np.unique(y_true[take]).size == 2:
            values.append(roc_auc_score(y_true[take], y_score[take]))
    return np.percentile(values, [2.5, 97.5]), len(values)


class TestAucScore:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_matches_sklearn(self, seed):
        rng = np.random.default_rng(seed)
        y_true = rng.integers(0, 2, size=40)
        y_score = np.round(rng.normal(size=40), 1)  # ties included
        assert auc_score(y_true, y_score) == pytest.approx(roc_auc_score(y_true, y_score))

    def test_one_class_is_nan(self):
        assert np.isnan(auc_score(np.ones(4), np.arange(4.0)))


class TestVideoBootstrapCI:
    def test_matches_hand_loop(self):
        rng = np.random.default_rng(0)
        groups = np.repeat(np.arange(4), 6)
        y_true = rng.integers(0, 2, size=24)
        y_true[groups == 0] = 1  # a draw of only video 0 holds one class and is dropped
        y_score = y_true + rng.normal(size=24)
        low, high, used = video_bootstrap_ci(y_true, y_score, groups, n_resamples=100,
                                             rng=np.random.default_rng(4))
        (ref_low, ref_high), ref_used = _reference_cluster_bootstrap(y_true, y_score, groups, 100, 4)
        assert (low, high, used) == (pytest.approx(ref_low), pytest.approx(ref_high), ref_used)
        assert low <= auc_score(y_true, y_score) <= high

    def test_too_few_usable_resamples(self):
        groups = np.array([0, 0, 1, 1])
        low, high, used = video_bootstrap_ci(np.array([1, 1, 0, 0]), np.arange(4.0), groups, n_resamples=1,
                                             rng=np.random.default_rng(0))
        assert np.isnan(low) and np.isnan(high) and used <= 1
