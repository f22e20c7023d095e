"""The descriptor baseline: planted linear structure recovered, the protocol equal to a plain scikit-learn pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from probes.descriptor_baseline import descriptor_baseline


@pytest.fixture(scope="module")
def planted():
    """Dimension 0 follows descriptor 0 (in seconds, large units), dimension 1 follows descriptor 1; others noise."""
    rng = np.random.default_rng(0)
    n_excerpts, per_excerpt = 30, 6
    groups = np.repeat([f"e{index}" for index in range(n_excerpts)], per_excerpt)
    descriptors = rng.normal(size=(groups.size, 4)) * np.array([30.0, 0.1, 1.0, 1.0]) + np.array([100.0, 0.5, 0, 0])
    labels = rng.uniform(0.3, 0.7, size=(groups.size, 19))
    labels[:, 0] = 0.5 + 0.004 * (descriptors[:, 0] - 100) + rng.normal(0, 0.02, groups.size)
    labels[:, 1] = 0.5 + 1.0 * (descriptors[:, 1] - 0.5) + rng.normal(0, 0.02, groups.size)
    excerpts = np.arange(n_excerpts)
    folds = []
    for fold in range(3):
        val_excerpts = excerpts[excerpts % 3 == fold]
        val = np.flatnonzero(np.isin(groups, [f"e{index}" for index in val_excerpts]))
        folds.append((np.setdiff1d(np.arange(groups.size), val), val))
    return descriptors, labels, folds, groups


class TestDescriptorBaseline:
    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_planted_dimensions_are_predicted_and_noise_is_not(self, planted) -> None:
        descriptors, labels, folds, groups = planted
        result = descriptor_baseline(descriptors, ["a_s", "b", "c", "d"], labels, folds, groups)
        r2 = np.array([r2_score(labels[result.rows, d], result.y_pred[:, d]) for d in range(19)])
        assert r2[0] > 0.8 and r2[1] > 0.8 and np.all(r2[2:] < 0.1)
        assert (result.name == "descriptors" and "a_s, b, c, d" in result.protocol
                and result.rows.size == labels.shape[0])

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_equals_a_scaler_ridge_pipeline_at_the_chosen_alphas(self, planted, monkeypatch) -> None:
        """Without clipping, each fold's predictions are StandardScaler -> Ridge(alpha per dimension) on the
        training rows (a fixed one-value grid makes the chosen alpha known)."""
        descriptors, labels, folds, groups = planted
        monkeypatch.setattr("probes.ridge.DEFAULT_ALPHAS", np.array([3.0]))
        result = descriptor_baseline(descriptors, ["a", "b", "c", "d"], labels, folds, groups, clip=None)
        position = np.searchsorted(result.rows, np.arange(labels.shape[0]))
        for train, val in folds:
            pipeline = make_pipeline(StandardScaler(), Ridge(alpha=3.0)).fit(descriptors[train], labels[train])
            np.testing.assert_allclose(result.y_pred[position[val]], pipeline.predict(descriptors[val]), rtol=1e-8)

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_clipping_bounds_an_extreme_validation_descriptor(self, planted) -> None:
        descriptors, labels, folds, groups = planted
        extreme = descriptors.copy()
        extreme[folds[0][1][0], 0] = 1e6  # one validation row, 3e4 training deviations away
        clipped = descriptor_baseline(extreme, list("abcd"), labels, folds, groups, clip=5.0)
        plain = descriptor_baseline(extreme, list("abcd"), labels, folds, groups, clip=None)
        row = np.searchsorted(clipped.rows, folds[0][1][0])
        assert abs(clipped.y_pred[row, 0] - 0.5) < 1.0 < 100 < abs(plain.y_pred[row, 0] - 0.5)  # 5 vs 3e4 deviations

    @pytest.mark.parametrize(("shape", "names", "message"), [
        ((180, 3), list("abcd"), r"descriptors has shape \(180, 3\); expected \(180, 4\)"),
        ((10, 4), list("abcd"), r"descriptors has shape \(10, 4\); expected \(180, 4\)"),
    ])
    def test_bad_shapes(self, planted, shape, names, message) -> None:
        _, labels, folds, groups = planted
        with pytest.raises(ValueError, match=message):
            descriptor_baseline(np.zeros(shape), names, labels, folds, groups)

    def test_non_finite(self, planted) -> None:
        descriptors, labels, folds, groups = planted
        bad = descriptors.copy()
        bad[3, 2] = np.nan
        with pytest.raises(ValueError, match="descriptors hold NaN or inf"):
            descriptor_baseline(bad, list("abcd"), labels, folds, groups)
