"""Tests for analyses/distributions.py: moments by hand, planted flags, KDE entropy against closed forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.integrate import trapezoid
from scipy.stats import norm

from analyses.distributions import DistributionResult, distribution_analysis, kde_entropy
from datamodules.dimensions import DIMENSIONS


def _planted(n: int, seed: int) -> np.ndarray:
    """Columns: healthy, low variance, right-skewed, floor-heavy, ceiling-heavy; all on [0, 1]."""
    rng = np.random.default_rng(seed)
    healthy = np.clip(rng.normal(0.5, 0.15, n), 0, 1)
    low_variance = np.clip(rng.normal(0.5, 0.05, n), 0, 1)
    skewed = np.clip(0.2 + rng.exponential(0.15, n), 0, 1)
    floor = np.where(rng.random(n) < 0.6, 0.02, rng.uniform(0.1, 0.9, n))
    ceiling = np.where(rng.random(n) < 0.6, 0.98, rng.uniform(0.1, 0.9, n))
    return np.column_stack([healthy, low_variance, skewed, floor, ceiling])


NAMES = ["healthy", "low_variance", "skewed", "floor", "ceiling"]


class TestDistributionAnalysis:
    @pytest.mark.parametrize("seed", [0, 1])
    def test_moments_and_shares_by_hand(self, seed):
        labels = _planted(500, seed)
        result = distribution_analysis(labels, NAMES)
        for j in range(labels.shape[1]):
            x = labels[:, j]
            centred = x - x.mean()
            assert result.variance[j] == pytest.approx(np.sum(centred**2) / (x.size - 1))
            m2, m3 = np.mean(centred**2), np.mean(centred**3)
            assert result.skewness[j] == pytest.approx(m3 / m2**1.5)
            assert result.floor_share[j] == sum(v < 0.05 for v in x) / x.size
            assert result.ceiling_share[j] == sum(v > 0.95 for v in x) / x.size

    def test_planted_flags(self):
        result = distribution_analysis(_planted(2000, 0), NAMES)
        assert result.low_variance.tolist() == [False, True, False, False, False]
        assert result.high_skew[2] and not result.high_skew[0]
        assert result.floor_effect.tolist() == [False, False, False, True, False]
        assert result.ceiling_effect.tolist() == [False, False, False, False, True]
        assert "healthy" not in result.flagged and {"low_variance", "skewed", "floor", "ceiling"} <= set(result.flagged)

    def test_constant_dimension_warns_and_gives_nan(self):
        labels = _planted(100, 0)
        labels[:, 0] = 0.5
        with pytest.warns(UserWarning, match="constant dimensions \\['healthy'\\]"):
            result = distribution_analysis(labels, NAMES)
        assert np.isnan(result.skewness[0]) and np.isnan(result.entropy[0])
        assert result.variance[0] == 0.0 and result.low_variance[0]
        assert json.loads(json.dumps(result.to_dict()))["dimensions"]["healthy"]["entropy_nats"] is None

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"names": ["a"]}, "names has 1 entries"),
            ({"labels": np.ones(5)}, "labels has shape"),
            ({"labels": np.full((5, 5), np.inf)}, "NaN or inf"),
            ({"floor": 0.9, "ceiling": 0.1}, "floor=0.9"),
        ],
    )
    def test_errors(self, kwargs, match):
        arguments = {"labels": _planted(20, 0), "names": NAMES, **kwargs}
        with pytest.raises(ValueError, match=match):
            distribution_analysis(**arguments)


class TestKdeEntropy:
    @pytest.mark.parametrize(("sigma", "seed"), [(0.1, 0), (0.05, 1), (1.0, 2)])
    def test_normal_sample_matches_closed_form(self, sigma, seed):
        n = 4000
        values = np.random.default_rng(seed).normal(0.5, sigma, n)
        # the KDE of a normal sample is about normal with variance sigma^2 (1 + h^2), h = n^(-1/5) (Scott)
        expected = 0.5 * np.log(2 * np.pi * np.e * sigma**2 * (1 + n ** (-2 / 5)))
        # sampling error of an entropy estimate is about sqrt(Var[log f(X)] / n) = sqrt(0.5 / n) ~ 0.011
        assert kde_entropy(values) == pytest.approx(expected, abs=5 * np.sqrt(0.5 / n))

    def test_uniform_sample_matches_smoothed_uniform(self):
        # the KDE of a U(0, 1) sample is about U(0, 1) convolved with N(0, h^2): f(x) = Phi(x / h) - Phi((x - 1) / h)
        n = 4000
        values = np.random.default_rng(0).uniform(0, 1, n)
        h = n ** (-1 / 5) * values.std(ddof=1)
        grid = np.linspace(-10 * h, 1 + 10 * h, 20001)
        density = norm.cdf(grid / h) - norm.cdf((grid - 1) / h)
        expected = -trapezoid(density * np.log(np.maximum(density, 1e-300)), grid)
        assert expected > 0.05  # smoothing across the scale's ends adds entropy
        assert kde_entropy(values) == pytest.approx(expected, abs=0.02)

    @pytest.mark.parametrize("scale", [0.1, 7.0])
    def test_scaling_shifts_entropy_by_log_scale(self, scale):
        values = np.random.default_rng(3).beta(2, 5, 500)
        assert kde_entropy(scale * values + 1.0) == pytest.approx(kde_entropy(values) + np.log(scale), abs=1e-6)

    @pytest.mark.parametrize(
        ("values", "n_grid", "match"),
        [([0.5, 0.5, 0.5], 1024, "two distinct"), ([0.1], 1024, "two distinct"), ([0.1, 0.2, 0.4], 4, "n_grid=4")],
    )
    def test_errors(self, values, n_grid, match):
        with pytest.raises(ValueError, match=match):
            kde_entropy(np.array(values), n_grid=n_grid)


@pytest.mark.real_data
def test_real_labels_smoke(real_data_dir):
    from datamodules.inputs.labels import load_labels

    labels = load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json").values
    result = distribution_analysis(labels, DIMENSIONS)
    assert isinstance(result, DistributionResult)
    assert result.variance.shape == result.entropy.shape == (19,)
    assert np.all(np.isfinite(result.entropy))
    assert json.loads(json.dumps(result.to_dict()))["n_segments"] == labels.shape[0]
