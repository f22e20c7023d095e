"""Tests for analyses/pca.py (PCA) and analyses/factor_retention.py (parallel analysis, MAP, retained count)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression

from analyses.factor_retention import (
    MAPResult,
    ParallelAnalysisResult,
    map_test,
    parallel_analysis,
    retained_factor_count,
    squared_multiple_correlations,
)
from analyses.pca import PCAResult, pca_analysis
from datamodules.dimensions import DIMENSIONS


def _planted(n: int, n_factors: int, seed: int, n_dimensions: int = 19, loading: float = 0.7) -> np.ndarray:
    """Labels on a [0, 1]-like scale from ``n_factors`` orthogonal factors, dimension j loading on factor j % k."""
    rng = np.random.default_rng(seed)
    loadings = np.zeros((n_dimensions, n_factors))
    loadings[np.arange(n_dimensions), np.arange(n_dimensions) % n_factors] = loading
    scores = rng.normal(size=(n, n_factors)) @ loadings.T
    return 0.5 + 0.1 * (scores + np.sqrt(1 - loading**2) * rng.normal(size=(n, n_dimensions)))


def _names(n: int) -> list[str]:
    return [f"d{j}" for j in range(n)]


class TestPCAAnalysis:
    @pytest.mark.parametrize("seed", [0, 1])
    def test_against_numpy_and_sklearn(self, seed):
        labels = _planted(400, 3, seed, n_dimensions=8)
        result = pca_analysis(labels, _names(8))
        correlation = np.corrcoef(labels, rowvar=False)
        np.testing.assert_allclose(result.eigenvalues, np.sort(np.linalg.eigvalsh(correlation))[::-1], atol=1e-10)
        standardised = (labels - labels.mean(0)) / labels.std(0, ddof=1)
        reference = PCA(svd_solver="full").fit(standardised)
        np.testing.assert_allclose(result.explained_variance_ratio, reference.explained_variance_ratio_, atol=1e-10)
        # same eigenvectors with the same (svd_flip) signs
        np.testing.assert_allclose(result.loadings / np.sqrt(result.eigenvalues), reference.components_.T, atol=1e-8)
        # loadings are correlations of dimensions with component scores
        scores = standardised @ reference.components_.T
        for c in range(3):
            for j in range(8):
                r = np.corrcoef(standardised[:, j], scores[:, c])[0, 1]
                assert result.loadings[j, c] == pytest.approx(r, abs=1e-8)

    def test_variance_counts_and_salient_dimensions(self):
        labels = _planted(400, 3, 0, n_dimensions=9)
        result = pca_analysis(labels, _names(9), n_retained=3)
        cumulative = np.cumsum(result.eigenvalues) / 9
        assert result.n_components_90 == next(k + 1 for k in range(9) if cumulative[k] >= 0.90)
        assert result.n_components_95 == next(k + 1 for k in range(9) if cumulative[k] >= 0.95)
        for c, salient in enumerate(result.salient_dimensions):
            expected = {f"d{j}" for j in range(9) if abs(result.loadings[j, c]) > 0.3}
            assert {name for name, _ in salient} == expected
        assert len(result.salient_dimensions) == 3

    def test_default_retains_90_percent_count_and_to_dict(self):
        result = pca_analysis(_planted(200, 2, 0, n_dimensions=6), _names(6))
        assert isinstance(result, PCAResult)
        assert result.n_retained == result.n_components_90
        assert json.loads(json.dumps(result.to_dict()))["n_segments"] == 200

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"names": ["a"]}, "names has 1 entries"),
            ({"n_retained": 7}, "n_retained=7"),
            ({"n_retained": 0}, "n_retained=0"),
        ],
    )
    def test_errors(self, kwargs, match):
        arguments = {"labels": _planted(50, 2, 0, n_dimensions=6), "names": _names(6), **kwargs}
        with pytest.raises(ValueError, match=match):
            pca_analysis(**arguments)


class TestParallelAnalysis:
    @pytest.mark.parametrize("n_factors", [2, 3, 4])
    @pytest.mark.parametrize("method", ["pca", "factor"])
    def test_recovers_planted_factor_count(self, n_factors, method):
        result = parallel_analysis(_planted(500, n_factors, seed=n_factors), seed=0, n_simulations=50, method=method)
        assert isinstance(result, ParallelAnalysisResult)
        assert result.n_retained == n_factors

    @pytest.mark.parametrize("method", ["pca", "factor"])
    def test_batched_simulation_equals_one_at_a_time(self, method):
        labels = _planted(120, 2, seed=0, n_dimensions=6)
        result = parallel_analysis(labels, seed=7, n_simulations=60, percentile=90.0, method=method)
        rng = np.random.default_rng(7)
        simulated = []
        for _ in range(60):
            correlation = np.corrcoef(rng.standard_normal((120, 6)), rowvar=False)
            if method == "factor":
                np.fill_diagonal(correlation, _reference_smc(correlation))
            simulated.append(np.sort(np.linalg.eigvalsh(correlation))[::-1])
        np.testing.assert_allclose(result.threshold, np.percentile(simulated, 90.0, axis=0), atol=1e-10)
        np.testing.assert_allclose(result.simulated_mean, np.mean(simulated, axis=0), atol=1e-10)
        exceeds = result.observed > result.threshold
        assert result.n_retained == (len(exceeds) if exceeds.all() else int(np.argmin(exceeds)))

    def test_same_seed_same_result_and_generator_seed_is_none(self):
        labels = _planted(100, 2, seed=1, n_dimensions=6)
        first = parallel_analysis(labels, seed=3, n_simulations=20)
        np.testing.assert_array_equal(first.threshold, parallel_analysis(labels, 3, 20).threshold)
        assert first.seed == 3
        assert parallel_analysis(labels, np.random.default_rng(3), 20).seed is None
        assert json.loads(json.dumps(first.to_dict()))["n_simulations"] == 20

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"method": "ml"}, "method='ml'"),
            ({"n_simulations": 0}, "n_simulations=0"),
            ({"percentile": 100}, "percentile=100"),
        ],
    )
    def test_errors(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            parallel_analysis(_planted(50, 2, 0, n_dimensions=5), seed=0, **kwargs)


def _reference_smc(correlation: np.ndarray) -> np.ndarray:
    """R^2 of each variable on the others, from the normal equations of the correlation matrix."""
    p = correlation.shape[0]
    values = np.empty(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        beta = np.linalg.solve(correlation[np.ix_(others, others)], correlation[others, j])
        values[j] = correlation[j, others] @ beta
    return values


def test_squared_multiple_correlations_equal_regression_r2():
    labels = _planted(300, 2, seed=5, n_dimensions=6)
    smc = squared_multiple_correlations(np.corrcoef(labels, rowvar=False))
    for j in range(6):
        others = np.delete(labels, j, axis=1)
        assert smc[j] == pytest.approx(LinearRegression().fit(others, labels[:, j]).score(others, labels[:, j]))


def _reference_map(labels: np.ndarray, power: int) -> np.ndarray:
    """Average partial correlation after regressing each standardised variable on the first m component scores."""
    standardised = (labels - labels.mean(0)) / labels.std(0)
    p = labels.shape[1]
    _, _, components = np.linalg.svd(standardised, full_matrices=False)
    values = []
    for m in range(p):
        scores = standardised @ components[:m].T
        residual = standardised - scores @ np.linalg.lstsq(scores, standardised, rcond=None)[0] if m else standardised
        partial = np.corrcoef(residual, rowvar=False)
        values.append(np.mean(partial[~np.eye(p, dtype=bool)] ** power))
    return np.array(values)


class TestMapTest:
    @pytest.mark.parametrize("n_factors", [2, 3, 4])
    def test_recovers_planted_factor_count(self, n_factors):
        result = map_test(_planted(500, n_factors, seed=10 + n_factors))
        assert isinstance(result, MAPResult)
        assert result.n_factors_squared == n_factors
        assert result.n_factors_fourth == n_factors

    def test_against_regression_partial_correlations(self):
        labels = _planted(300, 2, seed=4, n_dimensions=7)
        result = map_test(labels)
        np.testing.assert_allclose(result.average_squared_partial[:-1], _reference_map(labels, 2)[:-1], rtol=1e-7)
        np.testing.assert_allclose(result.average_fourth_partial[:-1], _reference_map(labels, 4)[:-1], rtol=1e-7)
        correlation = np.corrcoef(labels, rowvar=False)
        assert result.average_squared_partial[0] == pytest.approx(np.mean(correlation[~np.eye(7, dtype=bool)] ** 2))
        assert json.loads(json.dumps(result.to_dict()))["n_segments"] == 300


class TestRetainedFactorCount:
    @pytest.mark.parametrize("method", ["parallel", "factor_parallel", "map", "map4"])
    def test_matches_underlying_functions(self, method):
        labels = _planted(300, 3, seed=2)
        count = retained_factor_count(labels, seed=0, method=method, n_simulations=20)
        if method in ("map", "map4"):
            result = map_test(labels)
            assert count == (result.n_factors_squared if method == "map" else result.n_factors_fourth)
        else:
            kind = "pca" if method == "parallel" else "factor"
            assert count == parallel_analysis(labels, 0, 20, method=kind).n_retained == 3

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="method='kaiser'"):
            retained_factor_count(_planted(50, 2, 0, n_dimensions=5), seed=0, method="kaiser")


@pytest.mark.real_data
def test_real_labels_smoke(real_data_dir):
    from datamodules.inputs.labels import load_labels

    labels = load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json").values
    pca = pca_analysis(labels, DIMENSIONS)
    assert pca.eigenvalues.shape == (19,) and pca.loadings.shape == (19, 19)
    assert pca.eigenvalues.sum() == pytest.approx(19.0)
    parallel = parallel_analysis(labels, seed=0, n_simulations=20)
    assert 1 <= parallel.n_retained < 19
    assert map_test(labels).average_squared_partial.shape == (19,)
