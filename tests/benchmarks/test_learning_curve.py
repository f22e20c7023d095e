"""benchmarks/learning_curve.py: training parts cut to whole excerpts, validation parts untouched."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.learning_curve import cut_folds, markdown


class TestCutFolds:
    @pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
    def test_whole_excerpts_and_untouched_validation(self, fraction: float) -> None:
        groups = np.repeat([f"e{index}" for index in range(20)], 3)
        train = np.flatnonzero((np.arange(60) // 3) % 4 != 0)
        val = np.flatnonzero((np.arange(60) // 3) % 4 == 0)
        (cut_train, cut_val), = cut_folds([(train, val)], groups, fraction, np.random.default_rng(0))
        np.testing.assert_array_equal(cut_val, val)
        kept = np.unique(groups[cut_train])
        assert len(kept) == round(fraction * 15) and np.isin(cut_train, train).all()
        assert all(np.sum(groups[cut_train] == excerpt) == 3 for excerpt in kept)  # whole excerpts

    def test_bad_fraction(self) -> None:
        with pytest.raises(ValueError, match="fraction must be in"):
            cut_folds([(np.arange(4), np.arange(4, 6))], np.array(list("aabbcc")), 0.0, np.random.default_rng(0))

    def test_markdown_gives_mean_and_range(self) -> None:
        text = markdown({"fractions": [0.5, 1.0], "n_train_rows": [100, 200],
                         "mean_r2": {"ridge_tuned": [[0.1, 0.3], [0.4, 0.4]]}})
        assert "| ridge_tuned | 0.200 [0.100, 0.300] | 0.400 [0.400, 0.400] |" in text
