"""Tests for analyses/correlation.py against brute-force and closed-form computations."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.stats import pearsonr

from analyses.correlation import CorrelationResult, correlation_analysis
from datamodules.dimensions import DIMENSIONS


def _blocks(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Columns a0-a2 are near copies of one latent, b0-b1 of another, c0-c2 independent."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 2))
    columns = [latent[:, 0] + 0.2 * rng.normal(size=n) for _ in range(3)]
    columns += [latent[:, 1] + 0.2 * rng.normal(size=n) for _ in range(2)]
    columns += [rng.normal(size=n) for _ in range(3)]
    return np.column_stack(columns), ["a0", "a1", "a2", "b0", "b1", "c0", "c1", "c2"]


class TestCorrelationAnalysis:
    @pytest.mark.parametrize("seed", [0, 1])
    @pytest.mark.parametrize("n_dimensions", [4, 19])
    def test_against_brute_force(self, seed, n_dimensions):
        rng = np.random.default_rng(seed)
        mixing = rng.normal(size=(n_dimensions, n_dimensions))
        labels = rng.normal(size=(300, n_dimensions)) @ mixing
        names = [f"d{j}" for j in range(n_dimensions)]
        result = correlation_analysis(labels, names, n_top=5)

        pairs = list(itertools.combinations(range(n_dimensions), 2))
        r = {(i, j): pearsonr(labels[:, i], labels[:, j]).statistic for i, j in pairs}
        assert result.n_pairs == len(pairs) == n_dimensions * (n_dimensions - 1) // 2
        for (i, j), value in r.items():
            assert result.correlation[i, j] == pytest.approx(value, abs=1e-12)
        assert result.n_strong_pairs == sum(abs(v) > 0.7 for v in r.values())
        assert result.n_moderate_pairs == sum(0.5 < abs(v) <= 0.7 for v in r.values())
        expected_top = sorted(r.items(), key=lambda item: -abs(item[1]))[:5]
        assert [(a, b) for a, b, _ in result.top_pairs] == [(names[i], names[j]) for (i, j), _ in expected_top]
        assert [v for *_, v in result.top_pairs] == pytest.approx([v for _, v in expected_top])
        assert sorted(result.cluster_order.tolist()) == list(range(n_dimensions))

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_vif_is_diagonal_of_inverse_correlation(self, seed):
        rng = np.random.default_rng(seed)
        labels = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
        result = correlation_analysis(labels, list("abcdef"))
        expected = np.diag(np.linalg.inv(np.corrcoef(labels, rowvar=False)))
        np.testing.assert_allclose(result.vif, expected, rtol=1e-8)
        assert result.n_high_vif == int(np.sum(expected > 10.0))

    def test_planted_redundant_groups_and_cluster_order(self):
        labels, names = _blocks(2000, seed=0)
        result = correlation_analysis(labels, names)
        assert result.redundant_groups == (("a0", "a1", "a2"), ("b0", "b1"))
        assert result.redundancy_components == result.redundant_groups
        order = [names[i] for i in result.cluster_order]
        for block in (["a0", "a1", "a2"], ["b0", "b1"]):
            positions = sorted(order.index(name) for name in block)
            assert positions == list(range(positions[0], positions[0] + len(block)))

    def test_chain_is_a_component_but_not_a_group(self):
        # a-b and b-c correlate 1/sqrt(1.7) = 0.77 > 0.7 but a-c only 1/1.7 = 0.59
        rng = np.random.default_rng(3)
        x = rng.normal(size=20000)
        noise = np.sqrt(0.7) * rng.normal(size=(x.size, 2))
        labels = np.column_stack([x + noise[:, 0], x, x + noise[:, 1]])
        result = correlation_analysis(labels, ["a", "b", "c"])
        assert result.redundancy_components == (("a", "b", "c"),)
        assert len(result.redundant_groups) == 1 and len(result.redundant_groups[0]) == 2
        assert "b" in result.redundant_groups[0]

    def test_invariant_to_label_scale_and_row_order(self):
        labels, names = _blocks(300, seed=1)
        base = correlation_analysis(labels, names)
        permuted = np.random.default_rng(0).permutation(labels.shape[0])
        moved = correlation_analysis(7.0 * labels[permuted] + 1.0, names)
        np.testing.assert_allclose(moved.correlation, base.correlation, atol=1e-12)
        np.testing.assert_allclose(moved.vif, base.vif, rtol=1e-9)
        assert moved.redundant_groups == base.redundant_groups

    def test_to_dict_is_json(self):
        labels, names = _blocks(100, seed=2)
        payload = correlation_analysis(labels, names).to_dict()
        assert json.loads(json.dumps(payload))["n_pairs"] == 28

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"names": ["a", "b"]}, "names has 2 entries"),
            ({"labels": np.ones((10, 3))}, "constant"),
            ({"labels": np.full((10, 3), np.nan)}, "NaN or inf"),
            ({"labels": np.ones(10)}, "labels has shape"),
            ({"strong_threshold": 0.4}, "thresholds"),
            ({"n_top": 0}, "n_top=0"),
        ],
    )
    def test_errors(self, kwargs, match):
        arguments = {"labels": np.random.default_rng(0).normal(size=(10, 3)), "names": ["a", "b", "c"], **kwargs}
        with pytest.raises(ValueError, match=match):
            correlation_analysis(**arguments)


@pytest.mark.real_data
def test_real_labels_smoke(real_data_dir):
    from datamodules.inputs.labels import load_labels

    table = load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json")
    result = correlation_analysis(table.values, DIMENSIONS)
    assert isinstance(result, CorrelationResult)
    assert result.correlation.shape == (19, 19) and result.vif.shape == (19,)
    assert result.n_pairs == 171
    assert len(result.top_pairs) == 15
    assert result.n_strong_pairs + result.n_moderate_pairs <= 171
