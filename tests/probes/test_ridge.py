"""RidgeProber and TunedRidgeProber against sklearn fits, closed forms and brute-force leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

import probes.ridge as ridge_module
from datamodules.fold_datamodule import FoldDataModule
from probes.ridge import RidgeProber, TunedRidgeProber, training_rows


def _problem(n_rows: int = 30, n_features: int = 6, n_targets: int = 19, seed: int = 0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_rows, n_features))
    weights = rng.normal(size=(n_features, n_targets)) * rng.uniform(0, 1, n_targets)
    targets = features @ weights + rng.normal(size=(n_rows, n_targets)) * rng.uniform(0.1, 2.0, n_targets)
    return features, targets


def _reference_loo_alpha(features: np.ndarray, targets: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Best alpha per target by explicit leave-one-out: one sklearn Ridge per (alpha, left-out row, target)."""
    n_rows, n_targets = targets.shape
    errors = np.zeros((len(alphas), n_targets))
    for a, alpha in enumerate(alphas):
        for row in range(n_rows):
            keep = np.arange(n_rows) != row
            for target in range(n_targets):
                model = Ridge(alpha=alpha).fit(features[keep], targets[keep, target])
                errors[a, target] += (model.predict(features[row : row + 1])[0] - targets[row, target]) ** 2
    return alphas[np.argmin(errors, axis=0)]


class TestRidgeProber:
    def test_one_solve_equals_separate_fits(self) -> None:
        features, targets = _problem()
        prober = RidgeProber().fit_arrays(features, targets)
        for target in range(targets.shape[1]):
            alone = Ridge(alpha=1.0).fit(features, targets[:, target])
            np.testing.assert_allclose(prober.coef_[target], alone.coef_, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(prober.intercept_[target], alone.intercept_, rtol=1e-10, atol=1e-12)

    def test_all_targets_share_one_fit_call(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = []

        class CountingRidge(Ridge):
            def fit(self, features, targets, sample_weight=None):
                calls.append(np.shape(targets))
                return super().fit(features, targets, sample_weight)

        monkeypatch.setattr(ridge_module, "Ridge", CountingRidge)
        features, targets = _problem()
        RidgeProber().fit_arrays(features, targets)
        assert calls == [(30, 19)]

    @pytest.mark.parametrize("alpha", [0.1, 1.0, 50.0])
    def test_closed_form(self, alpha: float) -> None:
        features, targets = _problem(n_rows=12, n_features=4, n_targets=3)
        centred_x, centred_y = features - features.mean(0), targets - targets.mean(0)
        coef = np.linalg.solve(centred_x.T @ centred_x + alpha * np.eye(4), centred_x.T @ centred_y)  # (4, 3)
        prober = RidgeProber(alpha=alpha).fit_arrays(features, targets)
        np.testing.assert_allclose(prober.coef_, coef.T, rtol=1e-9)
        np.testing.assert_allclose(prober.intercept_, targets.mean(0) - features.mean(0) @ coef, rtol=1e-9)

    def test_fit_uses_the_training_part_only(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=1, view="stats")
        prober = RidgeProber().fit(datamodule)
        rows = training_rows(datamodule)
        assert not np.intersect1d(rows, datamodule.val_rows_).size
        reference = Ridge(alpha=1.0).fit(datamodule.features(rows).astype(np.float64), linear_cache.labels[rows])
        predictions, predicted_rows = prober.predict(datamodule.predict_dataloader())
        np.testing.assert_array_equal(predicted_rows, datamodule.val_rows_)
        expected = reference.predict(datamodule.features(datamodule.val_rows_).astype(np.float64))
        np.testing.assert_allclose(predictions, expected, rtol=1e-9, atol=1e-12)

    def test_keeps_hyper_parameters_unchanged(self) -> None:
        prober = RidgeProber(alpha=3)
        assert prober.get_params() == {"alpha": 3, "fit_intercept": True}
        assert clone(prober).get_params() == prober.get_params()
        assert prober.fit_arrays(*_problem()) is prober and prober.alpha == 3

    @pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
    def test_bad_alpha_raises_in_fit(self, alpha: float) -> None:
        prober = RidgeProber(alpha=alpha)
        with pytest.raises(ValueError, match="alpha must be a positive finite number"):
            prober.fit_arrays(*_problem())

    def test_predict_refuses_unfitted(self) -> None:
        with pytest.raises(NotFittedError, match="RidgeProber is not fitted yet"):
            RidgeProber().predict_arrays(np.zeros((2, 6)))

    def test_wrong_view_raises(self, linear_cache) -> None:
        with pytest.raises(ValueError, match="reads the 'stats' view, but the datamodule has view='frames'"):
            RidgeProber().fit(FoldDataModule(linear_cache, fold=0, view="frames"))

    def test_non_finite_arrays_raise(self) -> None:
        features, targets = _problem()
        features[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN or inf"):
            RidgeProber().fit_arrays(features, targets)


class TestTunedRidgeProber:
    def test_gcv_alpha_equals_brute_force_loo(self) -> None:
        features, targets = _problem(n_rows=20, n_features=5, n_targets=3, seed=3)
        alphas = np.logspace(-2, 3, 11)
        prober = TunedRidgeProber(alphas=alphas).fit_arrays(features, targets)
        np.testing.assert_array_equal(prober.alpha_, _reference_loo_alpha(features, targets, alphas))

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_per_target_alpha_equals_separate_fits(self) -> None:
        features, targets = _problem(n_rows=40, seed=5)
        prober = TunedRidgeProber(alphas=np.logspace(-2, 4, 13)).fit_arrays(features, targets)
        assert prober.alpha_.shape == (19,)
        for target in range(19):
            alone = Ridge(alpha=prober.alpha_[target]).fit(features, targets[:, target])
            np.testing.assert_allclose(prober.coef_[target], alone.coef_, rtol=1e-8, atol=1e-10)

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_noise_targets_get_larger_alphas(self) -> None:
        rng = np.random.default_rng(0)
        features = rng.normal(size=(80, 5))
        targets = np.column_stack([features @ rng.normal(size=5) + 0.1 * rng.normal(size=80), rng.normal(size=80)])
        prober = TunedRidgeProber().fit_arrays(features, targets)
        assert prober.alpha_[0] < prober.alpha_[1]

    def test_alpha_on_grid_edge_warns(self) -> None:
        rng = np.random.default_rng(2)
        features = rng.normal(size=(40, 6))
        targets = features @ rng.normal(size=(6, 2)) + 0.01 * rng.normal(size=(40, 2))
        with pytest.warns(UserWarning, match=r"2 of 2 targets chose the smallest alpha of the grid \(10000\)"):
            prober = TunedRidgeProber(alphas=[1e4, 1e5, 1e6]).fit_arrays(features, targets)
        assert prober.n_alpha_at_lower_edge_ == 2 and prober.n_alpha_at_upper_edge_ == 0

    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_fold_outputs_report_alpha_per_dimension(self, linear_cache) -> None:
        datamodule = FoldDataModule(linear_cache, fold=0, view="stats")
        prober = TunedRidgeProber(alphas=np.logspace(-3, 9, 25)).fit(datamodule)
        assert prober.fold_outputs(datamodule)["alpha"].shape == (19,)
        assert prober.variant == "tuned" and prober.label == "ridge_tuned (tuned)"

    @pytest.mark.parametrize("alphas", [[], [1.0, -1.0], [[1.0]]])
    def test_bad_alphas_raise(self, alphas) -> None:
        with pytest.raises(ValueError, match="alphas must be a non-empty 1-D sequence of positive finite numbers"):
            TunedRidgeProber(alphas=alphas).fit_arrays(*_problem())
