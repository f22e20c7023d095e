"""Factor probers: PCA fitted on the right labels, inverse mapping, component outputs, the leaky variant."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge

from analyses.factor_retention import retained_factor_count
from benchmarks.orchestration.cross_validation import cross_validate
from datamodules.fold_datamodule import FoldDataModule
from probes.label_components import LabelComponentProber, LeakyLabelComponentProber, component_r2
from probes.ridge import RidgeProber, training_rows


def _reference_components(labels: np.ndarray, n_components: int) -> np.ndarray:
    """sklearn PCA of the labels standardised by their own mean and population sd."""
    standardised = (labels - labels.mean(0)) / labels.std(0)
    return PCA(n_components=n_components, svd_solver="full").fit(standardised).components_


class TestFactorProber:
    def test_pca_uses_training_labels_only(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0)
        prober = LabelComponentProber(n_components=4).fit(datamodule)
        train_labels = linear_cache.labels[training_rows(datamodule)]
        np.testing.assert_allclose(prober.pca_.components_, _reference_components(train_labels, 4), atol=1e-10)
        assert prober.n_pca_rows_ == len(training_rows(datamodule)) and prober.n_components_ == 4

    def test_ridge_targets_are_component_scores(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=1)
        prober = LabelComponentProber(n_components=3).fit(datamodule)
        rows = training_rows(datamodule)
        labels = linear_cache.labels[rows]
        scores = (labels - labels.mean(0)) / labels.std(0) @ prober.pca_.components_.T  # (n_train, 3)
        reference = Ridge(alpha=1.0).fit(datamodule.features(rows).astype(np.float64), scores)
        np.testing.assert_allclose(prober.ridge_.coef_, reference.coef_, rtol=1e-8, atol=1e-10)

    def test_all_components_reproduce_plain_ridge(self, linear_cache) -> None:
        """With 19 components the PCA is a rotation; Ridge commutes with linear maps of the targets."""
        datamodule = FoldDataModule(linear_cache, fold=2)
        factor = LabelComponentProber(n_components=19).fit(datamodule)
        ridge = RidgeProber().fit(datamodule)
        np.testing.assert_allclose(factor.predict(datamodule.predict_dataloader())[0],
                                   ridge.predict(datamodule.predict_dataloader())[0], rtol=1e-8, atol=1e-10)

    def test_parallel_analysis_count(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0)
        prober = LabelComponentProber(n_simulations=20, seed=3).fit(datamodule)
        labels = linear_cache.labels[training_rows(datamodule)]
        standardised = (labels - labels.mean(0)) / labels.std(0)
        assert prober.n_components_ == max(retained_factor_count(standardised, 3, "parallel", n_simulations=20), 1)

    def test_fold_outputs_use_the_training_pca(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0)
        prober = LabelComponentProber(n_components=2).fit(datamodule)
        outputs = prober.fold_outputs(datamodule)
        val = outputs["component_rows"]
        np.testing.assert_array_equal(np.sort(val), np.sort(datamodule.val_rows_))
        expected = (linear_cache.labels[val] - prober.label_mean_) / prober.label_scale_ @ prober.pca_.components_.T
        np.testing.assert_allclose(outputs["component_targets"], expected, atol=1e-12)
        assert outputs["component_predictions"].shape == (len(val), 2)
        assert outputs["components"].shape == (2, 19)

    def test_component_r2_over_folds(self, linear_cache) -> None:
        result = cross_validate("factor", linear_cache, None, n_components=2)
        scores = component_r2(list(result.fold_outputs))
        assert scores["n_components"] == [2, 2, 2] and scores["pooled"].shape == (2,)
        assert all(np.all(np.isfinite(fold)) for fold in scores["per_fold"])

    @pytest.mark.parametrize("n_components", [0, 20, "kaiser", 2.0])
    def test_bad_n_components_raises_in_fit(self, linear_cache, n_components) -> None:
        with pytest.raises(ValueError, match=r"n_components must be 'parallel' or an integer in \[1, 19\]"):
            LabelComponentProber(n_components=n_components).fit(FoldDataModule(linear_cache, fold=0))


class TestLeakyFactorProber:
    def test_pca_sees_all_labels(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0)
        leaky = LeakyLabelComponentProber(n_components=4).fit(datamodule)
        np.testing.assert_allclose(leaky.pca_.components_, _reference_components(linear_cache.labels, 4), atol=1e-10)
        assert leaky.n_pca_rows_ == linear_cache.n_segments
        corrected = LabelComponentProber(n_components=4).fit(datamodule)
        assert not np.allclose(leaky.pca_.components_, corrected.pca_.components_)

    def test_is_labelled_leaky(self) -> None:
        assert LeakyLabelComponentProber.variant == "leaky" and LabelComponentProber.variant == "corrected"
        assert LeakyLabelComponentProber().label == "factor_leaky (leaky)"
