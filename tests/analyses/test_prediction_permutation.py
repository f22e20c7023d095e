"""The no-refit within-fold permutation null: calibrated under the null, powerful under planted signal."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.permutation import permutation_test_r2
from analyses.prediction_permutation import prediction_permutation_null


def _design(n_excerpts: int = 40, size: int = 4, n_folds: int = 4) -> tuple[np.ndarray, np.ndarray]:
    groups = np.repeat(np.arange(n_excerpts), size)
    return groups, groups % n_folds


class TestPredictionPermutationNull:
    def test_blocks_stay_in_their_fold(self) -> None:
        groups, folds = _design()
        labels = np.repeat(np.arange(len(groups))[:, None], 19, axis=1).astype(float)
        predictions = np.zeros_like(labels)
        null = prediction_permutation_null(labels, predictions + labels.mean(0), groups, folds, 5, seed=0)
        assert null.shape == (5, 19)
        # Predicting the overall mean scores R2 = 0 whatever the permutation: the statistic is R2 of the pairs.
        np.testing.assert_allclose(null, 0.0, atol=1e-12)

    def test_null_is_calibrated(self) -> None:
        groups, folds = _design()
        rejections = 0
        for repetition in range(40):
            rng = np.random.default_rng(repetition)
            labels = rng.normal(size=(len(groups), 19))
            predictions = rng.normal(size=(len(groups), 19)) * 0.1
            null = prediction_permutation_null(labels, predictions, groups, folds, 39, seed=repetition)
            observed = 1 - ((labels - predictions) ** 2).sum(0) / ((labels - labels.mean(0)) ** 2).sum(0)
            rejections += int((permutation_test_r2(observed, null).pvalue <= 0.05).sum())
        rate = rejections / (40 * 19)
        assert rate == pytest.approx(0.05, abs=0.03)

    def test_detects_planted_signal(self) -> None:
        groups, folds = _design()
        rng = np.random.default_rng(0)
        labels = rng.normal(size=(len(groups), 19))
        predictions = 0.5 * labels + rng.normal(size=labels.shape)
        predictions[:, 10:] = rng.normal(size=(len(groups), 9))
        null = prediction_permutation_null(labels, predictions, groups, folds, 99, seed=1)
        observed = 1 - ((labels - predictions) ** 2).sum(0) / ((labels - labels.mean(0)) ** 2).sum(0)
        pvalue = permutation_test_r2(observed, null).pvalue
        assert (pvalue[:10] <= 0.01).all()
        assert np.median(pvalue[10:]) > 0.1

    def test_rejects_no_permutations(self) -> None:
        groups, folds = _design()
        with pytest.raises(ValueError, match="n_permutations must be >= 1"):
            prediction_permutation_null(np.zeros((160, 19)), np.zeros((160, 19)), groups, folds, 0, seed=0)
