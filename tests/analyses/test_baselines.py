"""Tests of analyses/baselines.py on hand-computed examples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analyses.baselines import (
    excerpt_identity_ceiling,
    excerpt_mean_baseline,
    out_of_fold_rows,
    training_mean_baseline,
)
from analyses.probe_metrics import probe_scores

# Rows 0-5, excerpts a a b b c c; folds NOT grouped by excerpt, so some val rows have excerpt mates in training.
LABELS = np.array([0.1, 0.3, 0.2, 0.6, 0.5, 0.9])[:, None]
GROUPS = ["a", "a", "b", "b", "c", "c"]
FOLDS = [(np.array([0, 2, 3]), np.array([1, 4, 5])), (np.array([1, 4, 5]), np.array([0, 2, 3]))]
MEAN_0, MEAN_1 = (0.1 + 0.2 + 0.6) / 3, (0.3 + 0.5 + 0.9) / 3  # training means of folds 0 and 1


class TestOutOfFoldRows:
    def test_rows_outside_every_val_part_are_left_out(self):
        rows, fold_of_row = out_of_fold_rows([(np.array([0, 1]), np.array([2, 3])), (np.array([2]), np.array([0]))], 5)
        assert rows.tolist() == [0, 2, 3] and fold_of_row.tolist() == [1, 0, 0]

    def test_malformed_folds(self):
        with pytest.raises(ValueError, match="is in the val rows of folds 0 and 1"):
            out_of_fold_rows([(np.array([0]), np.array([1])), (np.array([0]), np.array([1]))], 3)


class TestTrainingMeanBaseline:
    def test_hand_computed(self):
        result = training_mean_baseline(LABELS, FOLDS)
        assert result.rows.tolist() == list(range(6)) and result.fold_of_row.tolist() == [1, 0, 1, 1, 0, 0]
        np.testing.assert_allclose(result.y_pred[:, 0], [MEAN_1, MEAN_0, MEAN_1, MEAN_1, MEAN_0, MEAN_0])
        assert result.n_fallback == 0 and result.n_fallback_per_fold == (0, 0)


class TestExcerptMeanBaseline:
    def test_hand_computed_with_fallback_counts(self):
        result = excerpt_mean_baseline(LABELS, FOLDS, GROUPS)
        # fold 0 predicts rows 1 (a: train row 0), 4 and 5 (c: none in training -> fold-0 training mean);
        # fold 1 predicts rows 0 (a: train row 1), 2 and 3 (b: none in training -> fold-1 training mean).
        np.testing.assert_allclose(result.y_pred[:, 0], [0.3, 0.1, MEAN_1, MEAN_1, MEAN_0, MEAN_0])
        assert result.n_fallback == 4 and result.n_fallback_per_fold == (2, 2)
        assert "(4 of 6 rows)" in result.protocol

    def test_grouped_folds_fall_back_everywhere(self):
        rng = np.random.default_rng(0)
        labels = rng.uniform(size=(12, 3))
        groups = np.repeat(["a", "b", "c", "d"], 3)
        folds = [(np.arange(6, 12), np.arange(6)), (np.arange(6), np.arange(6, 12))]
        result = excerpt_mean_baseline(labels, folds, groups)
        np.testing.assert_allclose(result.y_pred, training_mean_baseline(labels, folds).y_pred)
        assert result.n_fallback == 12 and result.n_fallback_per_fold == (6, 6)

    def test_groups_length(self):
        with pytest.raises(ValueError, match=r"groups has shape \(5,\), expected \(6,\)"):
            excerpt_mean_baseline(LABELS, FOLDS, GROUPS[:5])


class TestExcerptIdentityCeiling:
    def test_hand_computed_leave_one_out(self):
        result = excerpt_identity_ceiling(LABELS, FOLDS, GROUPS)
        np.testing.assert_allclose(result.y_pred[:, 0], [0.3, 0.1, 0.6, 0.2, 0.9, 0.5])
        assert result.n_fallback == 0 and result.name == "excerpt_identity_ceiling"

    def test_single_row_excerpt_falls_back_to_leave_one_out_grand_mean(self):
        labels = np.vstack([LABELS, [[0.7]]])
        folds = [(FOLDS[0][0], np.r_[FOLDS[0][1], 6]), FOLDS[1]]
        result = excerpt_identity_ceiling(labels, folds, [*GROUPS, "d"])
        assert result.y_pred[6, 0] == pytest.approx(LABELS.mean())
        assert result.n_fallback == 1 and result.n_fallback_per_fold == (1, 0)

    def test_scored_like_a_prober(self):
        rng = np.random.default_rng(1)
        groups = np.repeat(np.arange(8), 4)
        labels = rng.normal(0, 0.1, size=(8, 2))[groups] + rng.normal(0.5, 0.02, size=(32, 2))
        folds = [(np.flatnonzero(groups % 2 != k), np.flatnonzero(groups % 2 == k)) for k in (0, 1)]
        ceiling = excerpt_identity_ceiling(labels, folds, groups)
        floor = training_mean_baseline(labels, folds)
        high = probe_scores(labels[ceiling.rows], ceiling.y_pred, ceiling.fold_of_row, dimensions=["a", "b"])
        low = probe_scores(labels[floor.rows], floor.y_pred, floor.fold_of_row, dimensions=["a", "b"])
        assert np.all(high.r2_pooled > 0.5) and np.all(low.r2_pooled < 0.05)
        json.dumps(ceiling.to_dict(include_predictions=True), allow_nan=False)
