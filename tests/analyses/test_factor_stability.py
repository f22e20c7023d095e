"""Tests for analyses/factor_stability.py: the cluster bootstrap of retained-factor counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analyses.factor_retention import map_test
from analyses.factor_stability import FactorStabilityResult, factor_count_bootstrap
from datamodules.dimensions import DIMENSIONS


def _planted_groups(n_groups: int, group_size: int, n_factors: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels from ``n_factors`` factors (dimension j loads 0.7 on factor j % k) with a shared group offset."""
    rng = np.random.default_rng(seed)
    n, n_dimensions = n_groups * group_size, 19
    loadings = np.zeros((n_dimensions, n_factors))
    loadings[np.arange(n_dimensions), np.arange(n_dimensions) % n_factors] = 0.7
    groups = np.repeat(np.arange(n_groups), group_size)
    scores = rng.normal(size=(n_groups, n_factors))[groups] * 0.5 + rng.normal(size=(n, n_factors)) * np.sqrt(0.75)
    labels = scores @ loadings.T + np.sqrt(1 - 0.49) * rng.normal(size=(n, n_dimensions))
    return 0.5 + 0.1 * labels, np.array([f"excerpt{g}" for g in groups])


class TestFactorCountBootstrap:
    @pytest.mark.parametrize("n_factors", [2, 3])
    def test_distribution_centred_on_planted_count(self, n_factors):
        labels, groups = _planted_groups(60, 8, n_factors, seed=n_factors)
        result = factor_count_bootstrap(labels, groups, seed=0, n_resamples=8, n_simulations=20, group_kind="excerpt")
        assert isinstance(result, FactorStabilityResult)
        assert result.parallel_mode == result.map_mode == result.map4_mode == n_factors
        assert result.parallel_mode_share >= 0.75 and result.map_mode_share >= 0.75
        assert result.n_groups == 60 and result.n_segments == 480 and result.group_kind == "excerpt"

    def test_modes_and_to_dict_agree_with_counts(self):
        labels, groups = _planted_groups(30, 6, 2, seed=1)
        result = factor_count_bootstrap(labels, groups, seed=5, n_resamples=6, n_simulations=10)
        for name in ("parallel", "map", "map4"):
            counts = getattr(result, f"{name}_counts").tolist()
            assert len(counts) == result.n_resamples == 6
            best = max(sorted(set(counts)), key=counts.count)
            assert getattr(result, f"{name}_mode") == best
            assert getattr(result, f"{name}_mode_share") == counts.count(best) / 6
        payload = json.loads(json.dumps(result.to_dict()))
        assert sum(payload["parallel_distribution"].values()) == 6 and payload["seed"] == 5

    def test_same_seed_same_counts(self):
        labels, groups = _planted_groups(20, 5, 2, seed=2)
        first = factor_count_bootstrap(labels, groups, seed=1, n_resamples=4, n_simulations=10)
        second = factor_count_bootstrap(labels, groups, seed=1, n_resamples=4, n_simulations=10)
        np.testing.assert_array_equal(first.parallel_counts, second.parallel_counts)
        np.testing.assert_array_equal(first.map_counts, second.map_counts)

    def test_resamples_whole_groups(self):
        # every group is one repeated row, so any resample of whole groups has the MAP count of the group means
        labels, _ = _planted_groups(40, 1, 2, seed=3)
        groups = np.repeat(np.arange(40), 3)
        result = factor_count_bootstrap(np.repeat(labels, 3, axis=0), groups, seed=0, n_resamples=5, n_simulations=5)
        rng = np.random.default_rng(0)
        for b in range(5):
            chosen = rng.integers(0, 40, size=40)
            assert result.map_counts[b] == map_test(labels[chosen]).n_factors_squared
            rng.standard_normal((5, 120, 19))  # the parallel analysis's draws for this resample

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"groups": np.zeros(3)}, "groups has shape"),
            ({"groups": np.zeros(40)}, "1 distinct value"),
            ({"n_resamples": 0}, "n_resamples=0"),
        ],
    )
    def test_errors(self, kwargs, match):
        labels, groups = _planted_groups(10, 4, 2, seed=0)
        arguments = {"labels": labels, "groups": groups, "seed": 0, **kwargs}
        with pytest.raises(ValueError, match=match):
            factor_count_bootstrap(**arguments)


@pytest.mark.real_data
def test_real_labels_smoke(real_data_dir):
    from datamodules.inputs.labels import load_labels
    from datamodules.keys import excerpt_groups

    table = load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json")
    assert table.values.shape[1] == len(DIMENSIONS)
    result = factor_count_bootstrap(table.values, excerpt_groups(list(table.keys)), 0, n_resamples=3, n_simulations=5)
    assert result.parallel_counts.shape == result.map_counts.shape == (3,)
