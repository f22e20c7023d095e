"""The original notebook's keys, each against the notebook's own formula computed here independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.outliers_influence import variance_inflation_factor

from analyses.correlation import correlation_analysis
from analyses.distributions import distribution_analysis
from analyses.factor_retention import parallel_analysis
from analyses.notebook_keys import correlation_keys, distribution_keys, pca_keys, probing_keys
from analyses.pca import pca_analysis
from analyses.probing_comparison import compare_probers
from datamodules.dimensions import DIMENSIONS


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    """Correlated labels on [0, 1]: 3 latent factors, 300 segments, 70% of one dimension at the floor 0."""
    rng = np.random.default_rng(4)
    loadings = rng.normal(size=(3, 19)) * (rng.random((3, 19)) < 0.5)
    values = 0.5 + 0.12 * (rng.normal(size=(300, 3)) @ loadings + 0.6 * rng.normal(size=(300, 19)))
    values[:210, 2] = 0.0
    return np.clip(values, 0.0, 1.0)


def test_correlation_keys_follow_the_notebook(labels) -> None:
    keys = correlation_keys(correlation_analysis(labels, DIMENSIONS).to_dict())
    r = np.corrcoef(labels.T)[np.triu_indices(19, 1)]
    standardized = StandardScaler().fit_transform(labels)
    vifs = [variance_inflation_factor(standardized, i) for i in range(19)]
    assert keys["n_high_corr"] == int(np.sum(np.abs(r) > 0.7)) and keys["total_pairs"] == 171
    assert keys["n_moderate_corr"] == int(np.sum((np.abs(r) > 0.5) & (np.abs(r) <= 0.7)))
    np.testing.assert_allclose([keys["vifs"][name] for name in DIMENSIONS], vifs, rtol=1e-9)
    assert keys["severe_vif_count"] == sum(v > 10 for v in vifs)


def test_pca_keys_follow_the_notebook(labels) -> None:
    parallel = parallel_analysis(labels, 0, n_simulations=200, method="pca")
    keys = pca_keys(pca_analysis(labels, DIMENSIONS).to_dict(), parallel.observed, parallel.threshold)
    ratio = PCA(n_components=19).fit(StandardScaler().fit_transform(labels)).explained_variance_ratio_
    cumulative = np.cumsum(ratio)
    assert keys["n_90_variance"] == int(np.searchsorted(cumulative, 0.90) + 1)
    assert keys["n_95_variance"] == int(np.searchsorted(cumulative, 0.95) + 1)
    np.testing.assert_allclose(keys["explained_variance"], ratio, atol=1e-12)
    np.testing.assert_allclose(keys["cumulative_variance"], cumulative, atol=1e-12)
    assert keys["n_significant"] == int(np.sum(parallel.observed > parallel.threshold)) >= parallel.n_retained


def test_distribution_keys_follow_the_notebook(labels) -> None:
    result = distribution_analysis(labels, DIMENSIONS).to_dict()
    stats_by_name = distribution_keys(result["dimensions"], result["n_segments"])["dim_stats"]
    for index, name in enumerate(DIMENSIONS):
        values = labels[:, index]
        entry = stats_by_name[name]
        assert entry["var"] == pytest.approx(np.var(values), rel=1e-12)
        assert entry["skew"] == pytest.approx(stats.skew(values), rel=1e-9)
        assert entry["floor_pct"] == pytest.approx(np.mean(values < 0.05))
        assert entry["ceil_pct"] == pytest.approx(np.mean(values > 0.95))
    assert stats_by_name[DIMENSIONS[2]]["floor_pct"] > 0.5  # the planted floor


def test_probing_keys_follow_the_notebook(labels) -> None:
    rng = np.random.default_rng(0)
    fold_of_row = np.arange(300) % 4
    predictions = {name: (labels + rng.normal(scale=scale, size=labels.shape), fold_of_row, "faithful")
                   for name, scale in (("ridge", 0.05), ("attention", 0.08), ("mlp", 0.03))}
    folds = [(np.flatnonzero(fold_of_row != f), np.flatnonzero(fold_of_row == f)) for f in range(4)]
    comparison, _ = compare_probers(labels, np.arange(300) // 3, folds, predictions, {},
                                    n_bootstrap=10, n_permutations=0, seed=0)
    probers = comparison.to_dict()["probers"]
    ridge_pooled = r2_score(labels, predictions["ridge"][0], multioutput="raw_values")
    per_fold = {name: np.array([r2_score(labels[fold_of_row == f], predictions[name][0][fold_of_row == f],
                                         multioutput="raw_values") for f in range(4)]) for name in predictions}
    ridge = probing_keys("ridge_probing", probers, DIMENSIONS)
    attention = probing_keys("attention_probing", probers, DIMENSIONS)
    mlp = probing_keys("mlp_probing", probers, DIMENSIONS)
    mlp_pooled = r2_score(labels, predictions["mlp"][0], multioutput="raw_values")
    for index, name in enumerate(DIMENSIONS):
        assert ridge[name]["r2"] == pytest.approx(ridge_pooled[index]) and "delta_vs_ridge" not in ridge[name]
        np.testing.assert_allclose(ridge[name]["fold_r2"], per_fold["ridge"][:, index])
        assert attention[name]["r2"] == pytest.approx(per_fold["attention"][:, index].mean())  # the fold mean
        assert attention[name]["delta_vs_ridge"] == pytest.approx(per_fold["attention"][:, index].mean()
                                                                  - ridge_pooled[index])
        assert mlp[name]["delta_vs_ridge"] == pytest.approx(mlp_pooled[index] - ridge_pooled[index])
    assert probing_keys("mlp_es_probing", probers, DIMENSIONS) == {}
    assert probing_keys("mlp_probing", {"ridge": probers["ridge"]}, DIMENSIONS) == {}
