"""Tests of analyses/uncertainty.py: excerpt bootstrap CIs and the paired bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import r2_score

from analyses.uncertainty import group_bootstrap_ci, group_bootstrap_indices, paired_group_bootstrap

NAMES = ["a", "b", "c"]


def _reference_score(metric, y_true, y_pred):
    if metric == "r2":
        return r2_score(y_true, y_pred, multioutput="raw_values")
    return np.array([pearsonr(y_true[:, j], y_pred[:, j]).statistic for j in range(y_true.shape[1])])


def _clustered(seed, n_groups=60, size=4, n_dimensions=3, error_sd=None):
    """Labels = signal + error, both with an excerpt component; population R2 = 1 - s_e^2 / (1 + s_e^2)."""
    rng = np.random.default_rng(seed)
    error_sd = np.linspace(0.4, 1.2, n_dimensions) if error_sd is None else error_sd
    groups = np.repeat(np.arange(n_groups), size)
    n_rows = n_groups * size
    signal = 0.8 * rng.normal(size=(n_groups, n_dimensions))[groups] + 0.6 * rng.normal(size=(n_rows, n_dimensions))
    error = (0.8 * rng.normal(size=(n_groups, n_dimensions))[groups] + 0.6 * rng.normal(size=(n_rows, n_dimensions)))
    truth = 1 - error_sd**2 / (1 + error_sd**2)
    return 0.5 + 0.1 * (signal + error * error_sd), 0.5 + 0.1 * signal, groups, truth


class TestGroupBootstrapIndices:
    @pytest.mark.parametrize("sizes", [(4, 4, 4, 4, 4), (1, 3, 5, 2, 7, 2)])
    def test_resamples_are_unions_of_whole_groups(self, sizes):
        groups = np.random.default_rng(0).permutation(np.repeat([f"e{k}" for k in range(len(sizes))], sizes))
        for index in group_bootstrap_indices(groups, n_resamples=30, seed=1):
            drawn = 0
            for name in np.unique(groups):
                rows = np.flatnonzero(groups == name)
                taken = index[np.isin(index, rows)]
                copies, remainder = divmod(taken.size, rows.size)
                assert remainder == 0  # never part of a group
                np.testing.assert_array_equal(np.sort(taken), np.sort(np.tile(rows, copies)))
                drawn += copies
            assert drawn == len(sizes)

    def test_seeded(self):
        groups = np.repeat(np.arange(6), 2)
        first, again = (group_bootstrap_indices(groups, 5, seed=3) for _ in range(2))
        assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


class TestGroupBootstrapCI:
    @pytest.mark.parametrize("metric", ["r2", "pearson"])
    def test_fast_path_equals_brute_force(self, metric):
        y_true, y_pred, groups, _ = _clustered(0, n_groups=12, size=3)
        result = group_bootstrap_ci(y_true, y_pred, groups, metric=metric, n_resamples=40, seed=7, dimensions=NAMES)
        np.testing.assert_allclose(result.statistic, _reference_score(metric, y_true, y_pred), rtol=1e-10)
        brute = [_reference_score(metric, y_true[i], y_pred[i]) for i in group_bootstrap_indices(groups, 40, seed=7)]
        np.testing.assert_allclose(result.bootstrap_distribution, np.array(brute), rtol=1e-9, atol=1e-12)
        low, high = np.quantile(np.array(brute), [0.025, 0.975], axis=0)
        np.testing.assert_allclose(result.ci_low, low, rtol=1e-9)
        np.testing.assert_allclose(result.ci_high, high, rtol=1e-9)

    def test_covers_planted_r2_at_about_nominal_rate(self):
        # 50 replications x 3 dimensions of 60 excerpts x 4 performances with excerpt-level error. Group
        # resampling covers the population R2 about 95% of the time (0.94 here); resampling single rows
        # ignores the excerpt clustering of the errors and under-covers (about 0.80).
        covered_groups, covered_rows = [], []
        for rep in range(50):
            y_true, y_pred, groups, truth = _clustered(rep)
            by_group = group_bootstrap_ci(y_true, y_pred, groups, n_resamples=300, seed=rep, dimensions=NAMES)
            rows = np.arange(groups.size)  # every row its own group
            by_row = group_bootstrap_ci(y_true, y_pred, rows, n_resamples=300, seed=rep, dimensions=NAMES)
            covered_groups.append((by_group.ci_low <= truth) & (truth <= by_group.ci_high))
            covered_rows.append((by_row.ci_low <= truth) & (truth <= by_row.ci_high))
        assert 0.89 <= np.mean(covered_groups) <= 0.99
        assert np.mean(covered_rows) < np.mean(covered_groups) - 0.06

    def test_seeded_and_protocol(self):
        y_true, y_pred, groups, _ = _clustered(1, n_groups=10)
        first = group_bootstrap_ci(y_true, y_pred, groups, n_resamples=50, seed=11, dimensions=NAMES)
        rng = np.random.default_rng(11)
        again = group_bootstrap_ci(y_true, y_pred, groups, n_resamples=50, seed=rng, dimensions=NAMES)
        np.testing.assert_array_equal(first.bootstrap_distribution, again.bootstrap_distribution)
        assert first.seed == 11 and again.seed is None and first.method == "percentile"
        assert "50 bootstrap resamples of 10 whole groups" in first.protocol
        payload = json.loads(json.dumps(first.to_dict(include_distribution=True), allow_nan=False))
        assert len(payload["bootstrap_distribution"]) == 50 and payload["n_groups"] == 10

    def test_constant_prediction_pearson_undefined(self):
        y_true, y_pred, groups, _ = _clustered(2, n_groups=8)
        y_pred[:, 0] = 0.5
        result = group_bootstrap_ci(y_true, y_pred, groups, metric="pearson", n_resamples=20, seed=0, dimensions=NAMES)
        assert np.isnan(result.statistic[0]) and result.n_undefined.tolist() == [20, 0, 0]
        assert np.isnan(result.ci_low[0]) and np.isfinite(result.ci_low[1:]).all()
        json.dumps(result.to_dict(), allow_nan=False)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"metric": "mse"}, r"metric must be one of \['r2', 'pearson'\], got 'mse'"),
            ({"n_resamples": 0}, "n_resamples must be a positive int, got 0"),
            ({"confidence_level": 95}, r"confidence_level must be in \(0, 1\), got 95"),
            ({"groups": np.zeros(40)}, "groups has 1 distinct group, expected at least 2"),
            ({"groups": np.zeros(3)}, r"groups has shape \(3,\), expected \(40,\)"),
        ],
    )
    def test_errors(self, kwargs, match):
        y_true, y_pred, groups, _ = _clustered(3, n_groups=10)
        arguments = {"groups": groups, "dimensions": NAMES, **kwargs}
        with pytest.raises(ValueError, match=match):
            group_bootstrap_ci(y_true, y_pred, **arguments)

    def test_seed_type(self):
        y_true, y_pred, groups, _ = _clustered(3, n_groups=10)
        with pytest.raises(TypeError, match="seed must be an int or a numpy.random.Generator, got None"):
            group_bootstrap_ci(y_true, y_pred, groups, seed=None, dimensions=NAMES)


class TestPairedGroupBootstrap:
    def test_identical_predictions_differ_by_zero(self):
        y_true, y_pred, groups, _ = _clustered(4, n_groups=15)
        same = y_pred.copy()
        result = paired_group_bootstrap(y_true, y_pred, same, groups, n_resamples=100, seed=0, dimensions=NAMES)
        assert np.all(result.statistic == 0) and np.all(result.bootstrap_distribution == 0)
        assert np.all(result.ci_low == 0) and np.all(result.ci_high == 0) and np.all(result.pvalue == 1)

    @pytest.mark.parametrize("metric", ["r2", "pearson"])
    def test_same_resamples_for_both_probers(self, metric):
        y_true, y_pred, groups, _ = _clustered(5, n_groups=12, size=3)
        worse = y_pred + np.random.default_rng(0).normal(0, 0.05, size=y_pred.shape)
        result = paired_group_bootstrap(
            y_true, y_pred, worse, groups, metric=metric, n_resamples=30, seed=2, dimensions=NAMES
        )
        brute = [
            _reference_score(metric, y_true[i], y_pred[i]) - _reference_score(metric, y_true[i], worse[i])
            for i in group_bootstrap_indices(groups, 30, seed=2)
        ]
        np.testing.assert_allclose(result.bootstrap_distribution, np.array(brute), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(result.statistic, result.statistic_a - result.statistic_b)

    def test_clear_difference_and_symmetry(self):
        y_true, y_pred, groups, _ = _clustered(6, n_groups=30, error_sd=np.array([0.3, 0.4, 0.5]))
        worse = y_pred + np.random.default_rng(1).normal(0, 0.08, size=y_pred.shape)
        forward = paired_group_bootstrap(y_true, y_pred, worse, groups, n_resamples=400, seed=1, dimensions=NAMES)
        backward = paired_group_bootstrap(y_true, worse, y_pred, groups, n_resamples=400, seed=1, dimensions=NAMES)
        assert np.all(forward.ci_low > 0) and np.all(forward.pvalue < 0.01)
        assert np.all(forward.pvalue >= 2 / 401)  # the +1 correction: never 0
        np.testing.assert_allclose(backward.ci_high, -forward.ci_low)
        np.testing.assert_allclose(backward.pvalue, forward.pvalue)
        json.dumps(forward.to_dict(), allow_nan=False)
