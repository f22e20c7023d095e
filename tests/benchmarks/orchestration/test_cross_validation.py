"""cross_validate: file layout, resume, determinism; permutation_null: stacked Ridge solve against refits."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from analyses.permutation import permute_within_groups
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.orchestration.fold_files import load_out_of_fold
from benchmarks.orchestration.permutation_nulls import permutation_null
from datamodules.dimensions import DIMENSIONS
from datamodules.fold_datamodule import FoldDataModule
from probes.base import Prober
from probes.registry import UnknownProberError
from probes.ridge import RidgeProber, TunedRidgeProber, training_rows


class CountingRidge(RidgeProber):
    """RidgeProber that records every fit (class-level list, reset by each test)."""

    fits: list = []

    def fit(self, datamodule, logger=None, trainer_kwargs=None):
        CountingRidge.fits.append(datamodule.fold)
        return super().fit(datamodule, logger, trainer_kwargs)


class RefitRidge(Prober):
    """A stats-view Ridge without ``fit_arrays``: forces permutation_null's refit-per-permutation path."""

    name = "refit_ridge"

    def __init__(self, alpha=1.0, alphas=None, tuned=False):
        self.alpha, self.alphas, self.tuned = alpha, alphas, tuned

    def fit(self, datamodule, logger=None, trainer_kwargs=None):
        inner = TunedRidgeProber(alphas=self.alphas) if self.tuned else RidgeProber(alpha=self.alpha)
        self.inner_ = inner.fit(datamodule)
        self.n_outputs_ = 19
        return self

    def predict(self, loader):
        return self.inner_.predict(loader)


@pytest.fixture
def counting():
    CountingRidge.fits = []
    return CountingRidge


class TestCrossValidate:
    def test_layout_and_predictions(self, linear_cache, tmp_path) -> None:
        result = cross_validate("ridge", linear_cache, tmp_path, seed=0)
        directory = tmp_path / "predictions" / "ridge"
        assert sorted(path.name for path in directory.iterdir()) == [
            "config.json", "fold0.npz", "fold1.npz", "fold2.npz", "oof.csv", "oof.npz"]
        for fold, (_, val) in enumerate(linear_cache.folds):
            datamodule = FoldDataModule(linear_cache, fold)
            rows = training_rows(datamodule)
            reference = Ridge(alpha=1.0).fit(datamodule.features(rows).astype(np.float64), linear_cache.labels[rows])
            expected = reference.predict(datamodule.features(val).astype(np.float64))
            np.testing.assert_allclose(result.predictions[val], expected, rtol=1e-9, atol=1e-12)
            assert np.all(result.fold_of_row[val] == fold)
        stored = load_out_of_fold(directory)
        np.testing.assert_array_equal(stored["predictions"], result.predictions)
        assert tuple(stored["keys"].tolist()) == linear_cache.keys
        with (directory / "oof.csv").open() as handle:
            table = list(csv.reader(handle))
        assert table[0] == ["key", "fold", *DIMENSIONS] and len(table) == 1 + linear_cache.n_segments
        assert float(table[1][2]) == result.predictions[linear_cache.keys.index(table[1][0]), 0]
        config = json.loads((directory / "config.json").read_text())
        assert config["prober"] == "ridge" and config["variant"] == "faithful" and config["params"]["alpha"] == 1.0

    def test_second_run_fits_nothing(self, linear_cache, tmp_path, counting) -> None:
        first = cross_validate(counting, linear_cache, tmp_path)
        assert counting.fits == [0, 1, 2] and first.fitted_folds == (0, 1, 2)
        second = cross_validate(counting, linear_cache, tmp_path)
        assert counting.fits == [0, 1, 2] and second.resumed_folds == (0, 1, 2) and second.fitted_folds == ()
        np.testing.assert_array_equal(second.predictions, first.predictions)
        (tmp_path / "predictions" / "ridge" / "fold1.npz").unlink()
        third = cross_validate(counting, linear_cache, tmp_path)
        assert counting.fits == [0, 1, 2, 1] and third.fitted_folds == (1,)
        np.testing.assert_array_equal(third.predictions, first.predictions)

    def test_changed_configuration_refits(self, linear_cache, tmp_path, counting) -> None:
        cross_validate(counting, linear_cache, tmp_path)
        changed = cross_validate(counting, linear_cache, tmp_path, alpha=2.0)
        assert changed.fitted_folds == (0, 1, 2)
        relabelled = dataclasses.replace(linear_cache, labels=linear_cache.labels[::-1].copy())
        assert cross_validate(counting, relabelled, tmp_path, alpha=2.0).fitted_folds == (0, 1, 2)

    def test_unreadable_fold_file_is_refitted(self, linear_cache, tmp_path, counting) -> None:
        cross_validate(counting, linear_cache, tmp_path)
        (tmp_path / "predictions" / "ridge" / "fold2.npz").write_bytes(b"not a zip")
        with pytest.warns(UserWarning, match="fold2.npz: unreadable fold file"):
            assert cross_validate(counting, linear_cache, tmp_path).fitted_folds == (2,)

    def test_subset_of_folds_leaves_nan_and_no_oof(self, linear_cache, tmp_path) -> None:
        result = cross_validate("ridge", linear_cache, tmp_path, folds=[1])
        val = linear_cache.folds[1][1]
        assert np.isnan(result.predictions[result.fold_of_row == -1]).all()
        assert np.isfinite(result.predictions[val]).all() and set(result.fold_of_row.tolist()) == {-1, 1}
        assert not (tmp_path / "predictions" / "ridge" / "oof.npz").exists()
        with pytest.raises(ValueError, match=r"folds \[3\] out of range; the cache has folds 0..2"):
            cross_validate("ridge", linear_cache, None, folds=[3])

    @pytest.mark.parametrize(("name", "params"), [
        ("mlp", {"hidden_dim": 4, "max_epochs": 2, "batch_size": 8, "accelerator": "cpu"}),
        ("attention", {"hidden_dim": 4, "max_epochs": 1, "batch_size": 8, "accelerator": "cpu"}),
    ])
    def test_seeded_runs_repeat_exactly(self, linear_cache, tmp_path, name: str, params: dict) -> None:
        first = cross_validate(name, linear_cache, tmp_path / "a", seed=4, **params)
        second = cross_validate(name, linear_cache, tmp_path / "b", seed=4, **params)
        np.testing.assert_array_equal(first.predictions, second.predictions)
        assert first.config_hash == second.config_hash and first.params["seed"] == 4

    def test_unknown_prober(self, linear_cache) -> None:
        with pytest.raises(UnknownProberError, match="unknown prober 'lasso'; available: "):
            cross_validate("lasso", linear_cache, None)


class TestPermutationNull:
    @pytest.mark.parametrize(("stacked", "reference", "params"), [
        ("ridge", RefitRidge, {"alpha": 1.0}),
        ("ridge_tuned", RefitRidge, {"alphas": [0.1, 1.0, 10.0, 100.0, 1e3, 1e4]}),
    ])
    @pytest.mark.filterwarnings("ignore:ridge_tuned")
    def test_stacked_solve_equals_refits(self, linear_cache, stacked, reference, params) -> None:
        fast = permutation_null(stacked, linear_cache, 4, seed=7, **params)
        slow = permutation_null(reference, linear_cache, 4, seed=7, tuned=stacked == "ridge_tuned", **params)
        assert fast.stacked_solve and not slow.stacked_solve
        assert fast.null_distribution.shape == (4, 19)
        np.testing.assert_allclose(fast.null_distribution, slow.null_distribution, rtol=1e-7, atol=1e-9)

    def test_first_permutation_matches_an_independent_refit(self, linear_cache) -> None:
        null = permutation_null("ridge", linear_cache, 2, seed=11)
        rng = np.random.default_rng(11)
        labels = permute_within_groups(linear_cache.labels, linear_cache.excerpts, rng)
        refit = cross_validate("ridge", dataclasses.replace(linear_cache, labels=labels), None)
        y_true, y_pred, _ = refit.scored(labels)
        expected = r2_score(y_true, y_pred, multioutput="raw_values")
        np.testing.assert_allclose(null.null_distribution[0], expected, rtol=1e-9, atol=1e-12)

    @pytest.mark.parametrize("name", ["ridge", "ridge_tuned"])
    def test_chunks_do_not_change_the_null(self, linear_cache, name: str) -> None:
        """5 permutations in chunks of 2, 2 and 1 (38 stacked targets) give the one-solve null."""
        whole = permutation_null(name, linear_cache, 5, seed=3)
        chunked = permutation_null(name, linear_cache, 5, seed=3, max_stacked_targets=2 * 19 + 5)
        np.testing.assert_allclose(chunked.null_distribution, whole.null_distribution, rtol=1e-9, atol=1e-12)
        assert chunked.n_resamples == 5 and chunked.null_distribution.shape == (5, 19)

    def test_needs_a_positive_chunk(self, linear_cache) -> None:
        with pytest.raises(ValueError, match="max_stacked_targets must be a positive integer, got 0"):
            permutation_null("ridge", linear_cache, 3, seed=0, max_stacked_targets=0)

    def test_needs_a_positive_count(self, linear_cache) -> None:
        with pytest.raises(ValueError, match="n_permutations must be a positive integer, got 0"):
            permutation_null("ridge", linear_cache, 0, seed=0)
