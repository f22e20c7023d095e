"""Excerpt-grouped alpha search: the one-SVD path equals brute-force GroupKFold with sklearn Ridge."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold

from probes.grouped_alpha import grouped_cv_errors
from probes.ridge import TunedRidgeProber

ALPHAS = np.logspace(-2, 4, 7)


def _problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(20), 4)
    excerpt_effect = rng.normal(size=(20, 12))[groups]  # rows of one excerpt share features
    features = excerpt_effect + 0.5 * rng.normal(size=(80, 12))
    targets = features[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(80, 4))
    return features, targets, groups


def _reference_errors(features, targets, groups) -> np.ndarray:
    errors = np.zeros((len(ALPHAS), targets.shape[1]))
    for train, val in GroupKFold(n_splits=5).split(features, groups=groups):
        for index, alpha in enumerate(ALPHAS):
            predictions = Ridge(alpha=alpha).fit(features[train], targets[train]).predict(features[val])
            errors[index] += ((targets[val] - predictions) ** 2).sum(0)
    return errors


class TestGroupedAlpha:
    def test_errors_equal_brute_force(self) -> None:
        features, targets, groups = _problem()
        np.testing.assert_allclose(grouped_cv_errors(features, targets, groups, ALPHAS),
                                   _reference_errors(features, targets, groups), rtol=1e-8)

    def test_tuned_prober_picks_the_brute_force_alpha_per_target(self) -> None:
        features, targets, groups = _problem(1)
        prober = TunedRidgeProber(alphas=ALPHAS).fit_arrays(features, targets, groups=groups)
        expected = ALPHAS[np.argmin(_reference_errors(features, targets, groups), axis=0)]
        np.testing.assert_array_equal(prober.alpha_, expected)
        assert prober.cv_used_ == "excerpt"
        reference = Ridge(alpha=expected).fit(features, targets)
        np.testing.assert_allclose(prober.predict_arrays(features), reference.predict(features), rtol=1e-8)

    def test_without_groups_falls_back_to_gcv(self) -> None:
        features, targets, _ = _problem()
        assert TunedRidgeProber(alphas=ALPHAS).fit_arrays(features, targets).cv_used_ == "gcv"

    def test_needs_two_groups(self) -> None:
        features, targets, _ = _problem()
        with pytest.raises(ValueError, match="at least 2 distinct values"):
            grouped_cv_errors(features, targets, np.zeros(80), ALPHAS)
