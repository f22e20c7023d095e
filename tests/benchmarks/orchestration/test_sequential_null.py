"""Sequential stopping of the Ridge permutation null: the stopping rule against an exact binomial bound, dimensions
that never stop get exactly the full null, stopped ones are far from significance, and the p-values count only the
permutations drawn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from analyses.permutation import STOP_CONFIDENCE, permutation_test_r2, sequential_stop
from analyses.probe_metrics import probe_scores
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.orchestration.permutation_nulls import permutation_null


class TestSequentialStop:
    @pytest.mark.parametrize("exceedances, n_drawn", [(0, 108), (3, 108), (9, 108), (10, 108), (30, 216), (108, 108),
                                                      (12, 324), (40, 1000)])
    def test_against_the_exact_binomial_lower_bound(self, exceedances, n_drawn) -> None:
        two_sided = 2 * STOP_CONFIDENCE - 1  # its lower end is the one-sided bound at STOP_CONFIDENCE
        lower = binomtest(exceedances, n_drawn).proportion_ci(two_sided, method="exact").low
        assert sequential_stop(np.array([exceedances]), n_drawn, 0.05)[0] == (lower > 0.05)

    def test_no_exceedance_never_stops_and_a_bad_threshold_is_refused(self) -> None:
        assert not sequential_stop(np.zeros(3), 1000, 0.05).any()
        with pytest.raises(ValueError, match="threshold must be in"):
            sequential_stop(np.zeros(3), 10, 1.5)


class TestPermutationTestWithStoppedColumns:
    def test_p_values_count_the_drawn_permutations_only(self) -> None:
        null = np.array([[0.1, 0.5], [0.3, np.nan], [0.0, np.nan]])
        result = permutation_test_r2(np.array([0.2, 0.4]), null, dimensions=["a", "b"])
        np.testing.assert_allclose(result.pvalue, [(1 + 1) / (1 + 3), (1 + 1) / (1 + 1)])
        with pytest.raises(ValueError, match=r"columns \[1\] hold no drawn permutation"):
            permutation_test_r2(np.array([0.2, 0.4]), np.array([[0.1, np.nan]]), dimensions=["a", "b"])


@pytest.mark.parametrize("prober", ["ridge", "ridge_tuned"])
def test_audible_dimensions_keep_the_full_null_and_inaudible_ones_stop(linear_cache, prober) -> None:
    """``linear_cache`` encodes dimensions 0-5 in the frames; 6-18 are inaudible."""
    observed = probe_scores(*cross_validate(prober, linear_cache, None, seed=0).scored(linear_cache.labels)).r2_pooled
    full = permutation_null(prober, linear_cache, 300, seed=1, max_stacked_targets=19 * 40).null_distribution
    sequential = permutation_null(prober, linear_cache, 300, seed=1, max_stacked_targets=19 * 40, observed=observed,
                                  stop_threshold=0.05)
    null = sequential.null_distribution
    drawn = np.sum(~np.isnan(null), axis=0)
    stopped = drawn < 300
    assert not stopped[:6].any() and stopped[6:].sum() >= 8  # audible ones never stop; most inaudible ones do
    # the same permutations, the same null (up to rounding: later chunks solve fewer targets at once)
    np.testing.assert_allclose(null[:, ~stopped], full[:, ~stopped], rtol=1e-12, atol=1e-12)
    for column in np.flatnonzero(stopped):
        np.testing.assert_allclose(null[: drawn[column], column], full[: drawn[column], column], rtol=1e-12,
                                   atol=1e-12)
        assert np.isnan(null[drawn[column]:, column]).all()
    p_sequential = permutation_test_r2(observed, null).pvalue
    p_full = permutation_test_r2(observed, full).pvalue
    assert (p_sequential[stopped] > 0.05).all() and (p_full[stopped] > 0.05).all()
    np.testing.assert_array_equal(p_sequential[~stopped], p_full[~stopped])
    assert "dimensions stopped early" in sequential.protocol
