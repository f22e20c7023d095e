"""Layer sweep statistics: R2 and CIs equal the single-prober bootstrap, planted best layers are found with
certainty."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from analyses.layer_sweep import layer_sweep_scores
from analyses.uncertainty import group_bootstrap_ci


@pytest.fixture
def planted() -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Layer "a" predicts dimensions 0-9 well and 10-18 badly; layer "b" the reverse; layer "c" is noise."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 4)
    labels = rng.uniform(0, 1, size=(groups.size, 19))
    good, bad = labels + rng.normal(0, 0.05, labels.shape), labels + rng.normal(0, 0.4, labels.shape)
    a = np.where(np.arange(19) < 10, good, bad)
    b = np.where(np.arange(19) < 10, bad, good)
    return labels, {"a": a, "b": b, "c": rng.uniform(0, 1, labels.shape)}, groups


def test_r2_and_intervals_equal_the_single_prober_bootstrap(planted) -> None:
    labels, predictions, groups = planted
    result = layer_sweep_scores(labels, predictions, groups, n_bootstrap=200, seed=3)
    for index, layer in enumerate(result.layers):
        np.testing.assert_allclose(result.r2[index], r2_score(labels, predictions[layer], multioutput="raw_values"))
        alone = group_bootstrap_ci(labels, predictions[layer], groups, n_resamples=200, seed=3)
        np.testing.assert_allclose(result.ci_low[index], alone.ci_low)
        np.testing.assert_allclose(result.ci_high[index], alone.ci_high)


def test_planted_best_layers_with_certainty_and_a_positive_lead(planted) -> None:
    labels, predictions, groups = planted
    result = layer_sweep_scores(labels, predictions, groups, n_bootstrap=200, seed=0)
    assert result.best_layer == ("a",) * 10 + ("b",) * 9
    np.testing.assert_allclose(result.p_best.sum(axis=0), 1.0)
    assert result.p_best[0, :10].min() == 1.0 and result.p_best[1, 10:].min() == 1.0
    assert (result.lead_ci_low > 0).all() and (result.lead > 0).all()


def test_equal_layers_split_the_best(planted) -> None:
    """Two layers with the same predictions tie in every resample: the first (by order) wins each, lead 0."""
    labels, predictions, groups = planted
    result = layer_sweep_scores(labels, {"x": predictions["a"], "y": predictions["a"]}, groups, n_bootstrap=50)
    assert result.best_layer == ("x",) * 19 and np.all(result.lead == 0) and np.all(result.lead_ci_high == 0)
