"""Tests for analyses/efa.py: planted oblique structure, oblique communalities, reproduction, references."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
from statsmodels.multivariate.factor import Factor

from analyses.efa import EFAResult, efa, efa_from_correlation, rotate_oblique
from datamodules.dimensions import DIMENSIONS

NAMES = [f"d{j}" for j in range(12)]


def _planted_structure() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple-structure pattern (12 x 3), correlated factors, and the implied population correlation matrix."""
    pattern = np.zeros((12, 3))
    pattern[np.arange(12), np.arange(12) % 3] = np.repeat([0.8, 0.7, 0.6, 0.75], 3)
    phi = np.array([[1.0, 0.4, 0.2], [0.4, 1.0, -0.3], [0.2, -0.3, 1.0]])
    common = pattern @ phi @ pattern.T
    return pattern, phi, common + np.diag(1.0 - np.diag(common))


def _matching_error(pattern, phi, fitted_pattern, fitted_phi) -> float:
    """Largest absolute error after the best column permutation and sign flips."""
    errors = []
    for perm in itertools.permutations(range(pattern.shape[1])):
        candidate = fitted_pattern[:, perm]
        signs = np.sign(np.sum(candidate * pattern, axis=0))
        candidate_phi = fitted_phi[np.ix_(perm, perm)] * np.outer(signs, signs)
        errors.append(max(np.abs(candidate * signs - pattern).max(), np.abs(candidate_phi - phi).max()))
    return min(errors)


def _hand_communalities(pattern: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """sum_a sum_b P_ia Phi_ab P_ib, one term at a time."""
    p, k = pattern.shape
    pairs = [(a, b) for a in range(k) for b in range(k)]
    return np.array([sum(pattern[i, a] * phi[a, b] * pattern[i, b] for a, b in pairs) for i in range(p)])


class TestEfaFromCorrelation:
    @pytest.mark.parametrize("extraction", ["minres", "pa"])
    def test_oblimin_recovers_population_structure_exactly(self, extraction):
        pattern, phi, correlation = _planted_structure()
        result = efa_from_correlation(correlation, NAMES, 3, extraction=extraction, rotation="oblimin")
        assert _matching_error(pattern, phi, result.pattern, result.factor_correlation) < 1e-6
        np.testing.assert_allclose(result.communalities, np.diag(pattern @ phi @ pattern.T), atol=1e-6)
        assert result.rmsr < 1e-6 and result.extraction_converged and result.rotation_converged

    @pytest.mark.parametrize("extraction", ["minres", "pa"])
    def test_promax_approximately_recovers_population_structure(self, extraction):
        # promax fits a power target by least squares, so it is close to, not exactly, the simple structure
        pattern, phi, correlation = _planted_structure()
        result = efa_from_correlation(correlation, NAMES, 3, extraction=extraction, rotation="promax")
        assert _matching_error(pattern, phi, result.pattern, result.factor_correlation) < 0.02

    @pytest.mark.parametrize("rotation", ["oblimin", "promax"])
    def test_oblique_communalities_and_reproduction(self, rotation):
        _, _, correlation = _planted_structure()
        noisy = correlation + 0.02 * np.random.default_rng(0).normal(size=correlation.shape)
        noisy = (noisy + noisy.T) / 2
        np.fill_diagonal(noisy, 1.0)
        result = efa_from_correlation(noisy, NAMES, 3, rotation=rotation)
        unrotated = np.sum(result.unrotated_loadings**2, axis=1)
        hand = _hand_communalities(result.pattern, result.factor_correlation)
        np.testing.assert_allclose(result.communalities, unrotated, atol=1e-10)
        np.testing.assert_allclose(result.communalities, hand, atol=1e-10)
        # the naive oblique "communality" (row sums of squared pattern loadings) is different
        assert np.abs(np.sum(result.pattern**2, axis=1) - hand).max() > 0.01
        fitted = result.unrotated_loadings @ result.unrotated_loadings.T + np.diag(result.uniquenesses)
        np.testing.assert_allclose(result.reproduced_correlation, fitted, atol=1e-10)
        np.testing.assert_allclose(np.diag(result.reproduced_correlation), 1.0, atol=1e-10)
        np.testing.assert_allclose(result.structure, result.pattern @ result.factor_correlation, atol=1e-12)
        np.testing.assert_allclose(np.diag(result.factor_correlation), 1.0, atol=1e-10)
        assert np.all(np.linalg.eigvalsh(result.factor_correlation) > 0)
        residual = (noisy - result.reproduced_correlation)[~np.eye(12, dtype=bool)]
        assert result.rmsr == pytest.approx(np.sqrt(np.mean(residual**2)))

    def test_single_factor_is_unrotated(self):
        _, _, correlation = _planted_structure()
        result = efa_from_correlation(correlation, NAMES, 1)
        np.testing.assert_array_equal(result.factor_correlation, [[1.0]])
        np.testing.assert_allclose(result.pattern, result.unrotated_loadings)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"n_factors": 12}, "n_factors=12"),
            ({"n_factors": 0}, "n_factors=0"),
            ({"extraction": "ml"}, "extraction='ml'"),
            ({"rotation": "varimax"}, "rotation='varimax'"),
            ({"names": ["a"]}, "names has 1 entries"),
            ({"correlation": np.ones((3, 4))}, "correlation has shape"),
            ({"correlation": 2 * np.eye(12)}, "unit diagonal"),
        ],
    )
    def test_errors(self, kwargs, match):
        arguments = {"correlation": _planted_structure()[2], "names": NAMES, "n_factors": 3, **kwargs}
        with pytest.raises(ValueError, match=match):
            efa_from_correlation(**arguments)

    def test_rotation_convergence_is_reported(self):
        pattern, _, correlation = _planted_structure()
        loadings = efa_from_correlation(correlation, NAMES, 3).unrotated_loadings
        assert rotate_oblique(loadings, "oblimin", tol=1e-6)[2]
        assert not rotate_oblique(loadings, "oblimin", tol=1e-6, max_iter=2)[2]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = efa_from_correlation(correlation, NAMES, 3, max_iter=2)
        messages = [str(w.message) for w in caught if w.category is UserWarning]
        assert any("rotation did not reach" in m for m in messages)
        assert any("extraction did not converge" in m for m in messages)
        assert not result.rotation_converged and not result.extraction_converged

    def test_rotate_oblique_rejects_unknown_rotation(self):
        with pytest.raises(ValueError, match="rotation='quartimax'"):
            rotate_oblique(np.ones((4, 2)), "quartimax")


class TestEfa:
    @pytest.mark.parametrize("rotation", ["oblimin", "promax"])
    def test_recovers_planted_structure_from_sample(self, rotation):
        pattern, phi, correlation = _planted_structure()
        n = 3000
        labels = np.random.default_rng(1).multivariate_normal(np.zeros(12), correlation, size=n)
        result = efa(0.5 + 0.1 * labels, NAMES, 3, rotation=rotation)
        assert isinstance(result, EFAResult)
        # loadings and factor correlations have standard errors of order 1/sqrt(n) ~ 0.018
        assert _matching_error(pattern, phi, result.pattern, result.factor_correlation) < 4 / np.sqrt(n)
        assert result.n_segments == n
        assert json.loads(json.dumps(result.to_dict()))["n_factors"] == 3

    def test_minres_matches_principal_axis_and_statsmodels(self):
        _, _, correlation = _planted_structure()
        labels = np.random.default_rng(2).multivariate_normal(np.zeros(12), correlation, size=500)
        minres = efa(labels, NAMES, 3, extraction="minres")
        axis = efa(labels, NAMES, 3, extraction="pa")
        reference = Factor(corr=np.corrcoef(labels, rowvar=False), n_factor=3, method="pa", smc=True)
        reference = reference.fit(maxiter=5000, tol=1e-12)
        np.testing.assert_allclose(minres.communalities, axis.communalities, atol=1e-6)
        np.testing.assert_allclose(minres.communalities, reference.communality, atol=1e-6)

    def test_heywood_case_warns(self):
        # one dimension duplicated: its communality goes to 1
        rng = np.random.default_rng(3)
        labels = rng.normal(size=(400, 5))
        labels[:, 1] = labels[:, 0] + 1e-3 * rng.normal(size=400)
        with pytest.warns(UserWarning, match="Heywood"):
            efa(labels, list("abcde"), 1)


@pytest.mark.real_data
def test_real_labels_smoke(real_data_dir):
    from datamodules.inputs.labels import load_labels

    labels = load_labels(real_data_dir / "crescendai" / "percepiano" / "labels.json").values
    result = efa(labels, DIMENSIONS, 4)
    assert result.pattern.shape == (19, 4) and result.factor_correlation.shape == (4, 4)
    np.testing.assert_allclose(result.communalities, np.sum(result.unrotated_loadings**2, axis=1), atol=1e-10)
